import { RazorError } from '../errors.js';

function expectRazorError(error: unknown, threw: boolean): RazorError {
  if (RazorError.isInstance(error)) return error;
  throw new Error(threw ? `expected a RazorError, got ${String(error)}` : 'expected a RazorError, but nothing was thrown');
}

/** The RazorError `action` throws; throws a plain Error when it throws something else or nothing. */
export function catchRazorError(action: () => unknown): RazorError {
  try {
    action();
  } catch (error) {
    return expectRazorError(error, true);
  }
  return expectRazorError(undefined, false);
}

/** The RazorError a promise (or an async action) rejects with; a plain Error when it rejects with something else or resolves. */
export async function rejectionOf(work: Promise<unknown> | (() => Promise<unknown>)): Promise<RazorError> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    return expectRazorError(error, true);
  }
  return expectRazorError(undefined, false);
}

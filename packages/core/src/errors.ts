/**
 * Stable error codes. A code never changes meaning once published; new failure
 * kinds get new codes.
 */
export const ErrorCodes = {
  /** The file does not exist or cannot be read. */
  FILE_NOT_FOUND: 'RAZOR_FILE_NOT_FOUND',
  /** The bytes are not a valid ONNX ModelProto (corrupt, truncated, wrong format). */
  INVALID_ONNX: 'RAZOR_INVALID_ONNX',
  /** A tensor's external data file is missing or too short. */
  EXTERNAL_DATA: 'RAZOR_EXTERNAL_DATA',
  /** An operator razor has no definition for (type inference, folding, gradients). */
  UNSUPPORTED_OP: 'RAZOR_UNSUPPORTED_OP',
  /** An ONNX dtype razor cannot represent. */
  UNSUPPORTED_DTYPE: 'RAZOR_UNSUPPORTED_DTYPE',
  /** Shapes or dtypes that do not fit an operator's rules. */
  SHAPE_MISMATCH: 'RAZOR_SHAPE_MISMATCH',
  /** An attribute is missing or has a value the operator does not accept. */
  INVALID_ATTRIBUTE: 'RAZOR_INVALID_ATTRIBUTE',
  /** The graph is malformed: a cycle, a dangling or duplicated value name, a missing output. */
  INVALID_GRAPH: 'RAZOR_INVALID_GRAPH',
  /** An argument of a razor API is invalid. */
  INVALID_ARGUMENT: 'RAZOR_INVALID_ARGUMENT',
  /** No registered backend could be initialised, or the named one does not exist. */
  BACKEND_UNAVAILABLE: 'RAZOR_BACKEND_UNAVAILABLE',
  /** A backend failed to create a session or to run one. */
  BACKEND_FAILURE: 'RAZOR_BACKEND_FAILURE',
  /** A requested execution provider (CUDA, ...) is not available in this installation. */
  EXECUTION_PROVIDER_UNAVAILABLE: 'RAZOR_EXECUTION_PROVIDER_UNAVAILABLE',
  /** A model input or output given to a session does not match the graph. */
  INVALID_FEED: 'RAZOR_INVALID_FEED',
  /** A tensor file (.pb, .npy) could not be read or written. */
  INVALID_TENSOR_FILE: 'RAZOR_INVALID_TENSOR_FILE',
  /** An unknown model name for the zoo, or invalid model options. */
  UNKNOWN_MODEL: 'RAZOR_UNKNOWN_MODEL',
  /** Writing an output file failed. */
  WRITE_FAILED: 'RAZOR_WRITE_FAILED',
  /** A transformed model's outputs differ from the original's by more than the tolerance. */
  CHECK_FAILED: 'RAZOR_CHECK_FAILED',
  /** A dataset file (MNIST idx, Fashion-MNIST JSON) is malformed: wrong magic number, size or syntax. */
  INVALID_DATASET: 'RAZOR_INVALID_DATASET',
  /** Training produced a NaN or infinite loss or value; the message names the step and the first such value. */
  NON_FINITE: 'RAZOR_NON_FINITE',
  /** A checkpoint does not fit the model or optimizer it is loaded into, or is not a razor checkpoint. */
  INVALID_CHECKPOINT: 'RAZOR_INVALID_CHECKPOINT',
  /** An object used out of order: a tape's backward before any forward or run twice, a released cache or session. */
  INVALID_STATE: 'RAZOR_INVALID_STATE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const marker = Symbol.for('razor.error');

/**
 * The base of every error razor throws on purpose. `code` is stable and
 * machine-readable; `message` names the file, node, op or value at fault and says
 * what to do; `cause` holds the wrapped error when there is one.
 */
export class RazorError extends Error {
  readonly code: ErrorCode;
  readonly [marker] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RazorError';
    this.code = code;
  }

  /** True for any RazorError, also across duplicated copies of this package. */
  static isInstance(error: unknown): error is RazorError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** Throws a RazorError; usable in expression position. */
export function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new RazorError(code, message, cause === undefined ? undefined : { cause });
}

/** The message of anything thrown, for wrapping. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

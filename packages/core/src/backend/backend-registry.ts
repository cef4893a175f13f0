import { ErrorCodes, errorMessage, fail } from '../errors.js';
import { BACKEND_SPECIFICATION_VERSION, type Backend, type BackendFactory } from './backend.js';

interface Entry {
  factory: BackendFactory;
  priority: number;
  backend?: Backend;
  initializing?: Promise<Backend>;
  error?: unknown;
}

const registry = new Map<string, Entry>();

/**
 * Registers a backend under `name`. Higher `priority` is tried first when no name is
 * given. Re-registering a name with a higher or equal priority replaces the entry.
 */
export function registerBackend(name: string, factory: BackendFactory, priority = 0): void {
  const existing = registry.get(name);
  if (existing && existing.priority > priority) return;
  registry.set(name, { factory, priority });
}

/** Registered backend names, highest priority first. */
export function listBackends(): string[] {
  return [...registry.entries()].sort((left, right) => right[1].priority - left[1].priority).map(([name]) => name);
}

async function initialize(name: string, entry: Entry): Promise<Backend> {
  if (entry.backend) return entry.backend;
  if (entry.error !== undefined) throw entry.error;
  entry.initializing ??= (async () => {
    try {
      const backend = await entry.factory();
      if (backend.specificationVersion !== BACKEND_SPECIFICATION_VERSION) {
        fail(
          ErrorCodes.BACKEND_UNAVAILABLE,
          `backend '${name}' implements specification ${String(backend.specificationVersion)}, but this @razor/core expects ${BACKEND_SPECIFICATION_VERSION}; install matching versions`,
        );
      }
      await backend.init?.();
      entry.backend = backend;
      return backend;
    } catch (error) {
      entry.error = error;
      throw error;
    }
  })();
  return entry.initializing;
}

/**
 * The backend to use: an explicit Backend object as is; a name (or list of names, in
 * order) from the registry; or, when omitted, the registered backends by priority.
 * Each backend is initialised once; a failure is remembered and the next is tried.
 * When none works, one RAZOR_BACKEND_UNAVAILABLE error names every backend tried and why.
 */
export async function resolveBackend(choice?: string | readonly string[] | Backend): Promise<Backend> {
  if (choice !== undefined && typeof choice === 'object' && !Array.isArray(choice)) return choice as Backend;
  const names = choice === undefined ? listBackends() : typeof choice === 'string' ? [choice] : [...(choice as readonly string[])];
  if (names.length === 0) {
    fail(
      ErrorCodes.BACKEND_UNAVAILABLE,
      'no backend is registered; install one (for example @razor/backend-onnxruntime) and import it, or pass a Backend object',
    );
  }
  const failures: string[] = [];
  for (const name of names) {
    const entry = registry.get(name);
    if (!entry) {
      failures.push(`${name}: not registered (registered: ${listBackends().join(', ') || 'none'})`);
      continue;
    }
    try {
      return await initialize(name, entry);
    } catch (error) {
      failures.push(`${name}: ${errorMessage(error)}`);
    }
  }
  return fail(ErrorCodes.BACKEND_UNAVAILABLE, `no backend could be initialised:\n  ${failures.join('\n  ')}`);
}

/** Forgets every registration (tests). */
export function clearBackendsForTesting(): void {
  registry.clear();
}

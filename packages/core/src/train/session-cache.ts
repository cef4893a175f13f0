import type { Backend, BackendSession, SessionOptions } from '../backend/backend.js';
import { resolveBackend } from '../backend/backend-registry.js';
import { ErrorCodes, RazorError, errorMessage, fail } from '../errors.js';
import type { Graph } from '../ir/graph.js';

/** Where a cached session is compiled: a backend and its session options. */
export interface SessionTarget {
  backend?: Backend;
  options?: SessionOptions;
}

/** Counts of a `SessionCache`. */
export interface SessionCacheStats {
  /** Requests answered by a session compiled before (or being compiled). */
  hits: number;
  /** Requests that compiled a session. */
  misses: number;
  /** Sessions held now. */
  sessions: number;
}

interface Entry {
  session: Promise<BackendSession>;
  label: string;
}

/**
 * Compiled backend sessions by key, created on first request and reused after: the
 * segments of a `Tape` and the updates of a `SegmentOptimizer` compile each graph once.
 * A full key is (graph key, backend, session options): the same graph key on another
 * backend instance or with other options is another session. Concurrent requests for one
 * key share one compilation; a failed compilation is not kept, so a later request retries.
 */
export class SessionCache {
  /** The backend sessions are compiled on unless a request names another. */
  readonly backend: Backend;
  /** The session options used unless a request gives others. */
  readonly options: SessionOptions;
  readonly #entries = new Map<string, Entry>();
  #hits = 0;
  #misses = 0;
  #released = false;

  constructor(backend: Backend, options: SessionOptions = {}) {
    this.backend = backend;
    this.options = options;
  }

  /** A cache on a backend given by name (resolved through the registry), object, or the default backend. */
  static async create(backend?: string | readonly string[] | Backend, options: SessionOptions = {}): Promise<SessionCache> {
    return new SessionCache(await resolveBackend(backend), options);
  }

  /**
   * The session compiled from `build()` under `key`; `build` runs only on a miss. `label`
   * names what is compiled in errors (e.g. "segment 'conv3x3' backward").
   */
  async session(key: string, build: () => Graph | Uint8Array, label = key, target: SessionTarget = {}): Promise<BackendSession> {
    if (this.#released) fail(ErrorCodes.INVALID_STATE, `this SessionCache was released; create a new one to compile ${label}`);
    const backend = target.backend ?? this.backend;
    const options = target.options ?? this.options;
    const fullKey = `${backendIdentity(backend)}|${stableJson(options)}|${key}`;
    const existing = this.#entries.get(fullKey);
    if (existing !== undefined) {
      this.#hits++;
      return existing.session;
    }
    this.#misses++;
    const session = (async () => {
      try {
        return await backend.createSession(build(), options);
      } catch (error) {
        this.#entries.delete(fullKey);
        const code = RazorError.isInstance(error) ? error.code : ErrorCodes.BACKEND_FAILURE;
        throw new RazorError(code, `${label}: compiling a session on backend '${backend.name}' failed: ${errorMessage(error)}`, { cause: error });
      }
    })();
    this.#entries.set(fullKey, { session, label });
    return session;
  }

  /** Whether a session is cached under `key` (default backend and options unless given). */
  has(key: string, target: SessionTarget = {}): boolean {
    return this.#entries.has(`${backendIdentity(target.backend ?? this.backend)}|${stableJson(target.options ?? this.options)}|${key}`);
  }

  /** Hit and miss counts and the number of sessions held. */
  stats(): SessionCacheStats {
    return { hits: this.#hits, misses: this.#misses, sessions: this.#entries.size };
  }

  /** The labels of the cached sessions, in order of compilation. */
  labels(): string[] {
    return [...this.#entries.values()].map((entry) => entry.label);
  }

  /** Releases every session; the cache cannot compile afterwards. */
  async release(): Promise<void> {
    this.#released = true;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    const failures: unknown[] = [];
    for (const entry of entries) {
      try {
        await (await entry.session).release();
      } catch (error) {
        // A session whose compilation failed has nothing to release.
        if (!(RazorError.isInstance(error) && error.message.startsWith(`${entry.label}: compiling`))) failures.push(error);
      }
    }
    if (failures.length > 0) fail(ErrorCodes.BACKEND_FAILURE, `releasing ${failures.length} cached session(s) failed: ${failures.map(errorMessage).join('; ')}`, failures[0]);
  }
}

const backendIds = new WeakMap<Backend, number>();
let nextBackendId = 0;

/** Backend objects are told apart by identity: two instances may differ in their defaults. */
function backendIdentity(backend: Backend): string {
  let id = backendIds.get(backend);
  if (id === undefined) backendIds.set(backend, (id = nextBackendId++));
  return `${backend.name}#${id}`;
}

/** JSON with object keys sorted, so equal options give equal keys. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, entry: unknown) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return entry;
    return Object.fromEntries(Object.entries(entry as Record<string, unknown>).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0)));
  });
}

import type { Graph } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';

/** The version of this contract. A backend declares the one it implements. */
export const BACKEND_SPECIFICATION_VERSION = 'v1' as const;
export type BackendSpecificationVersion = typeof BACKEND_SPECIFICATION_VERSION;

/** Graph optimization applied by the engine when it compiles a session. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Options for compiling a session. Backends ignore what they cannot honour and say so in `capabilities`. */
export interface SessionOptions {
  /** Threads for one operator (intra-op). Default: the engine's default. */
  threads?: number;
  /** Threads across operators (inter-op). */
  interOpThreads?: number;
  /** Default: 'all'. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Execution providers (or engines) in order of preference, e.g. ['cuda', 'cpu'].
   * A provider that is not available is an error (RAZOR_EXECUTION_PROVIDER_UNAVAILABLE),
   * never a silent fallback.
   */
  executionProviders?: readonly string[];
  /** Where the engine may write the model after its optimizations (for inspection). */
  optimizedModelPath?: string;
  /** Engine-specific options, passed through unchanged. */
  extra?: Record<string, unknown>;
}

/** A compiled model, ready to run many times. */
export interface BackendSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the model once. `feeds` holds every graph input by name; `fetches` selects
   * outputs (default: all graph outputs). Returns host tensors by output name.
   */
  run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  /** Frees the session's native resources. The session cannot run afterwards. */
  release(): Promise<void>;
}

/** Facts a backend reports about itself. */
export interface BackendCapabilities {
  /** Execution providers or engines usable in this installation, e.g. ['cpu'] or ['cpu', 'cuda']. */
  executionProviders: readonly string[];
  /** Human-readable engine and version, e.g. 'onnxruntime-node 1.30.0'. */
  engine: string;
}

/**
 * An engine that runs razor graphs. Implement this in a package of your own and
 * register it with `registerBackend`; run `runBackendConformance` from
 * `@razor/core/testing` on it.
 */
export interface Backend {
  readonly specificationVersion: BackendSpecificationVersion;
  /** The name it is registered under, e.g. 'onnxruntime'. */
  readonly name: string;
  /** One-time set-up (load native libraries). Called once, lazily, by the registry. */
  init?(): Promise<void>;
  /** Compiles a graph (or serialized ONNX bytes) into a session. */
  createSession(model: Graph | Uint8Array, options?: SessionOptions): Promise<BackendSession>;
  /** What this installation can do. Optional capability. */
  capabilities?(): Promise<BackendCapabilities>;
  /** Frees global resources. Optional capability. */
  release?(): Promise<void>;
}

/** Makes a backend; called lazily the first time the backend is resolved. */
export type BackendFactory = () => Backend | Promise<Backend>;

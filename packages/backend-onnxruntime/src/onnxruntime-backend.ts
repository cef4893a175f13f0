import {
  BACKEND_SPECIFICATION_VERSION,
  ErrorCodes,
  Graph,
  RazorError,
  errorMessage,
  fail,
  getInt,
  writeOnnx,
  type Backend,
  type BackendCapabilities,
  type BackendSession,
  type SessionOptions,
  type Tensor,
} from '@razor/core';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { installAdvice, usableProviders, type SupportedBackend } from './execution-providers.js';
import { fromOrtTensor, toOrtTensor } from './tensor-conversion.js';

type OrtModule = typeof import('onnxruntime-node');

/** Options of the onnxruntime backend itself (per-session options go to `createSession`). */
export interface OnnxruntimeBackendOptions {
  /** The name the backend reports. Default: 'onnxruntime'. */
  name?: string;
  /** Session options applied to every session unless `createSession` overrides them. */
  defaultSessionOptions?: SessionOptions;
}

const optimizationLevels = new Set(['disabled', 'basic', 'extended', 'all']);

let ortPromise: Promise<OrtModule> | undefined;

/** Loads onnxruntime-node (and its native binding) once, on first use. */
function loadOrt(): Promise<OrtModule> {
  ortPromise ??= import('onnxruntime-node').then(
    (module) => ((module as { default?: OrtModule }).default ?? module) as OrtModule,
    (error: unknown) => {
      ortPromise = undefined;
      return fail(
        ErrorCodes.BACKEND_UNAVAILABLE,
        `onnxruntime-node could not be loaded (${errorMessage(error)}); install it with your package manager (it ships native binaries for linux, macOS and Windows)`,
        error,
      );
    },
  );
  return ortPromise;
}

function checkThreadCount(value: number | undefined, option: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `session option ${option} must be a non-negative integer (0: onnxruntime's default), got ${value}`);
  }
}

/** razor session options as onnxruntime's, checking what onnxruntime would reject less clearly. */
function toOrtOptions(options: SessionOptions, supported: readonly SupportedBackend[]): InferenceSession.SessionOptions {
  checkThreadCount(options.threads, 'threads');
  checkThreadCount(options.interOpThreads, 'interOpThreads');
  const level = options.graphOptimizationLevel ?? 'all';
  if (!optimizationLevels.has(level)) {
    fail(
      ErrorCodes.INVALID_ARGUMENT,
      `session option graphOptimizationLevel must be one of ${[...optimizationLevels].join(', ')}, got '${String(level)}'`,
    );
  }
  const providers = (options.executionProviders ?? ['cpu']).map((provider) => provider.toLowerCase());
  const usable = usableProviders(supported);
  for (const provider of providers) {
    if (!usable.includes(provider)) fail(ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE, installAdvice(provider, supported));
  }
  return {
    // onnxruntime's own log lines would repeat what the RazorError it becomes already says;
    // only fatal ones are printed unless `extra.logSeverityLevel` asks for more.
    logSeverityLevel: 4,
    ...options.extra,
    executionProviders: providers,
    graphOptimizationLevel: level,
    ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads }),
    ...(options.interOpThreads === undefined ? {} : { interOpNumThreads: options.interOpThreads }),
    // onnxruntime uses inter-op threads only in parallel execution mode.
    ...(options.interOpThreads !== undefined && options.interOpThreads > 1 ? { executionMode: 'parallel' as const } : {}),
    ...(options.optimizedModelPath === undefined ? {} : { optimizedModelFilePath: options.optimizedModelPath }),
  };
}

function describeMetadata(metadata: InferenceSession.ValueMetadata): string {
  if (!metadata.isTensor) return `'${metadata.name}' (not a tensor)`;
  return `'${metadata.name}' (${metadata.type} [${metadata.shape.join(', ')}])`;
}

/**
 * Graph inputs that onnxruntime's kernels write in place. Training-mode BatchNormalization
 * aliases its running-statistics outputs to inputs 3 and 4 and, when those outputs feed other
 * nodes, writes the update into the inputs' buffers: for a graph input, the caller's own array.
 */
function overwrittenInputs(graph: Graph): Set<string> {
  const inputs = new Set(graph.inputs.map((input) => input.name));
  const written = new Set<string>();
  for (const node of graph.nodes) {
    if (node.opType !== 'BatchNormalization' || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const training = graph.opset() >= 14 ? getInt(node, 'training_mode', 0) === 1 : node.outputs.slice(1).some((output) => output !== '');
    if (!training) continue;
    for (const input of node.inputs.slice(3, 5)) if (input && inputs.has(input)) written.add(input);
  }
  return written;
}

class OnnxruntimeSession implements BackendSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  #session: InferenceSession | undefined;
  readonly #ort: OrtModule;
  readonly #inputs: Map<string, InferenceSession.ValueMetadata>;
  /** Inputs a kernel writes in place: fed as copies so the caller's tensors stay as they were. */
  readonly #overwritten: ReadonlySet<string>;

  constructor(ort: OrtModule, session: InferenceSession, overwritten: ReadonlySet<string> = new Set()) {
    this.#ort = ort;
    this.#overwritten = overwritten;
    this.#session = session;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
    this.#inputs = new Map(session.inputMetadata.map((metadata) => [metadata.name, metadata]));
  }

  #checkFeeds(feeds: Readonly<Record<string, Tensor>>): void {
    for (const name of Object.keys(feeds)) {
      if (!this.#inputs.has(name)) {
        fail(
          ErrorCodes.INVALID_FEED,
          `'${name}' is not an input of this model; its inputs are ${[...this.#inputs.values()].map(describeMetadata).join(', ')}`,
        );
      }
    }
    for (const [name, metadata] of this.#inputs) {
      const tensor = feeds[name];
      if (tensor === undefined) {
        fail(ErrorCodes.INVALID_FEED, `the feeds lack input ${describeMetadata(metadata)}; pass a tensor for every model input`);
      }
      if (!metadata.isTensor) continue;
      if (tensor.dtype !== metadata.type) {
        fail(ErrorCodes.INVALID_FEED, `input ${describeMetadata(metadata)} was fed a ${tensor.dtype} tensor; cast the feed to ${metadata.type}`);
      }
      const expected = metadata.shape;
      const fits =
        expected.length === tensor.shape.length &&
        expected.every((dim, axis) => typeof dim !== 'number' || dim < 0 || dim === tensor.shape[axis]);
      if (!fits) {
        fail(
          ErrorCodes.INVALID_FEED,
          `input ${describeMetadata(metadata)} was fed shape [${tensor.shape.join(', ')}]; expected [${expected.join(', ')}] (named dimensions may take any size)`,
        );
      }
    }
  }

  async run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const session = this.#session;
    if (session === undefined) fail(ErrorCodes.BACKEND_FAILURE, 'this onnxruntime session was released; create a new session to run the model');
    this.#checkFeeds(feeds);
    const outputs = fetches === undefined ? this.outputNames : [...fetches];
    for (const name of outputs) {
      if (!this.outputNames.includes(name)) {
        fail(ErrorCodes.INVALID_FEED, `'${name}' is not an output of this model; its outputs are ${this.outputNames.join(', ')}`);
      }
    }
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(this.#ort.Tensor, this.#overwritten.has(name) ? tensor.clone() : tensor, name);
    let results: InferenceSession.ReturnType;
    try {
      results = await session.run(ortFeeds, [...outputs]);
    } catch (error) {
      throw new RazorError(
        ErrorCodes.BACKEND_FAILURE,
        `onnxruntime failed to run the model (outputs ${outputs.join(', ')}): ${errorMessage(error)}`,
        { cause: error },
      );
    }
    const converted: Record<string, Tensor> = {};
    for (const name of outputs) {
      const value = results[name];
      if (value === undefined) fail(ErrorCodes.BACKEND_FAILURE, `onnxruntime returned no value for output '${name}'`);
      converted[name] = fromOrtTensor(value, name);
    }
    return converted;
  }

  async release(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    await session?.release();
  }
}

/**
 * The onnxruntime-node backend: compiles razor graphs (or ONNX bytes) into onnxruntime
 * sessions on the CPU execution provider, or CUDA where its provider libraries are installed.
 * onnxruntime-node is loaded on first use.
 */
export function createOnnxruntimeBackend(options: OnnxruntimeBackendOptions = {}): Backend {
  const defaults = options.defaultSessionOptions ?? {};

  async function supportedBackends(ort: OrtModule): Promise<SupportedBackend[]> {
    return ort.listSupportedBackends().map((backend) => ({ name: backend.name, bundled: backend.bundled }));
  }

  return {
    specificationVersion: BACKEND_SPECIFICATION_VERSION,
    name: options.name ?? 'onnxruntime',

    async init(): Promise<void> {
      await loadOrt();
    },

    async createSession(model: Graph | Uint8Array, sessionOptions: SessionOptions = {}): Promise<BackendSession> {
      const ort = await loadOrt();
      const merged: SessionOptions = { ...defaults, ...sessionOptions };
      const ortOptions = toOrtOptions(merged, await supportedBackends(ort));
      let bytes: Uint8Array;
      if (model instanceof Uint8Array) bytes = model;
      else if (model instanceof Graph || (typeof model === 'object' && model !== null && 'nodes' in model)) bytes = writeOnnx(model);
      else fail(ErrorCodes.INVALID_ARGUMENT, 'createSession takes a Graph or the bytes of an ONNX model');
      let session: InferenceSession;
      try {
        session = await ort.InferenceSession.create(bytes, ortOptions);
      } catch (error) {
        const message = errorMessage(error);
        const where = model instanceof Uint8Array ? `an ONNX model of ${bytes.byteLength} bytes` : `graph '${model.name}'`;
        if (/protobuf parsing failed|ModelProto/i.test(message)) {
          throw new RazorError(ErrorCodes.INVALID_ONNX, `onnxruntime could not parse ${where} as an ONNX ModelProto: ${message}`, { cause: error });
        }
        if (/provider/i.test(message) && merged.executionProviders?.some((provider) => provider.toLowerCase() !== 'cpu')) {
          throw new RazorError(
            ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE,
            `onnxruntime could not start execution providers ${merged.executionProviders.join(', ')} for ${where}: ${message}`,
            { cause: error },
          );
        }
        throw new RazorError(ErrorCodes.BACKEND_FAILURE, `onnxruntime could not create a session for ${where}: ${message}`, { cause: error });
      }
      return new OnnxruntimeSession(ort, session, model instanceof Uint8Array ? new Set() : overwrittenInputs(model));
    },

    async capabilities(): Promise<BackendCapabilities> {
      const ort = await loadOrt();
      return {
        executionProviders: usableProviders(await supportedBackends(ort)),
        engine: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
      };
    },
  };
}

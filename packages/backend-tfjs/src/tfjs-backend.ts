import {
  BACKEND_SPECIFICATION_VERSION,
  ErrorCodes,
  Graph,
  RazorError,
  errorMessage,
  fail,
  readOnnx,
  type Backend,
  type BackendCapabilities,
  type BackendSession,
  type SessionOptions,
  type Tensor,
} from '@razor/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { TfjsExecutor } from './executor.js';
import { tfDType, type Tf } from './values.js';

/** Options of the TensorFlow.js backend. */
export interface TfjsBackendOptions {
  /** The name the backend reports and registers under. Default: 'tfjs'. */
  name?: string;
  /**
   * The tfjs engine sessions run on unless `SessionOptions.executionProviders` names another:
   * 'cpu' (default, plain JavaScript), 'wasm' (loaded on first use), or any engine registered
   * with tfjs-core beforehand ('tensorflow' from tfjs-node or tfjs-node-gpu, 'webgl', 'webgpu').
   */
  engine?: string;
}

/** Engines this package can load itself, and the module that registers each. */
const loadableEngines: Record<string, () => Promise<unknown>> = {
  cpu: async () => undefined,
  wasm: () => import('@tensorflow/tfjs-backend-wasm'),
};

/** The engines registered with tfjs-core now. */
export function registeredEngines(): string[] {
  return Object.keys((tf.engine() as unknown as { registryFactory: Record<string, unknown> }).registryFactory);
}

const ready = new Map<string, Promise<void>>();

/** Loads (once) and initializes a tfjs engine. */
function prepareEngine(engine: string): Promise<void> {
  let promise = ready.get(engine);
  if (promise === undefined) {
    promise = (async () => {
      const load = loadableEngines[engine];
      if (load !== undefined) {
        try {
          await load();
        } catch (error) {
          fail(ErrorCodes.BACKEND_UNAVAILABLE, `the TensorFlow.js '${engine}' engine could not be loaded: ${errorMessage(error)}`, error);
        }
      }
      if (!registeredEngines().includes(engine)) {
        fail(
          ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE,
          `the TensorFlow.js engine '${engine}' is not registered; registered engines: ${registeredEngines().join(', ')}. ` +
            `Import the package that registers it first (for example @razor/backend-tfjs-node-gpu for 'tensorflow', @tensorflow/tfjs-backend-webgl for 'webgl')`,
        );
      }
      // Production mode only silences tfjs's console advice (such as installing tfjs-node on
      // every first cpu write), which would land in the middle of razor's own output.
      tf.enableProdMode();
      await tf.setBackend(engine);
      await tf.ready();
      if (tf.getBackend() !== engine) fail(ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE, `the TensorFlow.js engine '${engine}' failed to initialize`);
    })();
    promise.catch(() => ready.delete(engine));
    ready.set(engine, promise);
  }
  return promise;
}

/** Makes `engine` the active tfjs engine (tfjs has one global engine at a time). */
async function activate(engine: string): Promise<void> {
  await prepareEngine(engine);
  while (tf.getBackend() !== engine) await tf.setBackend(engine);
}

function describeInput(graph: Graph, name: string): string {
  const type = graph.inputs.find((input) => input.name === name)?.type;
  return type === undefined ? `'${name}'` : `'${name}' (${type.dtype} [${(type.shape ?? []).map((dim) => dim ?? '?').join(', ')}])`;
}

class TfjsSession implements BackendSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly #graph: Graph;
  readonly #engine: string;
  #executor: TfjsExecutor | undefined;

  constructor(graph: Graph, engine: string, executor: TfjsExecutor) {
    this.#graph = graph;
    this.#engine = engine;
    this.#executor = executor;
    const initializers = graph.initializers;
    this.inputNames = graph.inputs.map((input) => input.name).filter((name) => !initializers.has(name));
    this.outputNames = graph.outputs.map((output) => output.name);
  }

  #checkFeeds(feeds: Readonly<Record<string, Tensor>>): void {
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) {
        fail(ErrorCodes.INVALID_FEED, `'${name}' is not an input of this model; its inputs are ${this.inputNames.map((input) => describeInput(this.#graph, input)).join(', ')}`);
      }
    }
    for (const name of this.inputNames) {
      const tensor = feeds[name];
      const type = this.#graph.inputs.find((input) => input.name === name)!.type;
      if (tensor === undefined) fail(ErrorCodes.INVALID_FEED, `the feeds lack input ${describeInput(this.#graph, name)}; pass a tensor for every model input`);
      if (type === undefined) continue;
      if (tensor.dtype !== type.dtype) fail(ErrorCodes.INVALID_FEED, `input ${describeInput(this.#graph, name)} was fed a ${tensor.dtype} tensor; cast the feed to ${type.dtype}`);
      const shape = type.shape;
      if (shape === undefined) continue;
      const fits = shape.length === tensor.shape.length && shape.every((dim, axis) => typeof dim !== 'number' || dim === tensor.shape[axis]);
      if (!fits) {
        fail(ErrorCodes.INVALID_FEED, `input ${describeInput(this.#graph, name)} was fed shape [${tensor.shape.join(', ')}]; expected [${shape.map((dim) => dim ?? '?').join(', ')}] (named dimensions may take any size)`);
      }
    }
  }

  async run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const executor = this.#executor;
    if (executor === undefined) fail(ErrorCodes.INVALID_STATE, 'this TensorFlow.js session was released; create a new session to run the model');
    this.#checkFeeds(feeds);
    const outputs = fetches === undefined ? this.outputNames : [...fetches];
    for (const name of outputs) {
      if (!this.outputNames.includes(name)) fail(ErrorCodes.INVALID_FEED, `'${name}' is not an output of this model; its outputs are ${this.outputNames.join(', ')}`);
    }
    await activate(this.#engine);
    return executor.run(feeds, outputs);
  }

  async release(): Promise<void> {
    const executor = this.#executor;
    this.#executor = undefined;
    if (executor === undefined) return;
    await activate(this.#engine);
    executor.dispose();
  }
}

/**
 * The TensorFlow.js backend: runs razor graphs, training steps included, node by node on
 * tfjs-core kernels. Tensors stay inside tfjs between nodes and are freed as soon as no later
 * node reads them.
 */
export function createTfjsBackend(options: TfjsBackendOptions = {}): Backend {
  const defaultEngine = options.engine ?? 'cpu';
  return {
    specificationVersion: BACKEND_SPECIFICATION_VERSION,
    name: options.name ?? 'tfjs',

    async init(): Promise<void> {
      await prepareEngine(defaultEngine);
    },

    async createSession(model: Graph | Uint8Array, sessionOptions: SessionOptions = {}): Promise<BackendSession> {
      const providers = sessionOptions.executionProviders ?? [defaultEngine];
      if (providers.length === 0) fail(ErrorCodes.INVALID_ARGUMENT, 'session option executionProviders is empty; name a TensorFlow.js engine such as cpu or wasm');
      const engine = providers[0]!.toLowerCase();
      let graph: Graph;
      if (model instanceof Uint8Array) graph = readOnnx(model);
      else if (model instanceof Graph || (typeof model === 'object' && model !== null && 'nodes' in model)) graph = (model as Graph).clone();
      else fail(ErrorCodes.INVALID_ARGUMENT, 'createSession takes a Graph or the bytes of an ONNX model');
      await activate(engine);
      let executor: TfjsExecutor;
      try {
        executor = new TfjsExecutor(tf as Tf, graph);
      } catch (error) {
        if (RazorError.isInstance(error)) throw error;
        throw new RazorError(ErrorCodes.BACKEND_FAILURE, `TensorFlow.js could not prepare graph '${graph.name}': ${errorMessage(error)}`, { cause: error });
      }
      return new TfjsSession(graph, engine, executor);
    },

    async capabilities(): Promise<BackendCapabilities> {
      const engines = new Set([...Object.keys(loadableEngines), ...registeredEngines()]);
      return { executionProviders: [...engines], engine: `TensorFlow.js ${tf.version_core} (${defaultEngine})` };
    },
  };
}

/** The tfjs dtype a razor dtype travels as inside this backend. */
export { tfDType };

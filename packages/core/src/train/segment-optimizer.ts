import { ErrorCodes, fail } from '../errors.js';
import { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { inferShapes } from '../passes/infer-shapes.js';
import type { Optimizer } from './optimizers.js';
import { segmentError, type Segment } from './segment.js';
import type { SessionCache } from './session-cache.js';
import type { TapeGradients } from './tape.js';

/** Options of a `SegmentOptimizer`. */
export interface SegmentOptimizerOptions {
  /** Where the update graphs' sessions are compiled and kept. */
  cache: SessionCache;
}

interface SegmentState {
  /** Updates applied so far (each segment counts its own, as PyTorch skips parameters without gradients). */
  steps: number;
  /** Optimizer state by parameter, then by state name. */
  state: Record<string, Record<string, Tensor>>;
}

interface UpdatePlan {
  graph: Graph;
  /** For parameter i: its new value's output, and each state's new value's output. */
  outputs: { parameter: string; state: Record<string, string> }[];
}

const optimizerIds = new WeakMap<Optimizer, number>();
let nextOptimizerId = 0;

/**
 * Applies an `Optimizer` (sgd, adam, adamw: PyTorch's update math, as `buildTrainStep`
 * emits it) to the parameters of segments, on the host, from a `Tape`'s gradients. Each
 * segment's parameters update in one backend run of a graph built by the optimizer's
 * `emitUpdate`, cached by the parameters' shapes (segments shaped alike share it). State
 * (momentum, Adam's averages) and the step count are kept per segment; a segment that got
 * no gradient in a step is left as it is, state included, as PyTorch leaves parameters
 * whose `.grad` is None.
 */
export class SegmentOptimizer {
  readonly optimizer: Optimizer;
  readonly cache: SessionCache;
  readonly #segments = new Map<Segment, SegmentState>();
  readonly #plans = new Map<string, UpdatePlan>();

  constructor(optimizer: Optimizer, options: SegmentOptimizerOptions) {
    this.optimizer = optimizer;
    this.cache = options.cache;
  }

  /** Updates every segment that has gradients, with this learning rate. */
  async step(gradients: TapeGradients, learningRate: number): Promise<void> {
    if (!(Number.isFinite(learningRate) && learningRate >= 0)) fail(ErrorCodes.INVALID_ARGUMENT, `SegmentOptimizer.step: learningRate must be a finite, non-negative number, got ${learningRate}`);
    await Promise.all([...gradients.parameters].map(([segment, segmentGradients]) => this.#update(segment, segmentGradients, learningRate)));
  }

  /** How many updates a segment has had. */
  stepCount(segment: Segment): number {
    return this.#segments.get(segment)?.steps ?? 0;
  }

  /** A segment's optimizer state, by parameter then state name (empty before its first update). */
  state(segment: Segment): Readonly<Record<string, Readonly<Record<string, Tensor>>>> {
    return this.#segments.get(segment)?.state ?? {};
  }

  async #update(segment: Segment, gradients: Readonly<Record<string, Tensor>>, learningRate: number): Promise<void> {
    const names = segment.parameterNames;
    if (names.length === 0) return;
    let entry = this.#segments.get(segment);
    if (entry === undefined) {
      const state: Record<string, Record<string, Tensor>> = {};
      for (const name of names) state[name] = this.optimizer.initialState(segment.parameter(name));
      entry = { steps: 0, state };
      this.#segments.set(segment, entry);
    }
    const parameters = names.map((name) => segment.parameter(name));
    const signature = parameters.map((tensor) => `${tensor.dtype}[${tensor.shape.join(',')}]`).join(';');
    const key = `razor.update|${this.optimizer.name}#${optimizerId(this.optimizer)}|${signature}`;
    const plan = this.#plan(key, parameters, names.map((name) => entry.state[name]!));
    const session = await this.cache.session(key, () => plan.graph, `${this.optimizer.name} update of segment '${segment.name}'`);
    const feeds: Record<string, Tensor> = {
      learning_rate: Tensor.scalar('float32', learningRate),
      step: Tensor.scalar('float32', entry.steps + 1),
    };
    names.forEach((name, index) => {
      const gradient = gradients[name];
      if (gradient === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `segment '${segment.name}': no gradient for parameter '${name}'`);
      feeds[`p${index}`] = parameters[index]!;
      feeds[`p${index}.grad`] = gradient;
      for (const [stateName, tensor] of Object.entries(entry.state[name]!)) feeds[`p${index}.${stateName}`] = tensor;
    });
    let results: Record<string, Tensor>;
    try {
      results = await session.run(feeds);
    } catch (error) {
      throw segmentError(segment, error);
    }
    names.forEach((name, index) => {
      const outputs = plan.outputs[index]!;
      segment.setParameter(name, results[outputs.parameter]!);
      for (const [stateName, output] of Object.entries(outputs.state)) entry.state[name]![stateName] = results[output]!;
    });
    entry.steps++;
  }

  #plan(key: string, parameters: readonly Tensor[], states: readonly Record<string, Tensor>[]): UpdatePlan {
    let plan = this.#plans.get(key);
    if (plan !== undefined) return plan;
    const graph = new Graph('segment_update');
    graph.opsetImports.set('', 17);
    const scalar = { dtype: 'float32' as const, shape: [] };
    graph.inputs.push({ name: 'learning_rate', type: scalar }, { name: 'step', type: scalar });
    const outputs: UpdatePlan['outputs'] = [];
    const exposed: string[] = [];
    parameters.forEach((tensor, index) => {
      const type = { dtype: tensor.dtype, shape: [...tensor.shape] };
      const parameter = `p${index}`;
      graph.inputs.push({ name: parameter, type }, { name: `${parameter}.grad`, type });
      const state: Record<string, string> = {};
      for (const [stateName, initial] of Object.entries(states[index]!)) {
        state[stateName] = `${parameter}.${stateName}`;
        graph.inputs.push({ name: state[stateName], type: { dtype: initial.dtype, shape: [...initial.shape] } });
      }
      const updated = this.optimizer.emitUpdate(graph, { parameter, gradient: `${parameter}.grad`, state, learningRate: 'learning_rate', step: 'step' }, `update/${parameter}`);
      const stateOutputs: Record<string, string> = {};
      for (const stateName of Object.keys(state)) {
        const value = updated.state[stateName];
        if (value === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `optimizer '${this.optimizer.name}' did not update its state '${stateName}'`);
        stateOutputs[stateName] = value;
      }
      outputs.push({ parameter: updated.parameter, state: stateOutputs });
      exposed.push(updated.parameter, ...Object.values(stateOutputs));
    });
    graph.outputs = [...new Set(exposed)].map((name) => ({ name }));
    inferShapes(graph);
    for (const output of graph.outputs) output.type = graph.typeOf(output.name);
    plan = { graph, outputs };
    this.#plans.set(key, plan);
    return plan;
  }
}

function optimizerId(optimizer: Optimizer): number {
  let id = optimizerIds.get(optimizer);
  if (id === undefined) optimizerIds.set(optimizer, (id = nextOptimizerId++));
  return id;
}

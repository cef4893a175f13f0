import { buildGradients } from '../autodiff/gradients.js';
import { ErrorCodes, fail } from '../errors.js';
import { isFloatDType } from '../ir/dtype.js';
import { getFloat, type Graph, type Node, type ValueInfo } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { defaultRegistry } from '../ops/builtin.js';
import { parameterInitializers } from '../ops/parameters.js';
import type { OpRegistry } from '../ops/registry.js';
import { inferShapes } from '../passes/infer-shapes.js';
import { isTrainingBatchNorm, toInferenceForm } from './inference-form.js';
import type { Optimizer } from './optimizers.js';

/** Selects parameters by name: a list, or a predicate. */
export type ParameterSelector = readonly string[] | ((name: string) => boolean);

/**
 * A parameter group, as PyTorch's optimizer param groups: its parameters are updated by
 * their own optimizer instance. The first group that selects a parameter owns it;
 * parameters no group selects use the default optimizer.
 */
export interface ParameterGroup {
  /** The group's parameters. */
  params: ParameterSelector;
  /** The group's own optimizer (default: the step's optimizer, with this group's overrides). */
  optimizer?: Optimizer;
  /** The group's weight decay, replacing the optimizer's (e.g. 0 for biases). */
  weightDecay?: number;
  /** The group's learning rate as a multiple of the fed `learning_rate` (default 1). */
  learningRateScale?: number;
}

/** Options of `buildTrainStep`. */
export interface TrainStepOptions {
  /**
   * The value to minimise: the name of a scalar value of the graph, or a function that
   * appends the loss to the graph it is given (adding label inputs as needed) and returns
   * its name, e.g. `(graph) => crossEntropyLoss(graph, 'logits', addLabels(graph))`.
   */
  loss: string | ((graph: Graph) => string);
  /** The optimizer of every parameter no group overrides. */
  optimizer: Optimizer;
  /**
   * The parameters to train (initializers). Default: every floating-point initializer
   * that feeds an op's parameter input (weights and biases of Conv, Gemm, MatMul,
   * normalization scales and biases), as `estimateResources` counts them.
   */
  params?: readonly string[];
  /** Parameters left out of training: they stay initializers and are not updated. */
  frozen?: ParameterSelector;
  /** Parameter groups with their own optimizer options and learning-rate multiplier. */
  groups?: readonly ParameterGroup[];
  /**
   * Clips the gradients by their global L2 norm before the update, as PyTorch's
   * `clip_grad_norm_`: each gradient is multiplied by min(1, maxNorm / (norm + 1e-6)).
   */
  clipGradNorm?: number;
  /**
   * Loss scaling for mixed precision: gradients are taken of loss · scale and divided by
   * the scale before clipping and the update. A number, or 'input' to feed it each step
   * as the float32 scalar input `loss_scale` (dynamic loss scaling).
   */
  lossScale?: number | 'input';
  /**
   * Sizes of named symbolic dims of the inputs (`{ batch: 64 }`), labels included: the step
   * is built for them. Some gradient rules (mean reductions over the batch) need static
   * sizes, so a symbolic batch dim usually has to be fixed here.
   */
  dims?: Readonly<Record<string, number>>;
  /** The op definitions (gradient rules); `defaultRegistry` when omitted. */
  registry?: OpRegistry;
  /**
   * How training-mode BatchNormalization updates its running variance. ONNX (and so
   * onnxruntime) averages in the batch's population variance; PyTorch the unbiased one,
   * × n/(n − 1) with n values per channel. 'unbiased' (default) rescales ONNX's update so
   * the running statistics follow PyTorch's; 'population' keeps ONNX's.
   */
  runningVariance?: 'unbiased' | 'population';
}

/** A value the step reads and writes back: `name` is fed, `${name}.next` is its new value. */
export interface CarriedValue {
  /** The graph input's name (also the name in the source graph, for parameters and statistics). */
  name: string;
  /** Its value before the first step. */
  initial: Tensor;
}

/** What `buildTrainStep` returns. */
export interface TrainStep {
  /**
   * One run is one training step: forward, loss, backward, update. Inputs: the data
   * inputs (`dataInputs`), every trainable parameter under its initializer name, every
   * state value (`state`), `learning_rate` and `step` (float32 scalars, the step 1-based),
   * and `loss_scale` with `lossScale: 'input'`. Outputs: `loss` (unscaled), `grad_norm`
   * (the global norm before clipping, with `clipGradNorm` or `lossScale`), the model's
   * outputs, and for each parameter or state value `X` its updated value `X.next`.
   */
  step: Graph;
  /**
   * The forward graph for evaluation: the same inputs as `step` but for the optimizer
   * state and the scalars, parameters and running statistics under the same names;
   * outputs the model's outputs and `loss`. BatchNormalization runs in inference mode.
   */
  eval: Graph;
  /** The trainable parameters, in graph order: inputs `p`, outputs `p.next`. */
  parameters: string[];
  /** The parameters' values before the first step (the source graph's initializers). */
  initialParameters: Record<string, Tensor>;
  /** Parameters kept as initializers (frozen). */
  frozen: string[];
  /**
   * Values carried between steps other than parameters: optimizer state `p.<state>`
   * (e.g. `fc.weight.momentum`, `fc.weight.exp_avg`) and BatchNormalization running
   * statistics under their initializer names.
   */
  state: CarriedValue[];
  /** Inputs fed from data each step: the model's inputs and the labels the loss reads. */
  dataInputs: string[];
  /** The model's outputs (the source graph's outputs), present in both graphs. */
  modelOutputs: string[];
  /** The fixed names of the scalar inputs and outputs. */
  names: { learningRate: 'learning_rate'; step: 'step'; lossScale?: 'loss_scale'; loss: 'loss'; gradientNorm?: 'grad_norm' };
  /** The name of the output holding the new value of a parameter or state value. */
  nextName(name: string): string;
}

const LEARNING_RATE = 'learning_rate';
const STEP = 'step';
const LOSS_SCALE = 'loss_scale';
const LOSS = 'loss';
const GRADIENT_NORM = 'grad_norm';
const CLIP_EPSILON = 1e-6;

const nextName = (name: string): string => `${name}.next`;

function selects(selector: ParameterSelector, name: string): boolean {
  return typeof selector === 'function' ? selector(name) : selector.includes(name);
}

/**
 * Builds the training-step graph of `source`: one backend run computes the loss, its
 * gradients (reverse-mode autodiff as standard ONNX nodes) and the optimizer update.
 * Parameters and optimizer state are graph inputs and their updated values outputs named
 * `<name>.next`, so a trainer keeps them on the host between steps and feeds each step's
 * outputs to the next. Training-mode BatchNormalization nodes' running statistics are
 * carried the same way. Also returns the matching evaluation graph.
 */
export function buildTrainStep(source: Graph, options: TrainStepOptions): TrainStep {
  const registry = options.registry ?? defaultRegistry;
  const where = `buildTrainStep on graph '${source.name}'`;
  if (options.clipGradNorm !== undefined && !(options.clipGradNorm > 0 && Number.isFinite(options.clipGradNorm))) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${where}: clipGradNorm must be a positive number, got ${options.clipGradNorm}`);
  }
  const { lossScale } = options;
  if (lossScale !== undefined && lossScale !== 'input' && !(typeof lossScale === 'number' && lossScale > 0 && Number.isFinite(lossScale))) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${where}: lossScale must be a positive number or 'input', got ${String(lossScale)}`);
  }

  if (options.dims !== undefined) {
    for (const [dim, size] of Object.entries(options.dims)) {
      if (!(Number.isInteger(size) && size > 0)) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: dims.${dim} must be a positive integer, got ${size}`);
    }
  }
  const graph = source.clone();
  const modelOutputs = source.outputs.map((output) => output.name);
  const fixDims = (): void => {
    if (options.dims === undefined) return;
    for (const input of graph.inputs) {
      if (input.type?.shape === undefined) continue;
      input.type = { ...input.type, shape: input.type.shape.map((dim) => (typeof dim === 'string' ? (options.dims![dim] ?? dim) : dim)) };
    }
  };
  fixDims();
  // Typed values let the loss read the model's output shapes (the class count of logits).
  inferShapes(graph, { registry });
  const loss = typeof options.loss === 'function' ? options.loss(graph) : options.loss;
  fixDims();
  if (!graph.definedValues().has(loss)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${where}: loss '${loss}' is not a value of the graph; pass the name of a node output or a function that appends the loss`);
  }
  inferShapes(graph, { registry });
  const lossType = graph.typeOf(loss);
  if (lossType?.shape !== undefined && lossType.shape.length !== 0) {
    fail(ErrorCodes.SHAPE_MISMATCH, `${where}: loss '${loss}' has shape [${lossType.shape.join(', ')}]; reduce it to a scalar (reduction 'mean' or 'sum')`);
  }

  // Parameters.
  const candidates = options.params ?? parameterInitializers(graph, registry);
  for (const name of candidates) {
    const tensor = graph.initializers.get(name);
    if (tensor === undefined || graph.isInput(name)) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: parameter '${name}' is not an initializer of the graph; list initializer names in 'params'`);
    if (!isFloatDType(tensor.dtype)) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: parameter '${name}' is ${tensor.dtype}; only floating-point initializers can be trained`);
  }
  const frozen = options.frozen === undefined ? [] : candidates.filter((name) => selects(options.frozen!, name));
  const parameters = candidates.filter((name) => !frozen.includes(name));
  if (parameters.length === 0) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: no parameter left to train (all ${candidates.length} frozen or none found)`);
  if (Array.isArray(options.frozen)) {
    for (const name of options.frozen as readonly string[]) {
      if (!candidates.includes(name)) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: frozen '${name}' is not one of the parameters (${candidates.join(', ')})`);
    }
  }
  const initialParameters: Record<string, Tensor> = {};
  for (const name of parameters) initialParameters[name] = graph.initializers.get(name)!;

  // Running statistics of training-mode BatchNormalization: inputs 3 and 4, outputs 1 and 2.
  const statistics: { input: string; output: string; node: Node; position: number }[] = [];
  const state: CarriedValue[] = [];
  for (const node of graph.nodes) {
    if (!isTrainingBatchNorm(graph, node)) continue;
    for (const position of [1, 2]) {
      const input = node.inputs[position + 2];
      if (!input || !graph.initializers.has(input)) {
        fail(ErrorCodes.INVALID_GRAPH, `${where}: BatchNormalization '${node.name}' reads running statistic '${input ?? ''}', which is not an initializer`);
      }
      if (!node.outputs[position]) {
        while (node.outputs.length <= position) node.outputs.push('');
        node.outputs[position] = graph.uniqueName(`${node.name}_running_${position === 1 ? 'mean' : 'var'}`);
        graph.invalidate();
      }
      statistics.push({ input, output: node.outputs[position]!, node, position });
      state.push({ name: input, initial: graph.initializers.get(input)! });
    }
  }

  // Carried values become inputs under their own names: the nodes reading them stay as they are.
  const reserved = [LEARNING_RATE, STEP, ...(loss === LOSS ? [] : [LOSS]), GRADIENT_NORM, ...(lossScale === 'input' ? [LOSS_SCALE] : [])];
  const taken = graph.definedValues();
  for (const name of reserved) {
    if (taken.has(name)) fail(ErrorCodes.INVALID_GRAPH, `${where}: the graph already has a value named '${name}', a name the training step reserves; rename it`);
  }
  const toInput = (name: string): void => {
    const tensor = graph.initializers.get(name)!;
    graph.initializers.delete(name);
    graph.inputs.push({ name, type: { dtype: tensor.dtype, shape: [...tensor.shape] } });
  };
  for (const name of parameters) toInput(name);
  for (const { input } of statistics) toInput(input);
  const dataInputs = graph.inputs.map((input) => input.name).filter((name) => !parameters.includes(name) && !statistics.some((entry) => entry.input === name));

  const evalGraph = buildEvalGraph(graph, loss, modelOutputs, registry);

  // Training-mode BatchNormalization writes its running-statistics outputs into the buffers of
  // inputs 3 and 4 (onnxruntime aliases them: a fed running_var is overwritten in place, and a
  // node reading it afterwards sees the new value). So each node reads scratch initializers of
  // its own, with momentum 0: outputs 1 and 2 become the batch mean and population variance
  // (which the gradient rule reuses), and the running updates are separate nodes reading the
  // carried inputs, which no kernel then writes.
  const momentums = new Map<Node, number>();
  let scratchCount = 0;
  for (const { node, position } of statistics) {
    if (!momentums.has(node)) {
      momentums.set(node, getFloat(node, 'momentum', 0.9));
      node.attributes.set('momentum', { type: 'float', value: 0 });
    }
    const running = node.inputs[position + 2]!;
    const tensor = graph.typeOf(running);
    const size = tensor?.shape?.[0];
    if (typeof size !== 'number') fail(ErrorCodes.SHAPE_MISMATCH, `${where}: BatchNormalization '${node.name}': the size of running statistic '${running}' is unknown`);
    // Distinct contents (never read: momentum 0): onnxruntime shares equal small initializers,
    // and two nodes writing one shared buffer would overwrite each other's statistics.
    scratchCount++;
    node.inputs[position + 2] = graph.addInitializer(graph.uniqueName(`${node.name}/batch_${position === 1 ? 'mean' : 'var'}_scratch`), Tensor.from('float32', [size], new Array<number>(size).fill(scratchCount)));
  }
  graph.invalidate();

  // Backward.
  const scalarInput = (name: string): ValueInfo => ({ name, type: { dtype: 'float32', shape: [] } });
  let differentiated = loss;
  let scale: string | undefined;
  if (lossScale !== undefined) {
    if (lossScale === 'input') {
      graph.inputs.push(scalarInput(LOSS_SCALE));
      scale = LOSS_SCALE;
    } else {
      scale = graph.addInitializer(graph.uniqueName('train/loss_scale'), Tensor.from('float32', [], [lossScale]));
    }
    differentiated = graph.addNode({ opType: 'Mul', inputs: [loss, scale], name: graph.uniqueName('train/scaled_loss') }).outputs[0]!;
  }
  const { graph: step, gradients: gradientOutputs } = buildGradients(graph, { loss: differentiated, wrt: parameters, registry });
  step.outputs = [];
  const node = (opType: string, inputs: string[], label: string, attributes: Record<string, number> = {}): string =>
    step.addNode({ opType, inputs, attributes, name: step.uniqueName(`train/${label}`) }).outputs[0]!;
  const scalar = (label: string, value: number): string => step.addInitializer(step.uniqueName(`train/${label}`), Tensor.from('float32', [], [value]));
  const gradients = new Map(parameters.map((name) => [name, gradientOutputs[name]!]));
  if (scale !== undefined) {
    for (const [name, gradient] of gradients) gradients.set(name, node('Div', [gradient, scale], `${name}/unscale`));
  }
  let gradientNorm: string | undefined;
  if (options.clipGradNorm !== undefined || lossScale !== undefined) {
    const squares = parameters.map((name) => {
      const gradient = gradients.get(name)!;
      return node('ReduceSum', [node('Mul', [gradient, gradient], `${name}/square`)], `${name}/square_sum`, { keepdims: 0 });
    });
    const total = squares.length === 1 ? squares[0]! : node('Sum', squares, 'gradient_square_sum');
    gradientNorm = node('Sqrt', [total], 'gradient_norm');
  }
  if (options.clipGradNorm !== undefined) {
    const ratio = node('Div', [scalar('max_norm', options.clipGradNorm), node('Add', [gradientNorm!, scalar('clip_epsilon', CLIP_EPSILON)], 'clip_denominator')], 'clip_ratio');
    const coefficient = node('Min', [ratio, scalar('one', 1)], 'clip_coefficient');
    for (const [name, gradient] of gradients) gradients.set(name, node('Mul', [gradient, coefficient], `${name}/clip`));
  }

  // Update.
  step.inputs.push(scalarInput(LEARNING_RATE), scalarInput(STEP));
  const groups = options.groups ?? [];
  const groupOptimizers = groups.map((group, index) => groupOptimizer(group, options.optimizer, `${where}: group ${index}`));
  const groupRates = groups.map((group, index) => {
    const multiplier = group.learningRateScale ?? 1;
    if (!(multiplier >= 0 && Number.isFinite(multiplier))) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: group ${index} learningRateScale must be a non-negative number, got ${multiplier}`);
    return multiplier === 1 ? LEARNING_RATE : node('Mul', [LEARNING_RATE, scalar(`group_${index}_learning_rate_scale`, multiplier)], `group_${index}_learning_rate`);
  });
  groups.forEach((group, index) => {
    if (Array.isArray(group.params)) {
      for (const name of group.params as readonly string[]) {
        if (!parameters.includes(name)) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: group ${index} names '${name}', which is not a trained parameter (${parameters.join(', ')})`);
      }
    }
  });
  const outputs: string[] = [];
  const exposeAs = (value: string, name: string): void => {
    if (step.isDefined(name)) fail(ErrorCodes.INVALID_GRAPH, `${where}: the graph already has a value named '${name}', the name of an updated value; rename it`);
    step.addNode({ opType: 'Identity', inputs: [value], outputs: [name], name: step.uniqueName(`train/${name}`) });
    outputs.push(name);
  };
  if (loss === LOSS) outputs.push(LOSS);
  else exposeAs(loss, LOSS);
  if (gradientNorm !== undefined) exposeAs(gradientNorm, GRADIENT_NORM);
  for (const output of modelOutputs) outputs.push(output);
  for (const name of parameters) {
    const groupIndex = groups.findIndex((group) => selects(group.params, name));
    const optimizer = groupIndex < 0 ? options.optimizer : groupOptimizers[groupIndex]!;
    const initialState = optimizer.initialState(initialParameters[name]!);
    const stateInputs: Record<string, string> = {};
    for (const [stateName, initial] of Object.entries(initialState)) {
      const input = `${name}.${stateName}`;
      if (step.isDefined(input)) fail(ErrorCodes.INVALID_GRAPH, `${where}: the graph already has a value named '${input}', the name of an optimizer state input; rename it`);
      step.inputs.push({ name: input, type: { dtype: initial.dtype, shape: [...initial.shape] } });
      stateInputs[stateName] = input;
      state.push({ name: input, initial });
    }
    const updated = optimizer.emitUpdate(
      step,
      { parameter: name, gradient: gradients.get(name)!, state: stateInputs, learningRate: groupIndex < 0 ? LEARNING_RATE : groupRates[groupIndex]!, step: STEP },
      `train/${name}/${optimizer.name}`,
    );
    exposeAs(updated.parameter, nextName(name));
    for (const stateName of Object.keys(initialState)) {
      const value = updated.state[stateName];
      if (value === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: optimizer '${optimizer.name}' did not update its state '${stateName}' of '${name}'`);
      exposeAs(value, nextName(stateInputs[stateName]!));
    }
  }
  const runningVariance = options.runningVariance ?? 'unbiased';
  if (runningVariance !== 'unbiased' && runningVariance !== 'population') {
    fail(ErrorCodes.INVALID_ARGUMENT, `${where}: runningVariance must be 'unbiased' or 'population', got '${String(runningVariance)}'`);
  }
  for (const { input, output, node: batchNorm, position } of statistics) {
    const value = runningUpdate(step, batchNorm, momentums.get(batchNorm)!, input, output, position === 2 && runningVariance === 'unbiased', where);
    exposeAs(value, nextName(input));
  }
  step.outputs = outputs.map((name) => ({ name }));
  inferShapes(step, { registry });
  for (const output of step.outputs) {
    const type = step.typeOf(output.name);
    if (type !== undefined) output.type = type;
  }

  return {
    step,
    eval: evalGraph,
    parameters,
    initialParameters,
    frozen,
    state,
    dataInputs,
    modelOutputs,
    names: {
      learningRate: LEARNING_RATE,
      step: STEP,
      loss: LOSS,
      ...(lossScale === 'input' ? { lossScale: LOSS_SCALE } : {}),
      ...(gradientNorm !== undefined ? { gradientNorm: GRADIENT_NORM } : {}),
    },
    nextName,
  };
}

/**
 * The running update m·r + (1 − m)·b of running statistic `previous` (r) from the batch
 * statistic `batch` (b, output 1 or 2 of `batchNorm`, which runs with momentum 0), ONNX's
 * momentum m. With `unbiased`, b is the population variance, scaled by n/(n − 1) as PyTorch
 * does (n = size(X)/C values per channel).
 */
function runningUpdate(step: Graph, batchNorm: Node, momentum: number, previous: string, batch: string, unbiased: boolean, where: string): string {
  const label = `${batchNorm.name}/running_${unbiased ? 'var' : 'update'}`;
  const node = (opType: string, inputs: string[], attributes: Record<string, number> = {}): string =>
    step.addNode({ opType, inputs, attributes, name: step.uniqueName(label) }).outputs[0]!;
  const scalar = (value: number): string => step.addInitializer(step.uniqueName(label), Tensor.from('float32', [], [value]));
  let weight: string = scalar(1 - momentum);
  if (unbiased) {
    const x = batchNorm.inputs[0]!;
    const shape = step.typeOf(x)?.shape;
    if (shape !== undefined && shape.every((dim): dim is number => typeof dim === 'number')) {
      const count = shape.reduce((product, dim, axis) => (axis === 1 ? product : product * dim), 1);
      if (count < 2) fail(ErrorCodes.SHAPE_MISMATCH, `${where}: BatchNormalization '${batchNorm.name}' normalises ${count} value per channel (input '${x}' of shape [${shape.join(', ')}]); training needs more than one`);
      weight = scalar(((1 - momentum) * count) / (count - 1));
    } else {
      const channels = step.typeOf(previous)?.shape?.[0];
      if (typeof channels !== 'number') fail(ErrorCodes.SHAPE_MISMATCH, `${where}: BatchNormalization '${batchNorm.name}': the size of running statistic '${previous}' is unknown`);
      // (1 − m)·n/(n − 1) = (1 − m)/(1 − 1/n), n = size(X)/C at run time.
      const count = node('Div', [node('Cast', [node('Size', [x])], { to: 1 }), scalar(channels)]);
      weight = node('Div', [weight, node('Sub', [scalar(1), node('Reciprocal', [count])])]);
    }
  }
  return node('Add', [node('Mul', [previous, scalar(momentum)]), node('Mul', [batch, weight])]);
}

function groupOptimizer(group: ParameterGroup, fallback: Optimizer, where: string): Optimizer {
  const base = group.optimizer ?? fallback;
  if (group.weightDecay === undefined) return base;
  if (base.withOptions === undefined) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${where}: optimizer '${base.name}' cannot override weightDecay; give the group its own 'optimizer' instead`);
  }
  return base.withOptions({ weightDecay: group.weightDecay });
}

/** The forward graph in inference form (BatchNormalization on running statistics, no Dropout), outputting the model's outputs and `loss`. */
function buildEvalGraph(graph: Graph, loss: string, modelOutputs: readonly string[], registry: OpRegistry): Graph {
  const evalGraph = toInferenceForm(graph.clone());
  if (loss !== LOSS) evalGraph.addNode({ opType: 'Identity', inputs: [loss], outputs: [LOSS], name: evalGraph.uniqueName('eval/loss') });
  evalGraph.outputs = [...modelOutputs, LOSS].map((name) => ({ name }));
  inferShapes(evalGraph, { registry });
  for (const output of evalGraph.outputs) {
    const type = evalGraph.typeOf(output.name);
    if (type !== undefined) output.type = type;
  }
  return evalGraph;
}

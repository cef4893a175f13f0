import { ErrorCodes, fail } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';

/**
 * Losses as graph builders: each adds standard ONNX nodes to a graph and returns the name
 * of the loss value, so the loss is part of the graph autodiff differentiates and a
 * backend runs. They use only ops with gradient rules (no SoftmaxCrossEntropyLoss), and
 * need opset 13 or newer (axes as inputs of ReduceSum and Unsqueeze).
 */
export type Reduction = 'mean' | 'sum' | 'none';

export interface LossOptions {
  /** 'mean' (default), 'sum' or 'none' (one value per element or sample). */
  reduction?: Reduction;
  /** Name of the loss value (default: made unique from the loss's name). */
  name?: string;
}

const MINIMUM_OPSET = 13;

/** Emits nodes with unique names under one prefix. */
class LossBuilder {
  readonly opset: number;
  constructor(
    readonly graph: Graph,
    readonly prefix: string,
  ) {
    this.opset = graph.opset();
    if (this.opset < MINIMUM_OPSET) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${prefix}: graph '${graph.name}' imports opset ${this.opset}; razor's losses need opset ${MINIMUM_OPSET} or newer`);
    }
  }

  node(opType: string, inputs: string[], attributes: Record<string, number | number[]> = {}, output?: string): string {
    const name = this.graph.uniqueName(`${this.prefix}/${opType}`);
    return this.graph.addNode({ opType, inputs, name, attributes, outputs: [output ?? this.graph.uniqueName(`${name}_output`)] }).outputs[0]!;
  }

  constant(label: string, tensor: Tensor): string {
    return this.graph.addInitializer(this.graph.uniqueName(`${this.prefix}/${label}`), tensor);
  }

  scalar(label: string, value: number): string {
    return this.constant(label, Tensor.from('float32', [], [value]));
  }

  axes(values: number[]): string {
    return this.constant('axes', Tensor.int64(values));
  }

  /** ReduceSum/ReduceMean over `axes` (all axes when omitted), axes as attribute or input by opset. */
  reduce(opType: 'ReduceSum' | 'ReduceMean', input: string, axes: number[] | undefined, keepdims: boolean, output?: string): string {
    const axesAsInput = opType === 'ReduceSum' || this.opset >= 18;
    if (axes === undefined) return this.node(opType, [input], { keepdims: keepdims ? 1 : 0 }, output);
    return axesAsInput
      ? this.node(opType, [input, this.axes(axes)], { keepdims: keepdims ? 1 : 0 }, output)
      : this.node(opType, [input], { axes, keepdims: keepdims ? 1 : 0 }, output);
  }

  /** Applies the reduction to per-element (or per-sample) losses. */
  reduceLoss(values: string, reduction: Reduction, output: string | undefined): string {
    if (reduction === 'none') return output === undefined ? values : this.node('Identity', [values], {}, output);
    return this.reduce(reduction === 'mean' ? 'ReduceMean' : 'ReduceSum', values, undefined, false, output);
  }
}

function reductionOf(options: LossOptions, allowed: readonly string[] = ['mean', 'sum', 'none']): Reduction {
  const reduction = options.reduction ?? 'mean';
  if (!allowed.includes(reduction)) fail(ErrorCodes.INVALID_ARGUMENT, `reduction must be one of ${allowed.join(', ')}, got '${String(reduction)}'`);
  return reduction;
}

/** The class count of [N, C] logits: from the graph's type of `logits`, or `numClasses`. */
function classCount(graph: Graph, logits: string, numClasses: number | undefined, loss: string): number {
  const shape = graph.typeOf(logits)?.shape;
  const fromGraph = shape?.[1];
  if (numClasses !== undefined) {
    if (typeof fromGraph === 'number' && fromGraph !== numClasses) {
      fail(ErrorCodes.SHAPE_MISMATCH, `${loss}: logits '${logits}' have ${fromGraph} classes but numClasses is ${numClasses}`);
    }
    return numClasses;
  }
  if (typeof fromGraph !== 'number') {
    fail(ErrorCodes.INVALID_ARGUMENT, `${loss}: the class count of logits '${logits}' is not known; run inferShapes first or pass numClasses`);
  }
  if (shape!.length !== 2) fail(ErrorCodes.SHAPE_MISMATCH, `${loss}: logits '${logits}' must be [N, C], got rank ${shape!.length}`);
  return fromGraph;
}

export interface CrossEntropyOptions extends LossOptions {
  /** Classes of the [N, C] logits, when the graph does not know them. */
  numClasses?: number;
  /** PyTorch's label_smoothing: the target is (1 − ε)·one-hot + ε/C. Default 0. */
  labelSmoothing?: number;
  /** Samples with this label add nothing; 'mean' divides by the others' count (PyTorch's ignore_index). */
  ignoreIndex?: number;
}

/**
 * Cross-entropy of [N, C] `logits` against int64 class indices `labels` [N], as
 * PyTorch's `F.cross_entropy`: −Σ target·log_softmax(logits) per sample.
 */
export function crossEntropyLoss(graph: Graph, logits: string, labels: string, options: CrossEntropyOptions = {}): string {
  const reduction = reductionOf(options);
  const classes = classCount(graph, logits, options.numClasses, 'crossEntropyLoss');
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) fail(ErrorCodes.INVALID_ARGUMENT, `labelSmoothing must be between 0 and 1, got ${smoothing}`);
  const builder = new LossBuilder(graph, 'cross_entropy');
  const logProbabilities = builder.node('LogSoftmax', [logits], { axis: 1 });
  const classIndices = builder.constant('classes', Tensor.int64(Array.from({ length: classes }, (_, index) => index)));
  const column = builder.node('Unsqueeze', [labels, builder.axes([1])]);
  let target = builder.node('Cast', [builder.node('Equal', [column, classIndices])], { to: 1 });
  if (smoothing > 0) {
    target = builder.node('Add', [builder.node('Mul', [target, builder.scalar('keep', 1 - smoothing)]), builder.scalar('spread', smoothing / classes)]);
  }
  const perSample = builder.node('Neg', [builder.reduce('ReduceSum', builder.node('Mul', [target, logProbabilities]), [1], false)]);
  if (options.ignoreIndex === undefined) return builder.reduceLoss(perSample, reduction, options.name);
  const ignored = builder.constant('ignore_index', Tensor.from('int64', [], [options.ignoreIndex]));
  const valid = builder.node('Cast', [builder.node('Not', [builder.node('Equal', [labels, ignored])])], { to: 1 });
  const kept = builder.node('Mul', [perSample, valid]);
  if (reduction !== 'mean') return builder.reduceLoss(kept, reduction, options.name);
  const total = builder.reduce('ReduceSum', kept, undefined, false);
  return builder.node('Div', [total, builder.reduce('ReduceSum', valid, undefined, false)], {}, options.name);
}

/** Mean squared error between two values of the same shape, as PyTorch's `F.mse_loss`. */
export function mseLoss(graph: Graph, input: string, target: string, options: LossOptions = {}): string {
  const reduction = reductionOf(options);
  const builder = new LossBuilder(graph, 'mse');
  const difference = builder.node('Sub', [input, target]);
  return builder.reduceLoss(builder.node('Mul', [difference, difference]), reduction, options.name);
}

/** Mean absolute error, as PyTorch's `F.l1_loss`. */
export function l1Loss(graph: Graph, input: string, target: string, options: LossOptions = {}): string {
  const reduction = reductionOf(options);
  const builder = new LossBuilder(graph, 'l1');
  return builder.reduceLoss(builder.node('Abs', [builder.node('Sub', [input, target])]), reduction, options.name);
}

export interface KlDivergenceOptions {
  /** Softening temperature T; the loss is scaled by T² (Hinton et al.). Default 1. */
  temperature?: number;
  /** 'batchmean' (default: the sum divided by the batch size, as the KD literature uses) or 'sum'. */
  reduction?: 'batchmean' | 'sum';
  name?: string;
}

/**
 * Knowledge-distillation KL divergence of [N, C] `studentLogits` from `teacherLogits`:
 * T² · Σ softmax(t/T) · (log_softmax(t/T) − log_softmax(s/T)), divided by N for
 * 'batchmean'. As MMRazor's KLDivergence and PyTorch's `F.kl_div(log_target=False)` on
 * softened distributions. The teacher receives no gradient as long as it is not a
 * parameter being trained.
 */
export function klDivergenceLoss(graph: Graph, studentLogits: string, teacherLogits: string, options: KlDivergenceOptions = {}): string {
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0 && Number.isFinite(temperature))) fail(ErrorCodes.INVALID_ARGUMENT, `temperature must be positive, got ${temperature}`);
  const reduction = options.reduction ?? 'batchmean';
  if (reduction !== 'batchmean' && reduction !== 'sum') fail(ErrorCodes.INVALID_ARGUMENT, `reduction must be 'batchmean' or 'sum', got '${String(reduction)}'`);
  const builder = new LossBuilder(graph, 'kl_divergence');
  const inverse = builder.scalar('inverse_temperature', 1 / temperature);
  const teacher = builder.node('Mul', [teacherLogits, inverse]);
  const student = builder.node('Mul', [studentLogits, inverse]);
  const teacherProbabilities = builder.node('Softmax', [teacher], { axis: 1 });
  const gap = builder.node('Sub', [builder.node('LogSoftmax', [teacher], { axis: 1 }), builder.node('LogSoftmax', [student], { axis: 1 })]);
  const total = builder.reduce('ReduceSum', builder.node('Mul', [teacherProbabilities, gap]), undefined, false);
  const scaled = builder.node('Mul', [total, builder.scalar('temperature_squared', temperature * temperature)]);
  if (reduction === 'sum') return builder.node('Identity', [scaled], {}, options.name);
  const batch = builder.node('Cast', [builder.node('Gather', [builder.node('Shape', [studentLogits]), builder.constant('batch_axis', Tensor.from('int64', [], [0]))], { axis: 0 })], { to: 1 });
  return builder.node('Div', [scaled, batch], {}, options.name);
}

/**
 * Binary cross-entropy on logits, as PyTorch's `F.binary_cross_entropy_with_logits`, in
 * its stable form max(x, 0) − x·y + log(1 + exp(−|x|)).
 */
export function binaryCrossEntropyWithLogitsLoss(graph: Graph, logits: string, target: string, options: LossOptions = {}): string {
  const reduction = reductionOf(options);
  const builder = new LossBuilder(graph, 'binary_cross_entropy');
  const positive = builder.node('Relu', [logits]);
  const product = builder.node('Mul', [logits, target]);
  const softplus = builder.node('Log', [builder.node('Add', [builder.scalar('one', 1), builder.node('Exp', [builder.node('Neg', [builder.node('Abs', [logits])])])])]);
  return builder.reduceLoss(builder.node('Add', [builder.node('Sub', [positive, product]), softplus]), reduction, options.name);
}

/**
 * Binary cross-entropy on probabilities, as PyTorch's `F.binary_cross_entropy`:
 * −(y·log p + (1 − y)·log(1 − p)), with each log clamped at −100 as PyTorch does.
 */
export function binaryCrossEntropyLoss(graph: Graph, probabilities: string, target: string, options: LossOptions = {}): string {
  const reduction = reductionOf(options);
  const builder = new LossBuilder(graph, 'binary_cross_entropy');
  const floor = builder.scalar('log_floor', -100);
  const one = builder.scalar('one', 1);
  const logP = builder.node('Max', [builder.node('Log', [probabilities]), floor]);
  const logNotP = builder.node('Max', [builder.node('Log', [builder.node('Sub', [one, probabilities])]), floor]);
  const positive = builder.node('Mul', [target, logP]);
  const negative = builder.node('Mul', [builder.node('Sub', [one, target]), logNotP]);
  return builder.reduceLoss(builder.node('Neg', [builder.node('Add', [positive, negative])]), reduction, options.name);
}

import { REDUCE_AXES_INPUT_SINCE } from '@razor/core';
import type { Kernel, KernelContext, KernelTable } from '../kernel.js';
import type { TfTensor, TfValue } from '../values.js';
import { isFloating, normalizeAxis, same, wrapInteger } from './common.js';

type Tf = KernelContext['tf'];

/**
 * The axes a Reduce* node reduces, sorted and non-negative. Empty axes mean every axis, or none
 * with noop_with_empty_axes = 1 (onnxruntime then still applies the per-element part of
 * ReduceL1, ReduceL2, ReduceLogSum and ReduceSumSquare, as a reduction over no axes does).
 */
function reductionAxes(ctx: KernelContext, rank: number): number[] {
  const opType = ctx.node.opType;
  let axes: number[];
  if (ctx.opset >= REDUCE_AXES_INPUT_SINCE[opType]!) {
    if (ctx.node.attributes.has('axes')) ctx.invalid(`${opType} takes its axes as input 1 since opset ${REDUCE_AXES_INPUT_SINCE[opType]}, not as an attribute; move the axes to an int64 input`);
    axes = ctx.has(1) ? ctx.ints(1) : [];
  } else axes = ctx.intList('axes', []);
  if (axes.length === 0) return ctx.int('noop_with_empty_axes', 0) !== 0 ? [] : Array.from({ length: rank }, (_, axis) => axis);
  const normalized = axes.map((axis) => normalizeAxis(ctx, axis, rank));
  if (new Set(normalized).size !== normalized.length) ctx.invalid(`axes [${axes.join(', ')}] name an axis twice`);
  return normalized.sort((a, b) => a - b);
}

/** How a reduction computes on floats, and on integers (int32 tensors) where it differs. */
interface Reduction {
  float(tf: Tf, x: TfTensor, axes: number[], keepDims: boolean): TfTensor;
  /** Integer inputs; the result is truncated toward zero where it is not already an integer. Default: `float` on int32. */
  integer?(tf: Tf, x: TfTensor, axes: number[], keepDims: boolean): TfTensor;
}

/** Integer division truncating toward zero (ONNX's integer ReduceMean), exact in int32. */
function truncatedQuotient(tf: Tf, dividend: TfTensor, divisor: number): TfTensor {
  return tf.mul(tf.sign(dividend), tf.floorDiv(tf.abs(dividend), tf.scalar(divisor, 'int32')));
}

/** The number of elements each output of a reduction over `axes` gathers. */
function reducedCount(x: TfTensor, axes: number[]): number {
  return axes.reduce((count, axis) => count * x.shape[axis]!, 1);
}

const reductions: Record<string, Reduction> = {
  ReduceSum: { float: (tf, x, axes, keepDims) => tf.sum(x, axes, keepDims) },
  ReduceMean: {
    float: (tf, x, axes, keepDims) => tf.mean(x, axes, keepDims),
    integer: (tf, x, axes, keepDims) => truncatedQuotient(tf, tf.sum(x, axes, keepDims), reducedCount(x, axes)),
  },
  ReduceMax: { float: (tf, x, axes, keepDims) => tf.max(x, axes, keepDims) },
  ReduceMin: { float: (tf, x, axes, keepDims) => tf.min(x, axes, keepDims) },
  ReduceProd: { float: (tf, x, axes, keepDims) => tf.prod(x, axes, keepDims) },
  ReduceL1: { float: (tf, x, axes, keepDims) => tf.sum(tf.abs(x), axes, keepDims) },
  ReduceL2: {
    float: (tf, x, axes, keepDims) => tf.sqrt(tf.sum(tf.square(x), axes, keepDims)),
    integer: (tf, x, axes, keepDims) => tf.sqrt(tf.cast(tf.sum(tf.mul(x, x), axes, keepDims), 'float32')),
  },
  ReduceLogSum: {
    float: (tf, x, axes, keepDims) => tf.log(tf.sum(x, axes, keepDims)),
    integer: (tf, x, axes, keepDims) => tf.log(tf.cast(tf.sum(x, axes, keepDims), 'float32')),
  },
  ReduceLogSumExp: {
    float: (tf, x, axes, keepDims) => tf.logSumExp(x, axes, keepDims),
    // onnxruntime accumulates exp(x - max) in the integer type: every term but the maxima
    // truncates to 0, so the result is max + trunc(log(number of maxima)).
    integer: (tf, x, axes, keepDims) => {
      const max = tf.max(x, axes, true);
      const maxima = tf.sum(tf.cast(tf.equal(x, max), 'int32'), axes, keepDims);
      const logCount = tf.floor(tf.log(tf.cast(maxima, 'float32')));
      return tf.add(tf.reshape(max, maxima.shape), tf.cast(logCount, 'int32'));
    },
  },
  ReduceSumSquare: {
    float: (tf, x, axes, keepDims) => tf.sum(tf.square(x), axes, keepDims),
    // tfjs's cpu Square keeps int32 values in a float buffer; a product stays integer.
    integer: (tf, x, axes, keepDims) => tf.sum(tf.mul(x, x), axes, keepDims),
  },
};

/** Reductions that are the identity over no axes. */
const identityWithoutAxes = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd']);

/**
 * Reduce*: one tfjs reduction over the axes (attribute, or input 1 from ReduceSum-13 and the
 * others' opset 18); tfjs reduces nothing over an empty axis list. Integer results that the op
 * computes in floating point (mean, L2, log) are truncated toward zero as onnxruntime's are;
 * bool ReduceMax/ReduceMin (opset 20) run on 0/1 integers.
 */
function reduce(opType: string): Kernel {
  const reduction = reductions[opType]!;
  return (ctx) => {
    const tf = ctx.tf;
    const x = ctx.input(0);
    const axes = reductionAxes(ctx, x.tensor.rank);
    if (axes.length === 0 && identityWithoutAxes.has(opType)) return x;
    const keepDims = ctx.int('keepdims', 1) !== 0;
    if (isFloating(x.dtype)) return same(x, reduction.float(tf, x.tensor, axes, keepDims));
    if (x.dtype === 'bool') {
      if (opType !== 'ReduceMax' && opType !== 'ReduceMin') ctx.invalid(`${opType} does not take bool inputs`);
      return same(x, tf.cast(reduction.float(tf, tf.cast(x.tensor, 'int32'), axes, keepDims), 'bool'));
    }
    if (x.dtype === 'string') ctx.invalid(`${opType} does not take string inputs`);
    const result = (reduction.integer ?? reduction.float)(tf, x.tensor, axes, keepDims);
    return same(x, result.dtype === 'int32' ? result : wrapInteger(ctx, result, 'int32'));
  };
}

/** ArgMax/ArgMin along `axis` (first index of ties, or the last with select_last_index): int64. */
function argReduce(opType: 'ArgMax' | 'ArgMin'): Kernel {
  return (ctx) => {
    const tf = ctx.tf;
    const x = ctx.input(0);
    if (x.dtype === 'bool' || x.dtype === 'string') ctx.invalid(`${opType} does not take ${x.dtype} inputs`);
    const axis = normalizeAxis(ctx, ctx.int('axis', 0), x.tensor.rank);
    const find = opType === 'ArgMax' ? tf.argMax : tf.argMin;
    let indices: TfTensor;
    if (ctx.int('select_last_index', 0) !== 0) {
      // The last extreme is the first one of the reversed axis.
      indices = tf.sub(tf.scalar(x.tensor.shape[axis]! - 1, 'int32'), find(tf.reverse(x.tensor, axis), axis));
    } else indices = find(x.tensor, axis);
    if (ctx.int('keepdims', 1) !== 0) indices = tf.expandDims(indices, axis);
    return { tensor: indices, dtype: 'int64' };
  };
}

/**
 * Applies `lastAxis` (an op along the last axis) along `axis`: a reshape when every later
 * dimension is 1, a transpose there and back otherwise.
 */
function alongAxis(tf: Tf, x: TfTensor, axis: number, lastAxis: (x: TfTensor) => TfTensor): TfTensor {
  const rank = x.rank;
  if (axis === rank - 1) return lastAxis(x);
  const shape = x.shape;
  if (shape.slice(axis + 1).every((dim) => dim === 1)) return tf.reshape(lastAxis(tf.reshape(x, shape.slice(0, axis + 1))), shape);
  const permutation = Array.from({ length: rank }, (_, index) => index).filter((index) => index !== axis);
  permutation.push(axis);
  const inverse = new Array<number>(rank);
  permutation.forEach((from, to) => {
    inverse[from] = to;
  });
  return tf.transpose(lastAxis(tf.transpose(x, permutation)), inverse);
}

function hardmaxLastAxis(tf: Tf, x: TfTensor): TfTensor {
  // tfjs wasm's OneHot writes int32 whatever dtype it is asked for: cast instead.
  return tf.cast(tf.oneHot(tf.argMax(x, -1), x.shape[x.rank - 1]!), 'float32');
}

type SoftmaxKind = 'Softmax' | 'LogSoftmax' | 'Hardmax';

const lastAxisOps: Record<SoftmaxKind, (tf: Tf, x: TfTensor) => TfTensor> = {
  Softmax: (tf, x) => tf.softmax(x),
  LogSoftmax: (tf, x) => tf.logSoftmax(x),
  Hardmax: hardmaxLastAxis,
};

/**
 * Softmax, LogSoftmax, Hardmax. Before opset 13 the input is read as a matrix
 * [prod(dims before axis), prod(dims from axis)] (default axis 1) and the op runs along its
 * rows; since 13 it runs along the single `axis` (default -1).
 */
function softmaxFamily(opType: SoftmaxKind): Kernel {
  return (ctx) => {
    const tf = ctx.tf;
    const x = ctx.input(0);
    if (!isFloating(x.dtype)) ctx.invalid(`${opType} takes floating-point inputs, not ${x.dtype}`);
    const tensor = x.tensor;
    const lastAxis = (input: TfTensor): TfTensor => lastAxisOps[opType](tf, input);
    if (tensor.rank === 0) return same(x, tf.reshape(lastAxis(tf.reshape(tensor, [1])), []));
    if (ctx.opset < 13) {
      const axis = normalizeAxis(ctx, ctx.int('axis', 1), tensor.rank);
      if (axis === tensor.rank - 1) return same(x, lastAxis(tensor));
      const rows = tensor.shape.slice(0, axis).reduce((product, dim) => product * dim, 1);
      const columns = tensor.shape.slice(axis).reduce((product, dim) => product * dim, 1);
      return same(x, tf.reshape(lastAxis(tf.reshape(tensor, [rows, columns])), tensor.shape));
    }
    const axis = normalizeAxis(ctx, ctx.int('axis', -1), tensor.rank);
    if (opType === 'LogSoftmax' && axis !== tensor.rank - 1 && tensor.shape.slice(axis + 1).some((dim) => dim !== 1)) {
      return same(x, tf.sub(tensor, tf.logSumExp(tensor, axis, true)));
    }
    return same(x, alongAxis(tf, tensor, axis, lastAxis));
  };
}

const lossReductions = new Set(['none', 'sum', 'mean']);

/**
 * The negative log-likelihood of `logProb` [N, C, d1..dk] at `labels` [N, d1..dk] (int32
 * values): per element -logProb[n, label, d] · weight[label], 0 where label = ignore_index,
 * NaN where a label is outside [0, C) (onnxruntime rejects those; reading labels back to the
 * host would stall the pipeline). 'mean' divides the sum by the sum of the applied weights.
 */
function negativeLogLikelihood(ctx: KernelContext, logProb: TfTensor, labels: TfValue, weights: TfValue | undefined): TfTensor {
  const tf = ctx.tf;
  const reduction = ctx.string('reduction', 'mean');
  if (!lossReductions.has(reduction)) ctx.invalid(`reduction '${reduction}' is not one of none, mean, sum`);
  if (labels.dtype !== 'int32' && labels.dtype !== 'int64') ctx.invalid(`labels (input 1) are ${labels.dtype} but must be int32 or int64 class indices`);
  if (logProb.rank < 2) ctx.invalid(`scores (input 0) have rank ${logProb.rank} but need rank 2 or more ([N, C, d1, ...])`);
  const [batch, classes] = logProb.shape as [number, number];
  const perElementShape = [batch, ...logProb.shape.slice(2)];
  const expected = perElementShape.join(', ');
  if (labels.tensor.shape.join(', ') !== expected) ctx.invalid(`labels (input 1) have shape [${labels.tensor.shape.join(', ')}] but scores of shape [${logProb.shape.join(', ')}] need [${expected}]`);
  if (weights !== undefined && (weights.tensor.rank !== 1 || weights.tensor.shape[0] !== classes)) {
    ctx.invalid(`weights (input 2) have shape [${weights.tensor.shape.join(', ')}] but there are ${classes} classes`);
  }
  const spatial = logProb.size / Math.max(batch * classes, 1);
  const label = tf.reshape(labels.tensor, [batch, spatial]);
  const ignoreIndex = ctx.int('ignore_index');
  const inRange = tf.logicalAnd(tf.greaterEqual(label, tf.scalar(0, 'int32')), tf.less(label, tf.scalar(classes, 'int32')));
  const ignored = ignoreIndex === undefined ? undefined : tf.equal(label, tf.scalar(ignoreIndex, 'int32'));
  const counted = ignored === undefined ? inRange : tf.logicalAnd(inRange, tf.logicalNot(ignored));
  const safeLabel = tf.where(counted, label, tf.zerosLike(label));
  // Flat position of logProb[n, label[n, d], d] in the [N·C·D] buffer.
  let flatIndex = tf.add(tf.reshape(tf.range(0, batch * classes, classes, 'int32'), [batch, 1]), safeLabel);
  if (spatial > 1) flatIndex = tf.add(tf.mul(flatIndex, tf.scalar(spatial, 'int32')), tf.reshape(tf.range(0, spatial, 1, 'int32'), [1, spatial]));
  const picked = tf.gather(tf.reshape(logProb, [-1]), flatIndex);
  let applied: TfTensor | undefined;
  if (weights !== undefined) applied = tf.gather(weights.tensor, safeLabel);
  if (ignored !== undefined) {
    const keep = tf.cast(tf.logicalNot(ignored), 'float32');
    applied = applied === undefined ? keep : tf.mul(applied, keep);
  }
  let loss = applied === undefined ? tf.neg(picked) : tf.mul(tf.neg(picked), applied);
  const invalid = ignored === undefined ? tf.logicalNot(inRange) : tf.logicalNot(tf.logicalOr(inRange, ignored));
  loss = tf.where(invalid, tf.fill(loss.shape, Number.NaN), loss);
  if (reduction === 'none') return tf.reshape(loss, perElementShape);
  if (reduction === 'sum') return tf.sum(loss);
  return applied === undefined ? tf.mean(loss) : tf.div(tf.sum(loss), tf.sum(applied));
}

function lossInputs(ctx: KernelContext): { scores: TfValue; labels: TfValue; weights: TfValue | undefined } {
  const scores = ctx.input(0);
  if (!isFloating(scores.dtype)) ctx.invalid(`scores (input 0) are ${scores.dtype} but must be floating point`);
  return { scores, labels: ctx.input(1), weights: ctx.has(2) ? ctx.input(2) : undefined };
}

/** log_softmax over axis 1 of [N, C, d1..dk]. */
function logSoftmaxOverClasses(tf: Tf, scores: TfTensor): TfTensor {
  if (scores.rank === 2) return tf.logSoftmax(scores);
  return tf.sub(scores, tf.logSumExp(scores, 1, true));
}

/** SoftmaxCrossEntropyLoss: NLL of log_softmax(scores, axis 1); output 1 (optional) is that log_softmax. */
function softmaxCrossEntropyLoss(ctx: KernelContext): (TfValue | undefined)[] {
  const { scores, labels, weights } = lossInputs(ctx);
  if (scores.tensor.rank < 2) ctx.invalid(`scores (input 0) have rank ${scores.tensor.rank} but need rank 2 or more ([N, C, d1, ...])`);
  const logProb = logSoftmaxOverClasses(ctx.tf, scores.tensor);
  const loss = same(scores, negativeLogLikelihood(ctx, logProb, labels, weights));
  const wantsLogProb = ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '';
  return wantsLogProb ? [loss, same(scores, logProb)] : [loss];
}

/** NegativeLogLikelihoodLoss on log-probabilities [N, C, d1..dk]. */
function negativeLogLikelihoodLoss(ctx: KernelContext): TfValue {
  const { scores, labels, weights } = lossInputs(ctx);
  return same(scores, negativeLogLikelihood(ctx, scores.tensor, labels, weights));
}

/** Reductions, arg-reductions, the softmax family and the classification losses. */
export const reduceKernels: KernelTable = {
  ...Object.fromEntries(Object.keys(REDUCE_AXES_INPUT_SINCE).map((opType) => [opType, reduce(opType)])),
  ArgMax: argReduce('ArgMax'),
  ArgMin: argReduce('ArgMin'),
  Softmax: softmaxFamily('Softmax'),
  LogSoftmax: softmaxFamily('LogSoftmax'),
  Hardmax: softmaxFamily('Hardmax'),
  SoftmaxCrossEntropyLoss: softmaxCrossEntropyLoss,
  NegativeLogLikelihoodLoss: negativeLogLikelihoodLoss,
};

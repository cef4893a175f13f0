import { getInt, getInts } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { dtypeToOnnx } from '../../ir/dtype.js';
import {
  emitOp,
  expandToInput,
  int64Constant,
  normalizeAxes,
  reciprocalCount,
  reduceSum,
  requireInputType,
  scalarConstant,
  unsqueeze,
} from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';
import { maximumGradient } from './pool-gradients.js';

/** The opset from which each reduction reads its axes from input 1. */
const axesInputSince: Record<string, number> = { ReduceSum: 13 };

/** The reduced axes (normalized), or undefined when the op is an identity (noop_with_empty_axes). */
function reducedAxes(ctx: GradientContext, rank: number): number[] | undefined {
  let axes: number[] | undefined;
  if (ctx.opset >= (axesInputSince[ctx.node.opType] ?? 18)) {
    if (ctx.inputs.length > 1 && ctx.inputs[1] !== '') {
      const constant = ctx.constant(1);
      if (constant === undefined) ctx.fail('the axes (input 1) are computed at run time; gradients need constant axes');
      axes = constant.toNumbers();
    }
  } else axes = getInts(ctx.node, 'axes');
  if (axes === undefined || axes.length === 0) {
    if (getInt(ctx.node, 'noop_with_empty_axes', 0) !== 0) return undefined;
    return Array.from({ length: rank }, (_, axis) => axis);
  }
  return normalizeAxes(ctx, axes, rank);
}

/** A value shaped like the reduction's output with the reduced axes kept (size 1). */
function keptDims(ctx: GradientContext, value: string, axes: readonly number[]): string {
  if (getInt(ctx.node, 'keepdims', 1) !== 0) return value;
  return unsqueeze(ctx, value, [...axes].sort((a, b) => a - b));
}

/** Broadcasts a reduction's output gradient back over the reduced axes of input 0. */
function expandBack(ctx: GradientContext, axes: readonly number[]): string {
  return expandToInput(ctx, keptDims(ctx, outputGradient(ctx), axes), 0);
}

/**
 * A reduction whose input gradient is the output gradient broadcast back, times a factor
 * built from X, the output Y (reduced axes kept) and the broadcast gradient.
 */
function reduction(factor?: (ctx: GradientContext, spread: string, output: () => string, axes: readonly number[]) => string): GradientRule {
  return (ctx) => {
    const input = requireInputType(ctx, 0);
    const axes = reducedAxes(ctx, input.shape.length);
    const extra = ctx.inputs.slice(1).map(() => undefined);
    if (axes === undefined) return [outputGradient(ctx), ...extra];
    const spread = expandBack(ctx, axes);
    const gradient = factor === undefined ? spread : factor(ctx, spread, () => keptDims(ctx, ctx.outputs[0]!, axes), axes);
    return [gradient, ...extra];
  };
}

/** ReduceProd: dX = dY · Π(others), exact where X has zeros (one zero takes the product of the rest, two or more give 0). */
function productGradient(ctx: GradientContext, spread: string, output: () => string, axes: readonly number[]): string {
  const dtype = requireInputType(ctx, 0).dtype;
  const x = ctx.inputs[0]!;
  const zero = scalarConstant(ctx, 0, dtype);
  const isZero = emitOp(ctx, 'Equal', [x, zero]);
  const nonZero = emitOp(ctx, 'Where', [isZero, scalarConstant(ctx, 1, dtype), x]);
  const axesInput = ctx.opset >= 18 ? { inputs: [nonZero, int64Constant(ctx, axes)], attributes: { keepdims: 1 } } : { inputs: [nonZero], attributes: { axes: [...axes], keepdims: 1 } };
  const productOfNonZero = ctx.emit({ opType: 'ReduceProd', ...axesInput }).outputs[0]!;
  const zeros = reduceSum(ctx, emitOp(ctx, 'Cast', [isZero], { to: dtypeToOnnx(dtype) }), axes, true);
  const noZero = emitOp(ctx, 'Equal', [zeros, zero]);
  const oneZero = emitOp(ctx, 'Equal', [zeros, scalarConstant(ctx, 1, dtype)]);
  const others = emitOp(ctx, 'Where', [noZero, emitOp(ctx, 'Div', [output(), nonZero]), emitOp(ctx, 'Where', [emitOp(ctx, 'And', [oneZero, isZero]), productOfNonZero, zero])]);
  return emitOp(ctx, 'Mul', [spread, others]);
}

/** ReduceMax and ReduceMin: dY to the elements equal to the extremum, shared between ties. */
function extremum(ctx: GradientContext): (string | undefined)[] {
  const rank = requireInputType(ctx, 0).shape.length;
  const axes = reducedAxes(ctx, rank);
  const extra = ctx.inputs.slice(1).map(() => undefined);
  if (axes === undefined) return [outputGradient(ctx), ...extra];
  return [maximumGradient(ctx, keptDims(ctx, ctx.outputs[0]!, axes), keptDims(ctx, outputGradient(ctx), axes), axes), ...extra];
}

/** The axes Softmax normalizes over: one axis since opset 13, the flattened tail before. */
function softmaxAxes(ctx: GradientContext, rank: number): number[] {
  const axis = normalizeAxes(ctx, [getInt(ctx.node, 'axis', ctx.opset >= 13 ? -1 : 1)], rank)[0]!;
  if (ctx.opset >= 13) return [axis];
  return Array.from({ length: rank - axis }, (_, offset) => axis + offset);
}

export const reduceGradients: Record<string, GradientRule> = {
  ReduceSum: reduction(),
  // The count comes from Shape at run time when a reduced axis (a batch) is symbolic.
  ReduceMean: reduction((ctx, spread, _output, axes) => emitOp(ctx, 'Mul', [spread, reciprocalCount(ctx, 0, axes, requireInputType(ctx, 0).dtype)])),
  ReduceSumSquare: reduction((ctx, spread) => emitOp(ctx, 'Mul', [spread, emitOp(ctx, 'Add', [ctx.inputs[0]!, ctx.inputs[0]!])])),
  ReduceL1: reduction((ctx, spread) => emitOp(ctx, 'Mul', [spread, emitOp(ctx, 'Sign', [ctx.inputs[0]!])])),
  // x / ‖x‖, and 0 where the norm is 0 (PyTorch's subgradient).
  ReduceL2: reduction((ctx, spread, output) => {
    const norm = output();
    const zero = scalarConstant(ctx, 0, requireInputType(ctx, 0).dtype);
    const scaled = emitOp(ctx, 'Where', [emitOp(ctx, 'Equal', [norm, zero]), zero, emitOp(ctx, 'Div', [spread, norm])]);
    return emitOp(ctx, 'Mul', [scaled, ctx.inputs[0]!]);
  }),
  // d log Σx = 1 / Σx = exp(−y).
  ReduceLogSum: reduction((ctx, spread, output) => emitOp(ctx, 'Mul', [spread, emitOp(ctx, 'Exp', [emitOp(ctx, 'Neg', [output()])])])),
  // d log Σ exp x = exp(x − y): the softmax over the reduced axes.
  ReduceLogSumExp: reduction((ctx, spread, output) => emitOp(ctx, 'Mul', [spread, emitOp(ctx, 'Exp', [emitOp(ctx, 'Sub', [ctx.inputs[0]!, output()])])])),
  ReduceProd: reduction(productGradient),
  ReduceMin: extremum,
  ReduceMax: extremum,
  Softmax(ctx) {
    // dx = y * (dy - sum(dy * y))
    const dy = outputGradient(ctx);
    const output = ctx.outputs[0]!;
    const axes = softmaxAxes(ctx, requireInputType(ctx, 0).shape.length);
    const dot = reduceSum(ctx, emitOp(ctx, 'Mul', [dy, output]), axes, true);
    return [emitOp(ctx, 'Mul', [output, emitOp(ctx, 'Sub', [dy, dot])])];
  },
  LogSoftmax(ctx) {
    // dx = dy - exp(y) * sum(dy)
    const dy = outputGradient(ctx);
    const axes = softmaxAxes(ctx, requireInputType(ctx, 0).shape.length);
    const total = reduceSum(ctx, dy, axes, true);
    return [emitOp(ctx, 'Sub', [dy, emitOp(ctx, 'Mul', [emitOp(ctx, 'Exp', [ctx.outputs[0]!]), total])])];
  },
  GlobalAveragePool(ctx) {
    const input = requireInputType(ctx, 0);
    const spatialAxes = Array.from({ length: input.shape.length - 2 }, (_, axis) => axis + 2);
    const spread = expandToInput(ctx, outputGradient(ctx), 0);
    return [emitOp(ctx, 'Mul', [spread, reciprocalCount(ctx, 0, spatialAxes, input.dtype)])];
  },
};

import { getInt, getInts } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import {
  emitOp,
  normalizeAxes,
  reduceSum,
  requireInputType,
  requireStaticShape,
  scalarConstant,
  shapeOfInput,
  unsqueeze,
} from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';
import { maximumGradient } from './pool-gradients.js';

/** The opset from which each reduction reads its axes from input 1. */
const axesInputSince: Record<string, number> = { ReduceSum: 13, ReduceMean: 18, ReduceMax: 18 };

/** The reduced axes (normalized), or undefined when the op is an identity (noop_with_empty_axes). */
function reducedAxes(ctx: GradientContext, rank: number): number[] | undefined {
  let axes: number[] | undefined;
  if (ctx.opset >= axesInputSince[ctx.node.opType]!) {
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

/** Broadcasts a reduction's output gradient back over the reduced axes of input 0. */
function expandBack(ctx: GradientContext, axes: readonly number[]): string {
  let gradient = outputGradient(ctx);
  if (getInt(ctx.node, 'keepdims', 1) === 0) gradient = unsqueeze(ctx, gradient, [...axes].sort((a, b) => a - b));
  return emitOp(ctx, 'Expand', [gradient, shapeOfInput(ctx, 0)]);
}

function reduction(mean: boolean): GradientRule {
  return (ctx) => {
    const input = requireInputType(ctx, 0);
    const axes = reducedAxes(ctx, input.shape.length);
    const extra = ctx.inputs.slice(1).map(() => undefined);
    if (axes === undefined) return [outputGradient(ctx), ...extra];
    let gradient = expandBack(ctx, axes);
    if (mean) {
      const shape = requireStaticShape(ctx, axes.map((axis) => input.shape[axis] ?? null), `the reduced axes of input 0 ('${ctx.inputs[0]!}')`);
      const count = shape.reduce((product, dim) => product * dim, 1);
      gradient = emitOp(ctx, 'Mul', [gradient, scalarConstant(ctx, 1 / count, input.dtype)]);
    }
    return [gradient, ...extra];
  };
}

/** The axes Softmax normalizes over: one axis since opset 13, the flattened tail before. */
function softmaxAxes(ctx: GradientContext, rank: number): number[] {
  const axis = normalizeAxes(ctx, [getInt(ctx.node, 'axis', ctx.opset >= 13 ? -1 : 1)], rank)[0]!;
  if (ctx.opset >= 13) return [axis];
  return Array.from({ length: rank - axis }, (_, offset) => axis + offset);
}

export const reduceGradients: Record<string, GradientRule> = {
  ReduceSum: reduction(false),
  ReduceMean: reduction(true),
  ReduceMax(ctx) {
    const rank = requireInputType(ctx, 0).shape.length;
    const axes = reducedAxes(ctx, rank);
    const extra = ctx.inputs.slice(1).map(() => undefined);
    if (axes === undefined) return [outputGradient(ctx), ...extra];
    const sorted = [...axes].sort((a, b) => a - b);
    const kept = getInt(ctx.node, 'keepdims', 1) !== 0;
    const output = kept ? ctx.outputs[0]! : unsqueeze(ctx, ctx.outputs[0]!, sorted);
    const gradient = kept ? outputGradient(ctx) : unsqueeze(ctx, outputGradient(ctx), sorted);
    return [maximumGradient(ctx, output, gradient, axes), ...extra];
  },
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
    const spatial = requireStaticShape(ctx, input.shape.slice(2), `the spatial axes of input 0 ('${ctx.inputs[0]!}')`);
    const count = spatial.reduce((product, dim) => product * dim, 1);
    const spread = emitOp(ctx, 'Expand', [outputGradient(ctx), shapeOfInput(ctx, 0)]);
    return [emitOp(ctx, 'Mul', [spread, scalarConstant(ctx, 1 / count, input.dtype)])];
  },
};

import { getFloat, getInt } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, normalizeAxes, reduceBroadcast, reduceMean, reduceSum, requireInputType, scalarConstant, unsqueeze } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Statistics of X over `axes` (kept as size 1): x̂ = (x − μ)·s with s = 1/√(σ² + ε). */
interface Standardized {
  normalized: string;
  inverseStd: string;
}

function standardize(ctx: GradientContext, axes: readonly number[], epsilon: number, saved?: { mean: string; inverseStd: string }): Standardized {
  const x = ctx.inputs[0]!;
  const dtype = requireInputType(ctx, 0).dtype;
  if (saved !== undefined) return { normalized: emitOp(ctx, 'Mul', [emitOp(ctx, 'Sub', [x, saved.mean]), saved.inverseStd]), inverseStd: saved.inverseStd };
  const centered = emitOp(ctx, 'Sub', [x, reduceMean(ctx, x, axes, true)]);
  const variance = reduceMean(ctx, emitOp(ctx, 'Mul', [centered, centered]), axes, true);
  const inverseStd = emitOp(ctx, 'Reciprocal', [emitOp(ctx, 'Sqrt', [emitOp(ctx, 'Add', [variance, scalarConstant(ctx, epsilon, dtype)])])]);
  return { normalized: emitOp(ctx, 'Mul', [centered, inverseStd]), inverseStd };
}

/**
 * dX of y = γ x̂ + β when x̂ standardizes over `axes` of each sample: with g = dY·γ,
 * dX = s · (g − mean(g) − x̂ · mean(g x̂)). The means are ReduceMean nodes, so the count
 * never needs a static size.
 */
function standardizedInputGradient(ctx: GradientContext, gain: string, axes: readonly number[], statistics: Standardized): string {
  const scaled = emitOp(ctx, 'Mul', [outputGradient(ctx), gain]);
  const meanScaled = reduceMean(ctx, scaled, axes, true);
  const meanProjection = reduceMean(ctx, emitOp(ctx, 'Mul', [scaled, statistics.normalized]), axes, true);
  const corrected = emitOp(ctx, 'Sub', [emitOp(ctx, 'Sub', [scaled, meanScaled]), emitOp(ctx, 'Mul', [statistics.normalized, meanProjection])]);
  return emitOp(ctx, 'Mul', [corrected, statistics.inverseStd]);
}

function refuseStatisticGradients(ctx: GradientContext): void {
  for (let index = 1; index < ctx.outputs.length; index++) {
    if (ctx.outputGradient(index) !== undefined) {
      ctx.fail(`a gradient flows into output ${index} ('${ctx.outputs[index]!}'), a saved statistic; only Y is differentiated, so compute the statistic from X with ReduceMean instead`);
    }
  }
}

/**
 * LayerNormalization (opset 17): statistics over axes [axis, rank) of each sample; Scale and
 * B broadcast to X[axis:], so their gradients sum dY·x̂ and dY over the leading axes (and any
 * broadcast ones). The optional Mean and InvStdDev outputs are reused when they have X's
 * precision (they are saved by the forward run) and are not themselves differentiated.
 */
function layerNormalization(ctx: GradientContext): (string | undefined)[] {
  refuseStatisticGradients(ctx);
  const input = requireInputType(ctx, 0);
  const rank = input.shape.length;
  const axis = normalizeAxes(ctx, [getInt(ctx.node, 'axis', -1)], rank)[0]!;
  const axes = Array.from({ length: rank - axis }, (_, offset) => axis + offset);
  const [meanOutput, inverseStdOutput] = [ctx.outputs[1], ctx.outputs[2]];
  const savedUsable = !!meanOutput && !!inverseStdOutput && ctx.outputType(1)?.dtype === input.dtype && ctx.outputType(2)?.dtype === input.dtype;
  const statistics = standardize(ctx, axes, getFloat(ctx.node, 'epsilon', 1e-5), savedUsable ? { mean: meanOutput, inverseStd: inverseStdOutput } : undefined);
  const gradients: (string | undefined)[] = ctx.inputs.map(() => undefined);
  const dy = outputGradient(ctx);
  if (ctx.needsGradient(0)) gradients[0] = standardizedInputGradient(ctx, ctx.inputs[1]!, axes, statistics);
  if (ctx.needsGradient(1)) gradients[1] = reduceBroadcast(ctx, emitOp(ctx, 'Mul', [dy, statistics.normalized]), input.shape, 1);
  if (ctx.inputs.length > 2 && ctx.inputs[2] !== '' && ctx.needsGradient(2)) gradients[2] = reduceBroadcast(ctx, dy, input.shape, 2);
  return gradients;
}

/** InstanceNormalization: statistics over the spatial axes of each sample and channel; scale and B are [C]. */
function instanceNormalization(ctx: GradientContext): (string | undefined)[] {
  const rank = requireInputType(ctx, 0).shape.length;
  const spatialAxes = Array.from({ length: rank - 2 }, (_, axis) => axis + 2);
  const statistics = standardize(ctx, spatialAxes, getFloat(ctx.node, 'epsilon', 1e-5));
  const dy = outputGradient(ctx);
  const perChannelAxes = [0, ...spatialAxes];
  const gradients: (string | undefined)[] = [undefined, undefined, undefined];
  // [C] → [C, 1, ...] broadcasts against [N, C, ...].
  if (ctx.needsGradient(0)) gradients[0] = standardizedInputGradient(ctx, unsqueeze(ctx, ctx.inputs[1]!, spatialAxes.map((axis) => axis - 1)), spatialAxes, statistics);
  if (ctx.needsGradient(1)) gradients[1] = reduceSum(ctx, emitOp(ctx, 'Mul', [dy, statistics.normalized]), perChannelAxes, false);
  if (ctx.needsGradient(2)) gradients[2] = reduceSum(ctx, dy, perChannelAxes, false);
  return gradients;
}

export const sampleNormalizationGradients: Record<string, GradientRule> = {
  LayerNormalization: layerNormalization,
  InstanceNormalization: instanceNormalization,
};

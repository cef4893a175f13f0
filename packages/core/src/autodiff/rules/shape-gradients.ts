import { getInts } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, inversePermutation, requireInputType, shapeOfInput } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Ops that only rearrange elements in row-major order: the gradient is reshaped back. Later inputs (shape, axes) take none. */
function reshapeBack(ctx: GradientContext): (string | undefined)[] {
  const gradient = emitOp(ctx, 'Reshape', [outputGradient(ctx), shapeOfInput(ctx, 0)]);
  return [gradient, ...ctx.inputs.slice(1).map(() => undefined)];
}

export const shapeGradients: Record<string, GradientRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose(ctx) {
    const rank = requireInputType(ctx, 0).shape.length;
    const perm = getInts(ctx.node, 'perm') ?? Array.from({ length: rank }, (_, axis) => rank - 1 - axis);
    return [emitOp(ctx, 'Transpose', [outputGradient(ctx)], { perm: inversePermutation(perm) })];
  },
};

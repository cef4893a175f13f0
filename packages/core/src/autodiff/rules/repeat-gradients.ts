import type { GradientContext } from '../../ops/registry.js';
import { emitOp, int64Constant, reduceSum, requireInputType, requireStaticShape } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/**
 * Tile: Y along axis i is r_i copies of X, so dY reshaped to [r0, d0, r1, d1, ...] and
 * summed over the r axes is dX. Needs X's shape and constant repeats.
 */
function tile(ctx: GradientContext): (string | undefined)[] {
  const shape = requireStaticShape(ctx, requireInputType(ctx, 0).shape, `input 0 ('${ctx.inputs[0]!}')`);
  const repeats = ctx.constant(1)?.toNumbers() ?? ctx.fail('its repeats (input 1) are computed at run time; gradients need constant repeats');
  const split: number[] = [];
  const summed: number[] = [];
  shape.forEach((dim, axis) => {
    const repeat = repeats[axis]!;
    if (repeat !== 1) {
      summed.push(split.length);
      split.push(repeat);
    }
    split.push(dim);
  });
  const dy = outputGradient(ctx);
  if (summed.length === 0) return [dy, undefined];
  return [reduceSum(ctx, emitOp(ctx, 'Reshape', [dy, int64Constant(ctx, split)]), summed, false), undefined];
}

export const repeatGradients: Record<string, GradientRule> = {
  Tile: tile,
};

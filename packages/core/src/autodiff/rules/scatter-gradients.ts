import { getInt, getString } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, requireInputType } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/**
 * ScatterElements: the updates' gradient is dY gathered at the indices (GatherElements).
 * Without reduction the data's gradient is dY with the overwritten places zeroed (a scatter
 * of zeros); with reduction 'add' every data element reaches Y unchanged, so it is dY.
 * mul, max and min reductions fail: their gradients depend on the values combined.
 */
function scatterElements(ctx: GradientContext): (string | undefined)[] {
  const reduction = getString(ctx.node, 'reduction', 'none');
  if (reduction !== 'none' && reduction !== 'add') ctx.fail(`reduction '${reduction}' has no gradient rule; only 'none' and 'add' are differentiated`);
  const axis = getInt(ctx.node, 'axis', 0);
  const dy = outputGradient(ctx);
  const indices = ctx.inputs[1]!;
  const gradients: (string | undefined)[] = [undefined, undefined, undefined];
  if (ctx.needsGradient(0)) {
    if (reduction === 'add') gradients[0] = dy;
    else {
      const zeros = emitOp(ctx, 'ConstantOfShape', [emitOp(ctx, 'Shape', [ctx.inputs[2]!])], { value: Tensor.from(requireInputType(ctx, 0).dtype, [1], [0]) });
      gradients[0] = emitOp(ctx, 'ScatterElements', [dy, indices, zeros], { axis });
    }
  }
  if (ctx.needsGradient(2)) gradients[2] = emitOp(ctx, 'GatherElements', [dy, indices], { axis });
  return gradients;
}

/** GatherElements: dY summed back into zeros at the indices (ScatterElements add, opset 16, sums repeats). */
function gatherElements(ctx: GradientContext): (string | undefined)[] {
  if (ctx.opset < 16) ctx.fail('indices may repeat, and summing their gradients needs ScatterElements with reduction (opset 16); import opset 16 or later');
  const zeros = emitOp(ctx, 'ConstantOfShape', [emitOp(ctx, 'Shape', [ctx.inputs[0]!])], { value: Tensor.from(requireInputType(ctx, 0).dtype, [1], [0]) });
  return [emitOp(ctx, 'ScatterElements', [zeros, ctx.inputs[1]!, outputGradient(ctx)], { axis: getInt(ctx.node, 'axis', 0), reduction: 'add' }), undefined];
}

export const scatterGradients: Record<string, GradientRule> = {
  ScatterElements: scatterElements,
  GatherElements: gatherElements,
};

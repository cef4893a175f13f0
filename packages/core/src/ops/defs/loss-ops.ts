import { isFloatDType } from '../../ir/dtype.js';
import { getString, type Dim, type TensorType } from '../../ir/graph.js';
import type { InferenceContext, OpDefinition } from '../registry.js';
import { mergeDims, requireDimsMatch, requireRank, typeWith } from './rule-helpers.js';

const reductions = new Set(['none', 'mean', 'sum']);

/**
 * Shared rule of SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss: scores/input
 * [N, C, D1..Dk], labels/target [N, D1..Dk] (int32 or int64), optional weights [C].
 * The loss is [N, D1..Dk] with reduction 'none', a scalar with 'mean' (default) or
 * 'sum'; SoftmaxCrossEntropyLoss's optional log_prob output has the scores' type.
 * ignore_index does not change shapes.
 */
function lossRule(ctx: InferenceContext, withLogProb: boolean): { types: (TensorType | undefined)[] } {
  const scores = ctx.requireInput(0);
  const labels = ctx.requireInput(1);
  if (!isFloatDType(scores.dtype)) ctx.fail(`scores (input 0) are ${scores.dtype} but must be floating point`);
  if (labels.dtype !== 'int32' && labels.dtype !== 'int64') ctx.fail(`labels (input 1) are ${labels.dtype} but must be int32 or int64 class indices`);
  requireRank(ctx, scores.shape, 'scores (input 0)', (rank) => rank >= 2, 'at least 2 (N, C, ...)');
  const reduction = getString(ctx.node, 'reduction', 'mean');
  if (!reductions.has(reduction)) ctx.fail(`reduction '${reduction}' is not one of none, mean, sum`);
  let perElement: Dim[] | undefined;
  if (scores.shape !== undefined) {
    const expected = [scores.shape[0]!, ...scores.shape.slice(2)];
    if (labels.shape !== undefined) {
      if (labels.shape.length !== expected.length) {
        ctx.fail(
          `labels have shape [${labels.shape.join(', ')}] but scores [${scores.shape.join(', ')}] need labels of rank ${expected.length} ` +
            '(the scores shape without the class axis)',
        );
      }
      expected.forEach((dim, axis) =>
        requireDimsMatch(ctx, dim, labels.shape![axis], `labels dimension ${axis} is ${String(labels.shape![axis])} but the scores need ${String(dim)}`),
      );
      perElement = expected.map((dim, axis) => mergeDims(dim, labels.shape![axis]));
    } else perElement = expected;
  } else if (labels.shape !== undefined) perElement = [...labels.shape];
  if (ctx.hasInput(2)) {
    const weights = ctx.requireInput(2);
    if (weights.dtype !== scores.dtype) ctx.fail(`weights (input 2) are ${weights.dtype} but the scores are ${scores.dtype}`);
    requireRank(ctx, weights.shape, 'weights (input 2)', (rank) => rank === 1, 'rank 1 ([C])');
    requireDimsMatch(ctx, weights.shape?.[0], scores.shape?.[1], `weights have ${String(weights.shape?.[0])} elements but there are ${String(scores.shape?.[1])} classes`);
  }
  const loss = reduction === 'none' ? typeWith(scores.dtype, perElement) : typeWith(scores.dtype, []);
  const types: (TensorType | undefined)[] = [loss];
  if (withLogProb && ctx.node.outputs.length > 1) types.push(typeWith(scores.dtype, scores.shape));
  return { types };
}

export const lossOps: OpDefinition[] = [
  { opType: 'SoftmaxCrossEntropyLoss', infer: (ctx) => lossRule(ctx, true) },
  { opType: 'NegativeLogLikelihoodLoss', infer: (ctx) => lossRule(ctx, false) },
];

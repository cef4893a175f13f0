import { dtypeFromOnnx, isFloatDType } from '../../ir/dtype.js';
import { getInt, type TensorType } from '../../ir/graph.js';
import type { InferenceContext, OpDefinition } from '../registry.js';
import { checkUnidirectionalBroadcast } from './broadcast.js';
import { mergeDims, normalizeAxis, requireDimsMatch, requireRank, requireSameDtype, typeWith } from './rule-helpers.js';

/** True when the node's optional output `index` is written (present and named). */
function hasOutput(ctx: InferenceContext, index: number): boolean {
  const name = ctx.node.outputs[index];
  return name !== undefined && name !== '';
}

/**
 * BatchNormalization: Y has X's type; scale, B, mean and var are [C] with C = X[1].
 * Training-mode outputs: opset 9-13 (running) mean, var, saved_mean, saved_var, of X's
 * type; opset 14+ running_mean and running_var, only with training_mode = 1; from
 * opset 15 scale/B (T1) and mean/var (T2) may differ from X in precision, and the
 * running statistics take T2.
 *
 * Parameters are scale and B; the running statistics are buffers, not parameters.
 * MACs: 0, as inference BatchNormalization folds into the preceding convolution.
 */
const batchNormalization: OpDefinition = {
  opType: 'BatchNormalization',
  parameterInputs: [1, 2],
  infer(ctx) {
    const input = ctx.requireInput(0);
    requireRank(ctx, input.shape, 'input X', (rank) => rank >= 2, 'at least 2 (N, C, ...)');
    let channels = input.shape?.[1] ?? null;
    const names = ['scale', 'B', 'input_mean', 'input_var'];
    for (let index = 1; index <= 4; index++) {
      const type = ctx.requireInput(index);
      const what = `${names[index - 1]} (input ${index})`;
      requireRank(ctx, type.shape, what, (rank) => rank === 1, 'rank 1 ([C])');
      requireDimsMatch(ctx, type.shape?.[0], channels, `${what} has ${String(type.shape?.[0])} elements but input X has ${String(channels)} channels`);
      channels = mergeDims(channels, type.shape?.[0]);
      if (!isFloatDType(type.dtype)) ctx.fail(`${what} is ${type.dtype} but must be a floating-point tensor`);
    }
    if (ctx.opset >= 15) {
      requireSameDtype(ctx, [1, 2]);
      requireSameDtype(ctx, [3, 4]);
    } else {
      requireSameDtype(ctx, [0, 1, 2, 3, 4]);
    }
    const statistics: TensorType = typeWith(ctx.opset >= 15 ? ctx.requireInput(3).dtype : input.dtype, [channels]);
    const types: (TensorType | undefined)[] = [typeWith(input.dtype, input.shape)];
    if (ctx.opset >= 14) {
      const training = getInt(ctx.node, 'training_mode', 0) === 1;
      if (!training && (hasOutput(ctx, 1) || hasOutput(ctx, 2))) {
        ctx.fail('writes running_mean/running_var but training_mode is 0; set training_mode = 1 or drop those outputs');
      }
      if (ctx.node.outputs.length > 3) ctx.fail(`has ${ctx.node.outputs.length} outputs but opset ${ctx.opset} allows 3 (Y, running_mean, running_var)`);
      if (ctx.node.outputs.length > 1) types.push(statistics, statistics);
    } else {
      if (ctx.node.outputs.length > 5) ctx.fail(`has ${ctx.node.outputs.length} outputs but opset ${ctx.opset} allows 5`);
      if (ctx.node.outputs.length > 1) types.push(statistics, statistics, typeWith(input.dtype, [channels]), typeWith(input.dtype, [channels]));
    }
    return { types: types.slice(0, Math.max(1, ctx.node.outputs.length)) };
  },
};

/**
 * LayerNormalization (opset 17): normalizes over axes [axis, rank). Y has X's type; the
 * optional Mean and InvStdDev are X[:axis] followed by ones, in stash_type's precision
 * (float32 by default). Scale and B broadcast to X[axis:].
 */
const layerNormalization: OpDefinition = {
  opType: 'LayerNormalization',
  parameterInputs: [1, 2],
  infer(ctx) {
    const input = ctx.requireInput(0);
    requireSameDtype(ctx, [0, 1, 2]);
    const types: (TensorType | undefined)[] = [typeWith(input.dtype, input.shape)];
    const stashType = dtypeFromOnnx(getInt(ctx.node, 'stash_type', 1), `node '${ctx.node.name}' attribute stash_type`);
    if (input.shape === undefined) {
      types.push({ dtype: stashType }, { dtype: stashType });
    } else {
      const rank = input.shape.length;
      const axis = normalizeAxis(ctx, getInt(ctx.node, 'axis', -1), rank);
      const normalized = input.shape.slice(axis);
      checkUnidirectionalBroadcast(ctx, ctx.requireInput(1).shape, normalized, 'Scale (input 1)');
      if (ctx.hasInput(2)) checkUnidirectionalBroadcast(ctx, ctx.requireInput(2).shape, normalized, 'B (input 2)');
      const statistics = [...input.shape.slice(0, axis), ...normalized.map(() => 1)];
      types.push(typeWith(stashType, statistics), typeWith(stashType, statistics));
    }
    return { types: types.slice(0, Math.max(1, ctx.node.outputs.length)) };
  },
};

/** InstanceNormalization and friends whose output has the input's type. */
const instanceNormalization: OpDefinition = {
  opType: 'InstanceNormalization',
  parameterInputs: [1, 2],
  infer(ctx) {
    const input = ctx.requireInput(0);
    requireSameDtype(ctx, [0, 1, 2]);
    requireRank(ctx, input.shape, 'input',  (rank) => rank >= 3, 'at least 3 (N, C, spatial...)');
    for (const index of [1, 2]) {
      const shape = ctx.requireInput(index).shape;
      requireDimsMatch(ctx, shape?.[0], input.shape?.[1], `input ${index} has ${String(shape?.[0])} elements but the input has ${String(input.shape?.[1])} channels`);
    }
    return { types: [typeWith(input.dtype, input.shape)] };
  },
};

export const normalizationOps: OpDefinition[] = [batchNormalization, layerNormalization, instanceNormalization];

import { getInt } from '../../ir/graph.js';
import type { OpDefinition } from '../registry.js';
import { inputElements, outputElements, requireRank, typeWith } from './rule-helpers.js';
import { readWindowAttributes, windowOutputDim } from './window-shape.js';

/**
 * MaxPool, AveragePool and LpPool: [N, C, D1..Dn] to [N, C, O1..On]. MaxPool's optional
 * second output (Indices) is int64 of the same shape. MACs (razor's convention): one
 * accumulate or compare per window element, so output elements × kernel volume.
 */
function windowPool(opType: string): OpDefinition {
  return {
    opType,
    infer(ctx) {
      const input = ctx.requireInput(0);
      requireRank(ctx, input.shape, 'input X', (rank) => rank >= 3, 'at least 3 (N, C, spatial...)');
      const withIndices = opType === 'MaxPool' && ctx.node.outputs.length > 1;
      if (input.shape === undefined) return { types: withIndices ? [{ dtype: input.dtype }, { dtype: 'int64' }] : [{ dtype: input.dtype }] };
      const window = readWindowAttributes(ctx, input.shape.length - 2);
      const ceilMode = getInt(ctx.node, 'ceil_mode', 0) === 1;
      if (opType === 'MaxPool' && getInt(ctx.node, 'storage_order', 0) !== 0 && getInt(ctx.node, 'storage_order', 0) !== 1) {
        ctx.fail(`storage_order ${getInt(ctx.node, 'storage_order', 0)} must be 0 (row major) or 1 (column major)`);
      }
      window.pads.forEach((pad, position) => {
        const axis = position % window.kernel.length;
        const kernel = window.kernel[axis];
        // ONNX Runtime refuses a pad as large as the kernel: a window would see only padding.
        if (typeof kernel === 'number' && pad >= kernel) ctx.fail(`pad ${pad} on spatial axis ${axis} must be smaller than the kernel size ${kernel}`);
      });
      const spatial = input.shape.slice(2).map((dim, axis) => windowOutputDim(ctx, dim, axis, window, ceilMode));
      const shape = [input.shape[0] ?? null, input.shape[1] ?? null, ...spatial];
      const types = [typeWith(input.dtype, shape)];
      if (withIndices) types.push(typeWith('int64', shape));
      return { types };
    },
    macs(ctx) {
      const window = ctx.node.attributes.get('kernel_shape');
      const kernel = window?.type === 'ints' ? window.value.reduce((product, size) => product * size, 1) : Number.NaN;
      return outputElements(ctx) * kernel;
    },
  };
}

/** GlobalAveragePool, GlobalMaxPool, GlobalLpPool: [N, C, D1..Dn] to [N, C, 1..1]. MACs: one per input element. */
function globalPool(opType: string): OpDefinition {
  return {
    opType,
    infer(ctx) {
      const input = ctx.requireInput(0);
      requireRank(ctx, input.shape, 'input X', (rank) => rank >= 3, 'at least 3 (N, C, spatial...)');
      if (input.shape === undefined) return { types: [{ dtype: input.dtype }] };
      const shape = input.shape.map((dim, axis) => (axis < 2 ? dim : 1));
      return { types: [typeWith(input.dtype, shape)] };
    },
    macs(ctx) {
      return inputElements(ctx);
    },
  };
}

export const poolOps: OpDefinition[] = [
  windowPool('MaxPool'),
  windowPool('AveragePool'),
  windowPool('LpPool'),
  globalPool('GlobalAveragePool'),
  globalPool('GlobalMaxPool'),
  globalPool('GlobalLpPool'),
];

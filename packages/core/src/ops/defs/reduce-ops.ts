import { getInt, getInts, type Dim, type Shape } from '../../ir/graph.js';
import type { InferenceContext, OpDefinition } from '../registry.js';
import { constantInts, inputElements, normalizeAxis, requireRank, typeWith } from './rule-helpers.js';

/** The opset from which each Reduce* op takes its axes as input 1 instead of an attribute. */
export const REDUCE_AXES_INPUT_SINCE: Readonly<Record<string, number>> = {
  ReduceSum: 13,
  ReduceMean: 18,
  ReduceMax: 18,
  ReduceMin: 18,
  ReduceProd: 18,
  ReduceL1: 18,
  ReduceL2: 18,
  ReduceLogSum: 18,
  ReduceLogSumExp: 18,
  ReduceSumSquare: 18,
};

function reducedShape(ctx: InferenceContext, shape: Shape, axes: readonly number[], keepDims: boolean): Dim[] {
  const normalized = new Set<number>();
  for (const axis of axes) {
    const resolved = normalizeAxis(ctx, axis, shape.length);
    if (normalized.has(resolved)) ctx.fail(`axes [${axes.join(', ')}] name axis ${resolved} twice`);
    normalized.add(resolved);
  }
  const result: Dim[] = [];
  shape.forEach((dim, axis) => {
    if (!normalized.has(axis)) result.push(dim);
    else if (keepDims) result.push(1);
  });
  return result;
}

/**
 * Reduce*: axes from the attribute (before ReduceSum-13 / other reductions-18) or from
 * input 1 (since). Empty axes reduce everything, unless noop_with_empty_axes = 1 makes
 * the op an identity. MACs: one accumulate per input element.
 */
function reduction(opType: string): OpDefinition {
  const since = REDUCE_AXES_INPUT_SINCE[opType]!;
  return {
    opType,
    infer(ctx) {
      const input = ctx.requireInput(0);
      const keepDims = getInt(ctx.node, 'keepdims', 1) !== 0;
      const noopWithEmptyAxes = getInt(ctx.node, 'noop_with_empty_axes', 0) !== 0;
      let axes: number[] | undefined;
      if (ctx.opset >= since) {
        if (ctx.node.attributes.has('axes')) ctx.fail(`takes axes as input 1 since opset ${since}, not as an attribute; move the axes to an int64 input`);
        if (ctx.hasInput(1)) {
          const axesType = ctx.requireInput(1);
          if (axesType.dtype !== 'int64') ctx.fail(`axes (input 1) is ${axesType.dtype} but must be int64`);
          requireRank(ctx, axesType.shape, 'axes (input 1)', (rank) => rank === 1, 'rank 1');
          axes = constantInts(ctx, 1);
          if (axes === undefined) {
            // Axes known only at run time: the rank survives with keepdims, and without it
            // when the number of axes is static.
            if (input.shape === undefined) return { types: [{ dtype: input.dtype }] };
            if (keepDims) return { types: [typeWith(input.dtype, input.shape.map(() => null))] };
            const count = axesType.shape?.[0];
            if (typeof count === 'number' && count > 0) return { types: [typeWith(input.dtype, new Array<Dim>(input.shape.length - count).fill(null))] };
            return { types: [{ dtype: input.dtype }] };
          }
        } else axes = [];
      } else {
        axes = getInts(ctx.node, 'axes') ?? [];
      }
      if (input.shape === undefined) return { types: [{ dtype: input.dtype }] };
      if (axes.length === 0) {
        if (noopWithEmptyAxes) return { types: [typeWith(input.dtype, input.shape)] };
        axes = input.shape.map((_, axis) => axis);
      }
      return { types: [typeWith(input.dtype, reducedShape(ctx, input.shape, axes, keepDims))] };
    },
    macs(ctx) {
      return inputElements(ctx);
    },
  };
}

/** ArgMax/ArgMin: int64 indices along `axis`. */
function argReduction(opType: string): OpDefinition {
  return {
    opType,
    infer(ctx) {
      const input = ctx.requireInput(0);
      if (input.shape === undefined) return { types: [{ dtype: 'int64' }] };
      const keepDims = getInt(ctx.node, 'keepdims', 1) !== 0;
      const axis = getInt(ctx.node, 'axis', 0);
      return { types: [typeWith('int64', reducedShape(ctx, input.shape, [axis], keepDims))] };
    },
  };
}

/**
 * Softmax, LogSoftmax, Hardmax: the output has the input's type. The default axis is 1
 * before opset 13 (the input is read as 2-D around it) and -1 since.
 */
function softmax(opType: string): OpDefinition {
  return {
    opType,
    infer(ctx) {
      const input = ctx.requireInput(0);
      if (input.shape !== undefined) {
        const axis = getInt(ctx.node, 'axis', ctx.opset >= 13 ? -1 : 1);
        normalizeAxis(ctx, axis, Math.max(input.shape.length, 1));
      }
      return { types: [typeWith(input.dtype, input.shape)] };
    },
  };
}

export const reduceOps: OpDefinition[] = [
  ...Object.keys(REDUCE_AXES_INPUT_SINCE).map(reduction),
  argReduction('ArgMax'),
  argReduction('ArgMin'),
  softmax('Softmax'),
  softmax('LogSoftmax'),
  softmax('Hardmax'),
];

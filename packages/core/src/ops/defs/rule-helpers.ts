import type { Dim, Shape, TensorType } from '../../ir/graph.js';
import type { CostContext, InferenceContext } from '../registry.js';

/** The number of elements of a shape when every dim is static, else undefined. */
export function staticSize(shape: Shape | undefined): number | undefined {
  if (shape === undefined) return undefined;
  let size = 1;
  for (const dim of shape) {
    if (typeof dim !== 'number') return undefined;
    size *= dim;
  }
  return size;
}

/** Elements of output `index` for a cost rule; NaN when unknown (the estimator reports it). */
export function outputElements(ctx: CostContext, index = 0): number {
  return staticSize(ctx.outputType(index)?.shape) ?? Number.NaN;
}

/** Elements of input `index` for a cost rule; NaN when unknown. */
export function inputElements(ctx: CostContext, index = 0): number {
  return staticSize(ctx.inputType(index)?.shape) ?? Number.NaN;
}

/** A static dim as a number for cost rules; NaN when symbolic or unknown. */
export function staticDim(dim: Dim | undefined): number {
  return typeof dim === 'number' ? dim : Number.NaN;
}

/** Resolves a possibly negative axis against `rank`, failing through the context when out of range. */
export function normalizeAxis(ctx: Pick<InferenceContext, 'fail'>, axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    ctx.fail(`${what} ${axis} is out of range for a rank-${rank} input; use a value in [${-rank}, ${rank - 1}]`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** A type with the same dtype and a given shape (undefined shape: rank unknown). */
export function typeWith(dtype: TensorType['dtype'], shape: Shape | undefined): TensorType {
  return shape === undefined ? { dtype } : { dtype, shape: [...shape] };
}

/** Fails unless every present input among `indices` has the dtype of the first. */
export function requireSameDtype(ctx: InferenceContext, indices: readonly number[]): TensorType['dtype'] {
  let dtype: TensorType['dtype'] | undefined;
  let first = -1;
  for (const index of indices) {
    if (!ctx.hasInput(index)) continue;
    const type = ctx.requireInput(index);
    if (dtype === undefined) {
      dtype = type.dtype;
      first = index;
    } else if (type.dtype !== dtype) {
      ctx.fail(`input ${index} is ${type.dtype} but input ${first} is ${dtype}; the inputs must have one element type (insert a Cast)`);
    }
  }
  if (dtype === undefined) return ctx.requireInput(indices[0] ?? 0).dtype;
  return dtype;
}

/** Fails when a static rank differs from what the op needs. */
export function requireRank(ctx: InferenceContext, shape: Shape | undefined, what: string, accepts: (rank: number) => boolean, expected: string): void {
  if (shape !== undefined && !accepts(shape.length)) {
    ctx.fail(`${what} has rank ${shape.length} (shape [${shape.map(String).join(', ')}]) but must be ${expected}`);
  }
}

/** Fails when two dims are both static and differ. */
export function requireDimsMatch(ctx: InferenceContext, left: Dim | undefined, right: Dim | undefined, message: string): void {
  if (typeof left === 'number' && typeof right === 'number' && left !== right) ctx.fail(message);
}

/** The more informative of two dims that must be equal (a static size wins, then a symbol). */
export function mergeDims(left: Dim | undefined, right: Dim | undefined): Dim {
  if (typeof left === 'number') return left;
  if (typeof right === 'number') return right;
  return left ?? right ?? null;
}

/** Integer values of a constant input (axes, pads), or undefined when not constant. */
export function constantInts(ctx: InferenceContext, index: number): number[] | undefined {
  if (!ctx.hasInput(index)) return undefined;
  const tensor = ctx.constant(index);
  return tensor?.toNumbers();
}

import { dtypeToOnnx, type DType } from '../ir/dtype.js';
import type { AttributeInput, Shape, TensorType } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import type { GradientContext } from '../ops/registry.js';

/** Emits one single-output node and returns its output name. */
export function emitOp(ctx: GradientContext, opType: string, inputs: readonly string[], attributes?: Record<string, AttributeInput | undefined>): string {
  return ctx.emit({ opType, inputs, ...(attributes ? { attributes } : {}) }).outputs[0]!;
}

/** A rank-0 constant of `dtype`. */
export function scalarConstant(ctx: GradientContext, value: number, dtype: DType): string {
  return ctx.addConstant(Tensor.from(dtype, [], [value]), `${ctx.node.name}_grad_scalar`);
}

/** A rank-1 int64 constant (shapes, axes, starts and ends). */
export function int64Constant(ctx: GradientContext, values: readonly number[]): string {
  return ctx.addConstant(Tensor.int64(values), `${ctx.node.name}_grad_ints`);
}

/** The type of input `index`, failing with a clear message when shape inference left it unknown. */
export function requireInputType(ctx: GradientContext, index: number): TensorType & { shape: Shape } {
  const type = ctx.inputType(index);
  if (type?.shape === undefined) {
    return ctx.fail(`the shape of input ${index} ('${ctx.inputs[index] ?? ''}') is unknown; give the graph inputs shapes (inferShapes inputShapes) before building gradients`);
  }
  return type as TensorType & { shape: Shape };
}

/** The type of output `index`, failing with a clear message when shape inference left it unknown. */
export function requireOutputType(ctx: GradientContext, index: number): TensorType & { shape: Shape } {
  const type = ctx.outputType(index);
  if (type?.shape === undefined) {
    return ctx.fail(`the shape of output ${index} ('${ctx.outputs[index] ?? ''}') is unknown; give the graph inputs shapes (inferShapes inputShapes) before building gradients`);
  }
  return type as TensorType & { shape: Shape };
}

/** Every dim as a number, or fails naming what needs a static shape. */
export function requireStaticShape(ctx: GradientContext, shape: Shape, what: string): number[] {
  if (!shape.every((dim): dim is number => typeof dim === 'number')) {
    return ctx.fail(`${what} has shape [${shape.map(String).join(', ')}], but its gradient rule needs static sizes there; fix the input shapes`);
  }
  return shape as number[];
}

/** The runtime shape of input `index`: a constant when static, else a Shape node. */
export function shapeOfInput(ctx: GradientContext, index: number): string {
  const shape = requireInputType(ctx, index).shape;
  if (shape.every((dim) => typeof dim === 'number')) return int64Constant(ctx, shape as number[]);
  return emitOp(ctx, 'Shape', [ctx.inputs[index]!]);
}

/** ReduceSum over `axes`, with the axes as an attribute before opset 13 and as input 1 since. */
export function reduceSum(ctx: GradientContext, value: string, axes: readonly number[], keepDims: boolean): string {
  const keepdims = keepDims ? 1 : 0;
  if (ctx.opset >= 13) return emitOp(ctx, 'ReduceSum', [value, int64Constant(ctx, axes)], { keepdims });
  return emitOp(ctx, 'ReduceSum', [value], { axes: [...axes], keepdims });
}

/** ReduceMean over `axes`, with the axes as an attribute before opset 18 and as input 1 since. */
export function reduceMean(ctx: GradientContext, value: string, axes: readonly number[], keepDims: boolean): string {
  const keepdims = keepDims ? 1 : 0;
  if (ctx.opset >= 18) return emitOp(ctx, 'ReduceMean', [value, int64Constant(ctx, axes)], { keepdims });
  return emitOp(ctx, 'ReduceMean', [value], { axes: [...axes], keepdims });
}

/** Unsqueeze at `axes` (attribute before opset 13, input since). */
export function unsqueeze(ctx: GradientContext, value: string, axes: readonly number[]): string {
  if (ctx.opset >= 13) return emitOp(ctx, 'Unsqueeze', [value, int64Constant(ctx, axes)]);
  return emitOp(ctx, 'Unsqueeze', [value], { axes: [...axes] });
}

/**
 * Sums a gradient computed in the broadcast shape `gradientShape` back to the shape of
 * input `index`: ReduceSum over the leading axes the input lacks and the axes where it
 * has size 1 but the gradient does not, then a Reshape to the input's shape. Every rule
 * whose op broadcasts (elementwise ops, MatMul batch axes, Gemm's C) goes through here.
 */
export function reduceBroadcast(ctx: GradientContext, gradient: string, gradientShape: Shape, index: number): string {
  const target = requireInputType(ctx, index).shape;
  const leading = gradientShape.length - target.length;
  if (leading < 0) ctx.fail(`input ${index} has rank ${target.length}, more than its gradient's ${gradientShape.length}`);
  const axes: number[] = [];
  for (let axis = 0; axis < gradientShape.length; axis++) {
    if (axis < leading) axes.push(axis);
    else if (target[axis - leading] === 1 && gradientShape[axis] !== 1) axes.push(axis);
  }
  if (axes.length === 0) return gradient;
  const summed = reduceSum(ctx, gradient, axes, true);
  // Only dropping leading axes changes the rank; size-1 axes are kept by keepdims.
  if (leading === 0) return summed;
  return emitOp(ctx, 'Reshape', [summed, shapeOfInput(ctx, index)]);
}

/** The permutation that undoes `perm`. */
export function inversePermutation(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((axis, position) => {
    inverse[axis] = position;
  });
  return inverse;
}

/** Normalizes axes against `rank` (negative axes count from the end). */
export function normalizeAxes(ctx: GradientContext, axes: readonly number[], rank: number): number[] {
  return axes.map((axis) => {
    if (axis < -rank || axis >= rank) ctx.fail(`axis ${axis} is out of range for rank ${rank}`);
    return axis < 0 ? axis + rank : axis;
  });
}

/** The floating-point dtype a rule computes in: output 0's, else input 0's. */
export function valueDtype(ctx: GradientContext): DType {
  return ctx.outputType(0)?.dtype ?? ctx.inputType(0)?.dtype ?? 'float32';
}

/**
 * 1 / (the number of elements of input `index` over `axes`), as a rank-0 value of `dtype`:
 * a constant when those sizes are static, else computed at run time from Shape (a symbolic
 * batch axis among the averaged ones), so mean-based gradients need no static batch.
 */
export function reciprocalCount(ctx: GradientContext, index: number, axes: readonly number[], dtype: DType): string {
  const shape = requireInputType(ctx, index).shape;
  const sizes = axes.map((axis) => shape[axis]);
  if (sizes.every((dim): dim is number => typeof dim === 'number')) {
    return scalarConstant(ctx, 1 / sizes.reduce((product, dim) => product * dim, 1), dtype);
  }
  const dims = emitOp(ctx, 'Gather', [emitOp(ctx, 'Shape', [ctx.inputs[index]!]), int64Constant(ctx, axes)], { axis: 0 });
  const count = ctx.opset >= 18 ? emitOp(ctx, 'ReduceProd', [dims], { keepdims: 0 }) : emitOp(ctx, 'ReduceProd', [dims], { axes: [0], keepdims: 0 });
  return emitOp(ctx, 'Reciprocal', [emitOp(ctx, 'Cast', [count], { to: dtypeToOnnx(dtype) })]);
}

/** `value` broadcast to the runtime shape of input `index`. */
export function expandToInput(ctx: GradientContext, value: string, index: number): string {
  return emitOp(ctx, 'Expand', [value, shapeOfInput(ctx, index)]);
}

import { ErrorCodes, fail } from '../../errors.js';
import { allocate, isBigIntDType, isIntegerDType, type DType, type TensorData } from '../../ir/dtype.js';
import { Tensor } from '../../ir/tensor.js';
import type { EvaluateContext } from '../registry.js';

// Host reference kernels for constant folding (shape arithmetic, small constants). They
// compute in float64 and round once into the output dtype; int64 values beyond 2^53 are
// not exact, which shape arithmetic never reaches.

/** Element values of a numeric or bool tensor as float64. */
export function toFloat64(tensor: Tensor): Float64Array {
  const data = tensor.data as TensorData;
  if (Array.isArray(data)) fail(ErrorCodes.UNSUPPORTED_DTYPE, 'string tensors are not folded');
  if (tensor.dtype === 'float16' || tensor.dtype === 'bfloat16') return Float64Array.from(tensor.toFloat32());
  if (isBigIntDType(tensor.dtype)) return Float64Array.from(data as BigInt64Array, Number);
  return Float64Array.from(data as Float32Array);
}

/** A tensor of `dtype` from float64 values (integers truncated, bool as 0/1). */
export function fromFloat64(dtype: DType, shape: readonly number[], values: Float64Array): Tensor {
  if (dtype === 'float32' || dtype === 'float64') {
    const data = allocate(dtype, values.length);
    data.set(values);
    return new Tensor(dtype, shape, data);
  }
  if (isBigIntDType(dtype)) {
    const data = allocate(dtype, values.length) as BigInt64Array;
    for (let index = 0; index < values.length; index++) data[index] = BigInt(Math.trunc(values[index]!));
    return new Tensor(dtype, shape, data);
  }
  if (dtype === 'bool') {
    const data = allocate('bool', values.length);
    for (let index = 0; index < values.length; index++) data[index] = values[index] ? 1 : 0;
    return new Tensor(dtype, shape, data);
  }
  return Tensor.from(dtype, shape, values);
}

/** The static shape several shapes broadcast to; fails through the context on a conflict. */
export function broadcastStatic(ctx: Pick<EvaluateContext, 'fail'>, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((shape) => shape.length));
  const result: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    let size = 1;
    for (const shape of shapes) {
      const dim = shape[axis - (rank - shape.length)] ?? 1;
      if (dim === 1) continue;
      if (size !== 1 && size !== dim) ctx.fail(`shapes ${shapes.map((entry) => `[${entry.join(', ')}]`).join(' and ')} cannot be broadcast together`);
      size = dim;
    }
    result.push(size);
  }
  return result;
}

/** For each output element, the index of the matching element of an input broadcast to `outputShape`. */
export function broadcastIndices(inputShape: readonly number[], outputShape: readonly number[]): Int32Array {
  const size = outputShape.reduce((product, dim) => product * dim, 1);
  const indices = new Int32Array(size);
  const rank = outputShape.length;
  const offset = rank - inputShape.length;
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let axis = rank - 1; axis >= offset; axis--) {
    const dim = inputShape[axis - offset]!;
    strides[axis] = dim === 1 ? 0 : stride;
    stride *= dim;
  }
  const counter = new Array<number>(rank).fill(0);
  let position = 0;
  for (let index = 0; index < size; index++) {
    indices[index] = position;
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]!++;
      position += strides[axis]!;
      if (counter[axis]! < outputShape[axis]!) break;
      position -= strides[axis]! * counter[axis]!;
      counter[axis] = 0;
    }
  }
  return indices;
}

/** Applies `operation` element by element over broadcast inputs. */
export function evaluateBroadcast(
  ctx: EvaluateContext,
  inputs: readonly Tensor[],
  outputDtype: DType,
  operation: (values: readonly number[]) => number,
): Tensor {
  const shape = broadcastStatic(ctx, inputs.map((input) => input.shape));
  const size = shape.reduce((product, dim) => product * dim, 1);
  const sources = inputs.map(toFloat64);
  const maps = inputs.map((input) => broadcastIndices(input.shape, shape));
  const values = new Float64Array(size);
  const args = new Array<number>(inputs.length).fill(0);
  for (let index = 0; index < size; index++) {
    for (let input = 0; input < inputs.length; input++) args[input] = sources[input]![maps[input]![index]!]!;
    values[index] = operation(args);
  }
  return fromFloat64(outputDtype, shape, values);
}

/** Applies `operation` to every element of one tensor. */
export function evaluateUnary(input: Tensor, outputDtype: DType, operation: (value: number) => number): Tensor {
  const source = toFloat64(input);
  const values = new Float64Array(source.length);
  for (let index = 0; index < source.length; index++) values[index] = operation(source[index]!);
  return fromFloat64(outputDtype, input.shape, values);
}

/** Integer division as ONNX Runtime computes it (truncation toward zero). */
export function divide(dtype: DType, left: number, right: number): number {
  if (isIntegerDType(dtype)) {
    return right === 0 ? 0 : Math.trunc(left / right);
  }
  return left / right;
}

/** Round half to even, as ONNX Round specifies. */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const difference = value - floor;
  if (difference < 0.5) return floor;
  if (difference > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}


import { ErrorCodes, fail } from '../errors.js';
import {
  allocate,
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  isBigIntDType,
  type DType,
  type DTypeArrays,
  type TensorData,
} from './dtype.js';

/** Row-major strides of a static shape, in elements (the last axis has stride 1). */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis]!;
  }
  return strides;
}

/** The number of elements of a static shape. */
export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/**
 * A host tensor: dtype, static shape and a typed array in row-major order.
 * Weights stay in typed arrays; nothing here creates per-element objects.
 */
export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DTypeArrays[D];

  constructor(dtype: D, shape: readonly number[], data?: DTypeArrays[D]) {
    for (const dim of shape) {
      if (!Number.isInteger(dim) || dim < 0) {
        fail(ErrorCodes.INVALID_ARGUMENT, `tensor shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
      }
    }
    const size = shapeSize(shape);
    const array = data ?? allocate(dtype, size);
    if (array.length !== size) {
      fail(
        ErrorCodes.SHAPE_MISMATCH,
        `a ${dtype} tensor of shape [${shape.join(', ')}] needs ${size} elements but its data has ${array.length}`,
      );
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = array;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of element data (strings: their UTF-8 length). */
  get byteLength(): number {
    const data = this.data as TensorData;
    if (Array.isArray(data)) return data.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    return data.byteLength;
  }

  /** A tensor of a given shape sharing this data. */
  reshape(shape: readonly number[]): Tensor<D> {
    return new Tensor(this.dtype, shape, this.data);
  }

  /** A deep copy. */
  clone(): Tensor<D> {
    const data = this.data as TensorData;
    const copy = (Array.isArray(data) ? [...data] : data.slice()) as DTypeArrays[D];
    return new Tensor(this.dtype, this.shape, copy);
  }

  /** Element `index` as a JavaScript number (int64 converted; float16 decoded). */
  numberAt(index: number): number {
    const value = (this.data as TensorData)[index];
    if (value === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `index ${index} is outside a tensor of ${this.size} elements`);
    if (typeof value === 'bigint') return Number(value);
    if (typeof value === 'string') return Number(value);
    if (this.dtype === 'float16') return float16ToFloat32(value);
    if (this.dtype === 'bfloat16') return bfloat16ToFloat32(value);
    return value;
  }

  /** All elements as JavaScript numbers. Meant for small tensors (shapes, indices, scalars). */
  toNumbers(): number[] {
    const result = new Array<number>(this.size);
    for (let index = 0; index < this.size; index++) result[index] = this.numberAt(index);
    return result;
  }

  /** A float32 copy of a numeric tensor (one pass, no per-element objects). */
  toFloat32(): Float32Array {
    const data = this.data as TensorData;
    if (this.dtype === 'float32') return (data as Float32Array).slice();
    if (Array.isArray(data)) fail(ErrorCodes.UNSUPPORTED_DTYPE, 'a string tensor has no float32 view');
    const result = new Float32Array(this.size);
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') {
      const decode = this.dtype === 'float16' ? float16ToFloat32 : bfloat16ToFloat32;
      const bits = data as Uint16Array;
      for (let index = 0; index < bits.length; index++) result[index] = decode(bits[index]!);
    } else if (isBigIntDType(this.dtype)) {
      const values = data as BigInt64Array;
      for (let index = 0; index < values.length; index++) result[index] = Number(values[index]!);
    } else {
      result.set(data as Float64Array);
    }
    return result;
  }

  /** A tensor of `dtype` from JavaScript numbers (or bigints for int64/uint64, strings for string). */
  static from<D extends DType>(dtype: D, shape: readonly number[], values: ArrayLike<number | bigint | string | boolean>): Tensor<D> {
    const data = allocate(dtype, values.length) as TensorData;
    for (let index = 0; index < values.length; index++) {
      const value = values[index]!;
      if (Array.isArray(data)) data[index] = String(value);
      else if (isBigIntDType(dtype)) {
        if (typeof value === 'number' && !Number.isFinite(value)) {
          fail(ErrorCodes.INVALID_ARGUMENT, `element ${index} is ${value}, which a ${dtype} tensor cannot hold`);
        }
        (data as BigInt64Array)[index] = BigInt(typeof value === 'number' ? Math.trunc(value) : (value as bigint));
      }
      // ONNX bool bytes are 0 or 1; any non-zero value is true.
      else if (dtype === 'bool') (data as Uint8Array)[index] = Number(value) !== 0 ? 1 : 0;
      else if (dtype === 'float16') (data as Uint16Array)[index] = float32ToFloat16(Number(value));
      else if (dtype === 'bfloat16') (data as Uint16Array)[index] = float32ToBfloat16(Number(value));
      else (data as Float32Array)[index] = Number(value);
    }
    return new Tensor(dtype, shape, data as DTypeArrays[D]);
  }

  /** A scalar (rank 0) tensor. */
  static scalar<D extends DType>(dtype: D, value: number | bigint | string | boolean): Tensor<D> {
    return Tensor.from(dtype, [], [value]);
  }

  /** A rank-1 int64 tensor, the form ONNX uses for shapes and axes. */
  static int64(values: readonly number[]): Tensor<'int64'> {
    return Tensor.from('int64', [values.length], values);
  }

  /** A float32 tensor from numbers or a Float32Array. */
  static float32(shape: readonly number[], values?: ArrayLike<number>): Tensor<'float32'> {
    if (values === undefined) return new Tensor('float32', shape);
    return new Tensor('float32', shape, values instanceof Float32Array ? values : Float32Array.from(values));
  }
}

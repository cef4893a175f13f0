import { ErrorCodes, Tensor, allocate, fail, float16ToFloat32, bfloat16ToFloat32, float32ToFloat16, float32ToBfloat16, type DType, type TensorData } from '@razor/core';
import type * as tfc from '@tensorflow/tfjs-core';

/** The tfjs-core namespace (one copy per process: every engine registers with it). */
export type Tf = typeof tfc;
export type TfTensor = tfc.Tensor;
export type TfDType = 'float32' | 'int32' | 'bool' | 'string';

/**
 * A value between nodes: a tfjs tensor and the ONNX element type it stands for. tfjs has only
 * float32, int32, bool and string, so every floating dtype travels as float32 and every integer
 * dtype (int8 to int64, unsigned included) as int32; `dtype` keeps what the graph says, and the
 * value becomes a host tensor of that dtype again when it leaves the session.
 */
export interface TfValue {
  readonly tensor: TfTensor;
  readonly dtype: DType;
}

const floats = new Set<DType>(['float32', 'float16', 'bfloat16', 'float64']);

/** The tfjs dtype an ONNX dtype travels as. */
export function tfDType(dtype: DType): TfDType {
  if (floats.has(dtype)) return 'float32';
  if (dtype === 'bool') return 'bool';
  if (dtype === 'string') return 'string';
  return 'int32';
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The most and least values of each integer dtype, as tfjs int32 holds them. */
export function integerRange(dtype: DType): [number, number] | undefined {
  switch (dtype) {
    case 'int8':
      return [-128, 127];
    case 'uint8':
      return [0, 255];
    case 'int16':
      return [-32768, 32767];
    case 'uint16':
      return [0, 65535];
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64':
      return [INT32_MIN, INT32_MAX];
    default:
      return undefined;
  }
}

/**
 * The values of a host tensor as the typed array tfjs takes. 64-bit integers must fit int32;
 * with `clampInt64` (initializers: Slice ends of INT64_MAX and the like) they are clamped instead,
 * which keeps their meaning wherever razor graphs use such sentinels.
 */
export function hostToTfData(tensor: Tensor, what: string, clampInt64 = false): Float32Array | Int32Array | Uint8Array | string[] {
  const data = tensor.data as TensorData;
  switch (tensor.dtype) {
    case 'float32':
      return data as Float32Array;
    case 'float64':
      return Float32Array.from(data as Float64Array);
    case 'float16':
    case 'bfloat16': {
      const decode = tensor.dtype === 'float16' ? float16ToFloat32 : bfloat16ToFloat32;
      const bits = data as Uint16Array;
      const result = new Float32Array(bits.length);
      for (let index = 0; index < bits.length; index++) result[index] = decode(bits[index]!);
      return result;
    }
    case 'bool':
      return data as Uint8Array;
    case 'string':
      return data as string[];
    case 'int32':
      return data as Int32Array;
    case 'int64':
    case 'uint64':
    case 'uint32': {
      const values = data as BigInt64Array | BigUint64Array | Uint32Array;
      const result = new Int32Array(values.length);
      for (let index = 0; index < values.length; index++) {
        let value = Number(values[index]!);
        if (value > INT32_MAX || value < INT32_MIN) {
          if (!clampInt64) {
            fail(
              ErrorCodes.UNSUPPORTED_DTYPE,
              `${what} holds ${String(values[index])} at element ${index}, outside the int32 range TensorFlow.js computes integers in; feed values between ${INT32_MIN} and ${INT32_MAX}, or use the onnxruntime backend`,
            );
          }
          value = value > 0 ? INT32_MAX : INT32_MIN;
        }
        result[index] = value;
      }
      return result;
    }
    default:
      return Int32Array.from(data as Int8Array);
  }
}

/** A host tensor as a tfjs value (a copy, owned by the caller). */
export function toTfValue(tf: Tf, tensor: Tensor, what: string, clampInt64 = false): TfValue {
  const data = hostToTfData(tensor, what, clampInt64);
  const type = tfDType(tensor.dtype);
  return { tensor: tf.tensor(type === 'bool' ? Uint8Array.from(data as Uint8Array) : (data as never), [...tensor.shape], type), dtype: tensor.dtype };
}

/** The contents of a tfjs value as a host tensor of its ONNX dtype (integers wrap as ONNX casts do). */
export async function toHostTensor(value: TfValue): Promise<Tensor> {
  const values = (await value.tensor.data()) as Float32Array | Int32Array | Uint8Array | string[];
  return hostTensorFrom(value.dtype, value.tensor.shape, values);
}

/** A host tensor of `dtype` from the values tfjs holds for it. */
export function hostTensorFrom(dtype: DType, shape: readonly number[], values: Float32Array | Int32Array | Uint8Array | string[] | ArrayLike<number>): Tensor {
  const size = values.length;
  if (dtype === 'string') return new Tensor('string', shape, Array.from(values as string[]));
  const data = allocate(dtype, size) as TensorData;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const encode = dtype === 'float16' ? float32ToFloat16 : float32ToBfloat16;
    const bits = data as Uint16Array;
    for (let index = 0; index < size; index++) bits[index] = encode((values as Float32Array)[index]!);
  } else if (dtype === 'int64' || dtype === 'uint64') {
    const target = data as BigInt64Array;
    for (let index = 0; index < size; index++) target[index] = BigInt(Math.trunc((values as Int32Array)[index]!));
  } else {
    (data as Float32Array).set(values as Float32Array);
  }
  return new Tensor(dtype, shape, data as never);
}

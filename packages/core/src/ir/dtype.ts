import { ErrorCodes, fail } from '../errors.js';

/** ONNX element types razor represents, by the names onnxruntime-common uses. */
export type DType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

/** The host array that holds a tensor of each dtype. float16/bfloat16 hold raw bits. */
export interface DTypeArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

export type TensorData = DTypeArrays[DType];
export type NumericDType = Exclude<DType, 'string'>;

interface DTypeInfo {
  onnx: number;
  bytes: number;
  array: { new (length: number): TensorData; new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData } | undefined;
}

const info: Record<DType, DTypeInfo> = {
  float32: { onnx: 1, bytes: 4, array: Float32Array as never },
  uint8: { onnx: 2, bytes: 1, array: Uint8Array as never },
  int8: { onnx: 3, bytes: 1, array: Int8Array as never },
  uint16: { onnx: 4, bytes: 2, array: Uint16Array as never },
  int16: { onnx: 5, bytes: 2, array: Int16Array as never },
  int32: { onnx: 6, bytes: 4, array: Int32Array as never },
  int64: { onnx: 7, bytes: 8, array: BigInt64Array as never },
  string: { onnx: 8, bytes: 0, array: undefined },
  bool: { onnx: 9, bytes: 1, array: Uint8Array as never },
  float16: { onnx: 10, bytes: 2, array: Uint16Array as never },
  float64: { onnx: 11, bytes: 8, array: Float64Array as never },
  uint32: { onnx: 12, bytes: 4, array: Uint32Array as never },
  uint64: { onnx: 13, bytes: 8, array: BigUint64Array as never },
  bfloat16: { onnx: 16, bytes: 2, array: Uint16Array as never },
};

const byOnnx = new Map<number, DType>(Object.entries(info).map(([name, entry]) => [entry.onnx, name as DType]));

const onnxNames: Record<number, string> = {
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ',
  21: 'UINT4',
  22: 'INT4',
  23: 'FLOAT4E2M1',
};

export const ALL_DTYPES: readonly DType[] = Object.keys(info) as DType[];

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(info, value);
}

/** The ONNX TensorProto.DataType number of a dtype. */
export function dtypeToOnnx(dtype: DType): number {
  return info[dtype].onnx;
}

/** The dtype of an ONNX TensorProto.DataType number; `where` names the value for the error. */
export function dtypeFromOnnx(code: number, where: string): DType {
  const dtype = byOnnx.get(code);
  if (dtype === undefined) {
    const name = onnxNames[code] ?? (code === 0 ? 'UNDEFINED' : `#${code}`);
    fail(
      ErrorCodes.UNSUPPORTED_DTYPE,
      `${where} has ONNX element type ${name}, which razor does not support; supported: ${ALL_DTYPES.join(', ')}`,
    );
  }
  return dtype;
}

/** Bytes per element (0 for string). */
export function dtypeSize(dtype: DType): number {
  return info[dtype].bytes;
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
}

export function isIntegerDType(dtype: DType): boolean {
  return !isFloatDType(dtype) && dtype !== 'bool' && dtype !== 'string';
}

export function isBigIntDType(dtype: DType): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

/** A zero-filled array for `length` elements of `dtype`. */
export function allocate<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  const ctor = info[dtype].array;
  if (ctor === undefined) return new Array<string>(length).fill('') as DTypeArrays[D];
  return new ctor(length) as DTypeArrays[D];
}

/**
 * A typed array of `dtype` over little-endian bytes. Copies once when the bytes are
 * not aligned for the element size, never per element.
 */
export function fromBytes<D extends NumericDType>(dtype: D, bytes: Uint8Array): DTypeArrays[D] {
  const size = info[dtype].bytes;
  const ctor = info[dtype].array!;
  if (bytes.byteLength % size !== 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const length = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) {
    return new ctor(bytes.buffer, bytes.byteOffset, length) as DTypeArrays[D];
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new ctor(copy.buffer, 0, length) as DTypeArrays[D];
}

/** The little-endian bytes of a numeric array (a view, no copy). */
export function toBytes(data: Exclude<TensorData, string[]>): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// float16 and bfloat16 conversions, used where razor computes on half values.
const floatView = new Float32Array(1);
const intView = new Uint32Array(floatView.buffer);

export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 31) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

export function float32ToFloat16(value: number): number {
  floatView[0] = value;
  const x = intView[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bfloat16ToFloat32(bits: number): number {
  intView[0] = bits << 16;
  return floatView[0]!;
}

export function float32ToBfloat16(value: number): number {
  floatView[0] = value;
  const x = intView[0]!;
  if (Number.isNaN(value)) return 0x7fc0;
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

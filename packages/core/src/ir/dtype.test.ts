import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { catchRazorError as caught } from '../testing/razor-errors.js';
import {
  ALL_DTYPES,
  allocate,
  bfloat16ToFloat32,
  dtypeFromOnnx,
  dtypeSize,
  dtypeToOnnx,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  fromBytes,
  isBigIntDType,
  isDType,
  isFloatDType,
  isIntegerDType,
  toBytes,
  type DType,
} from './dtype.js';

// onnx.TensorProto.DataType, as printed by the onnx Python package.
const onnxCodes: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
};

describe('ONNX element type codes', () => {
  it('maps every dtype to its ONNX code and back', () => {
    expect([...ALL_DTYPES].sort()).toEqual(Object.keys(onnxCodes).sort());
    for (const [dtype, code] of Object.entries(onnxCodes) as [DType, number][]) {
      expect(dtypeToOnnx(dtype)).toBe(code);
      expect(dtypeFromOnnx(code, 'tensor w')).toBe(dtype);
    }
  });

  it.each([
    [17, 'FLOAT8E4M3FN'],
    [22, 'INT4'],
    [0, 'UNDEFINED'],
    [14, 'COMPLEX64'],
    [99, '#99'],
  ])('rejects code %i as %s, naming the value', (code, name) => {
    const error = caught(() => dtypeFromOnnx(code, "initializer 'conv.weight'"));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_DTYPE);
    expect(error.code).toBe('RAZOR_UNSUPPORTED_DTYPE');
    expect(error.message).toContain("initializer 'conv.weight'");
    expect(error.message).toContain(name);
  });
});

describe('dtype predicates and sizes', () => {
  it('knows element sizes', () => {
    const sizes: Record<DType, number> = {
      float32: 4, float16: 2, bfloat16: 2, float64: 8, int8: 1, uint8: 1, int16: 2, uint16: 2,
      int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1, string: 0,
    };
    for (const dtype of ALL_DTYPES) expect(dtypeSize(dtype)).toBe(sizes[dtype]);
  });

  it('classifies dtypes', () => {
    expect(ALL_DTYPES.filter(isFloatDType).sort()).toEqual(['bfloat16', 'float16', 'float32', 'float64']);
    expect(ALL_DTYPES.filter(isIntegerDType).sort()).toEqual(['int16', 'int32', 'int64', 'int8', 'uint16', 'uint32', 'uint64', 'uint8']);
    expect(ALL_DTYPES.filter(isBigIntDType).sort()).toEqual(['int64', 'uint64']);
  });

  it('accepts only dtype names, not object prototype keys', () => {
    expect(isDType('float32')).toBe(true);
    expect(isDType('bfloat16')).toBe(true);
    expect(isDType('float')).toBe(false);
    expect(isDType(1)).toBe(false);
    expect(isDType('constructor')).toBe(false);
    expect(isDType('toString')).toBe(false);
    expect(isDType('__proto__')).toBe(false);
  });

  it('allocates zero-filled arrays of the right kind', () => {
    expect(allocate('int64', 3)).toEqual(new BigInt64Array(3));
    expect(allocate('float16', 2)).toBeInstanceOf(Uint16Array);
    expect(allocate('bool', 2)).toBeInstanceOf(Uint8Array);
    expect(allocate('string', 2)).toEqual(['', '']);
  });
});

describe('fromBytes / toBytes', () => {
  // float32 1.5 = 0x3fc00000, -2 = 0xc0000000 (little-endian).
  const float32Bytes = [0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0];

  it('views aligned bytes without copying', () => {
    const buffer = new Uint8Array(16);
    buffer.set(float32Bytes, 4);
    const view = fromBytes('float32', buffer.subarray(4, 12));
    expect(Array.from(view)).toEqual([1.5, -2]);
    expect(view.buffer).toBe(buffer.buffer);
    expect(view.byteOffset).toBe(4);
    buffer[11] = 0x40; // -2 becomes 2: the view shares memory.
    expect(view[1]).toBe(2);
  });

  it('copies unaligned bytes once, with correct values', () => {
    const buffer = new Uint8Array(16);
    buffer.set(float32Bytes, 3);
    const view = fromBytes('float32', buffer.subarray(3, 11));
    expect(Array.from(view)).toEqual([1.5, -2]);
    expect(view.buffer).not.toBe(buffer.buffer);
    expect(view.byteOffset).toBe(0);
    expect(view.buffer.byteLength).toBe(8);
    buffer[10] = 0x40;
    expect(view[1]).toBe(-2);
  });

  it('reads int64 (little-endian) from an unaligned offset', () => {
    const buffer = new Uint8Array(20);
    // -2 as int64: 0xfffffffffffffffe; 258 = 0x0102.
    buffer.set([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0, 0, 0, 0, 0, 0], 2);
    const values = fromBytes('int64', buffer.subarray(2, 18));
    expect(Array.from(values)).toEqual([-2n, 258n]);
    const unsigned = fromBytes('uint64', buffer.subarray(2, 10));
    expect(unsigned[0]).toBe(2n ** 64n - 2n);
  });

  it('rejects a byte count that is not a whole number of elements', () => {
    const error = caught(() => fromBytes('float32', new Uint8Array(6)));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain('6 bytes');
    expect(error.message).toContain('float32');
    expect(caught(() => fromBytes('int64', new Uint8Array(12))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(Array.from(fromBytes('int8', new Uint8Array([0xff, 0x7f])))).toEqual([-1, 127]);
  });

  it('toBytes is a view of the same memory', () => {
    const values = new Int16Array([1, -2, 3]).subarray(1);
    const bytes = toBytes(values);
    expect(Array.from(bytes)).toEqual([0xfe, 0xff, 0x03, 0x00]);
    expect(bytes.buffer).toBe(values.buffer);
    expect(bytes.byteOffset).toBe(2);
  });
});

describe('float16', () => {
  // Bit patterns from numpy: np.float32(x).astype(np.float16).view(np.uint16).
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65519.996, 0x7bff],
    [65520, 0x7c00], // rounds up past the largest finite half
    [70000, 0x7c00],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
    [1e-8, 0x0000],
    [5.96e-8, 0x0001], // smallest subnormal
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // exactly half the smallest subnormal: ties to even (0)
    [2 ** -25 * 1.0000001, 0x0001], // just above half
    [3 * 2 ** -25, 0x0002], // 1.5 subnormal steps: ties to even (2)
    [2 ** -15 + 2 ** -25, 0x0200], // 512.5 subnormal steps: ties to even (512)
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // halfway between 0x3c00 and 0x3c01: ties to even
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: ties to even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above half
    [0.1, 0x2e66],
    [3.14159265, 0x4248],
    [-0, 0x8000],
    [0, 0x0000],
  ])('float32ToFloat16(%d) = %i', (value, bits) => {
    expect(float32ToFloat16(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    const bits = float32ToFloat16(Number.NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x3ff).not.toBe(0);
    expect(float16ToFloat32(bits)).toBeNaN();
  });

  it.each([
    [0x0001, 5.960464477539063e-8],
    [0x03ff, 6.097555160522461e-5],
    [0x0400, 6.103515625e-5],
    [0x3555, 0.333251953125],
    [0x3c01, 1.0009765625],
    [0x7bff, 65504],
    [0xc000, -2],
    [0x7c00, Number.POSITIVE_INFINITY],
    [0xfc00, Number.NEGATIVE_INFINITY],
  ])('float16ToFloat32(%i) = %d', (bits, value) => {
    expect(float16ToFloat32(bits)).toBe(value);
  });

  it('decodes -0 and NaN', () => {
    expect(Object.is(float16ToFloat32(0x8000), -0)).toBe(true);
    expect(float16ToFloat32(0x7e00)).toBeNaN();
  });

  it('round-trips every finite half exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      const value = float16ToFloat32(bits);
      if (float32ToFloat16(value) !== bits) throw new Error(`0x${bits.toString(16)} -> ${value} -> 0x${float32ToFloat16(value).toString(16)}`);
    }
  });
});

describe('bfloat16', () => {
  // Bit patterns from torch: torch.tensor([x]).to(torch.bfloat16).view(torch.int16).
  it.each([
    [1, 0x3f80],
    [-1, 0xbf80],
    [1 + 2 ** -8, 0x3f80], // halfway: ties to even
    [1 + 3 * 2 ** -8, 0x3f82], // halfway: ties to even (up)
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above half
    [3.14159265, 0x4049],
    [0.1, 0x3dcd],
    [Number.POSITIVE_INFINITY, 0x7f80],
    [-0, 0x8000],
    [3.3895313892515355e38, 0x7f7f], // largest finite bfloat16
    [1e-40, 0x0001], // subnormal
  ])('float32ToBfloat16(%d) = %i', (value, bits) => {
    expect(float32ToBfloat16(value)).toBe(bits);
  });

  it('decodes bits, with values from torch', () => {
    expect(bfloat16ToFloat32(0x3f81)).toBe(1.0078125);
    expect(bfloat16ToFloat32(0x4049)).toBe(3.140625);
    expect(bfloat16ToFloat32(0x3dcd)).toBe(0.10009765625);
    expect(bfloat16ToFloat32(0x0001)).toBe(9.183549615799121e-41);
    expect(bfloat16ToFloat32(0xbf80)).toBe(-1);
    expect(bfloat16ToFloat32(0xff80)).toBe(Number.NEGATIVE_INFINITY);
    expect(Object.is(bfloat16ToFloat32(0x8000), -0)).toBe(true);
  });

  it('keeps NaN a NaN', () => {
    expect(bfloat16ToFloat32(float32ToBfloat16(Number.NaN))).toBeNaN();
  });
});

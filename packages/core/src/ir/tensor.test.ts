import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { catchRazorError as caught } from '../testing/razor-errors.js';
import type { NumericDType } from './dtype.js';
import { shapeSize, Tensor } from './tensor.js';

describe('Tensor constructor', () => {
  it('allocates zeros when no data is given', () => {
    const tensor = new Tensor('int32', [2, 3]);
    expect(tensor.size).toBe(6);
    expect(tensor.rank).toBe(2);
    expect(tensor.data).toEqual(new Int32Array(6));
    expect(new Tensor('float32', [0, 4]).size).toBe(0);
    expect(shapeSize([])).toBe(1);
    expect(shapeSize([2, 0, 5])).toBe(0);
  });

  it('freezes and copies the shape', () => {
    const shape = [2, 2];
    const tensor = new Tensor('float32', shape);
    shape[0] = 7;
    expect(tensor.shape).toEqual([2, 2]);
    expect(Object.isFrozen(tensor.shape)).toBe(true);
  });

  it.each([[[2, -1]], [[1.5]], [[Number.NaN]], [[Number.POSITIVE_INFINITY]]])('rejects shape %j', (shape) => {
    const error = caught(() => new Tensor('float32', shape));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain(`[${shape.join(', ')}]`);
  });

  it('rejects data of the wrong length', () => {
    const error = caught(() => new Tensor('float32', [2, 3], new Float32Array(5)));
    expect(error.code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(error.message).toContain('[2, 3]');
    expect(error.message).toContain('6 elements');
    expect(error.message).toContain('has 5');
    expect(caught(() => Tensor.from('int64', [3], [1, 2])).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });
});

describe('reshape and clone', () => {
  it('reshape shares data', () => {
    const tensor = Tensor.float32([2, 3], [1, 2, 3, 4, 5, 6]);
    const reshaped = tensor.reshape([3, 2]);
    expect(reshaped.shape).toEqual([3, 2]);
    expect(reshaped.data).toBe(tensor.data);
    reshaped.data[5] = 60;
    expect(tensor.data[5]).toBe(60);
    expect(caught(() => tensor.reshape([4, 2])).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });

  it('clone copies data', () => {
    const tensor = Tensor.float32([3], [1, 2, 3]);
    const copy = tensor.clone();
    expect(copy.data).not.toBe(tensor.data);
    copy.data[0] = 10;
    expect(tensor.data[0]).toBe(1);
    expect(Array.from(copy.data)).toEqual([10, 2, 3]);
    expect(copy.shape).toEqual([3]);

    const strings = Tensor.from('string', [2], ['a', 'b']);
    const stringCopy = strings.clone();
    stringCopy.data[0] = 'z';
    expect(strings.data).toEqual(['a', 'b']);
  });

  it('clone of a view copies only the viewed elements', () => {
    const backing = new Float32Array([9, 1, 2, 9]);
    const copy = new Tensor('float32', [2], backing.subarray(1, 3)).clone();
    expect(copy.data.buffer.byteLength).toBe(8);
    expect(Array.from(copy.data)).toEqual([1, 2]);
  });
});

describe('numberAt / toNumbers', () => {
  it('converts int64 and uint64 to numbers', () => {
    const tensor = new Tensor('int64', [3], new BigInt64Array([-3n, 0n, 2n ** 40n]));
    expect(tensor.numberAt(0)).toBe(-3);
    expect(tensor.toNumbers()).toEqual([-3, 0, 2 ** 40]);
    expect(new Tensor('uint64', [1], new BigUint64Array([2n ** 63n])).toNumbers()).toEqual([2 ** 63]);
  });

  it('decodes float16 and bfloat16 bits', () => {
    expect(new Tensor('float16', [3], new Uint16Array([0x3c00, 0xc000, 0x3555])).toNumbers()).toEqual([1, -2, 0.333251953125]);
    expect(new Tensor('bfloat16', [2], new Uint16Array([0x3f80, 0x4049])).toNumbers()).toEqual([1, 3.140625]);
  });

  it('reads bool and string elements', () => {
    expect(new Tensor('bool', [3], new Uint8Array([1, 0, 1])).toNumbers()).toEqual([1, 0, 1]);
    expect(Tensor.from('string', [2], ['4', '2.5']).toNumbers()).toEqual([4, 2.5]);
  });

  it('rejects an index outside the tensor', () => {
    const tensor = Tensor.float32([2], [1, 2]);
    const error = caught(() => tensor.numberAt(2));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain('index 2');
    expect(error.message).toContain('2 elements');
    expect(caught(() => tensor.numberAt(-1)).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});

describe('toFloat32', () => {
  const cases: [NumericDType, Tensor][] = [
    ['float32', Tensor.float32([3], [1.5, -2, 0.25])],
    ['float64', new Tensor('float64', [3], new Float64Array([1.5, -2, 0.25]))],
    ['float16', new Tensor('float16', [3], new Uint16Array([0x3e00, 0xc000, 0x3400]))],
    ['bfloat16', new Tensor('bfloat16', [3], new Uint16Array([0x3fc0, 0xc000, 0x3e80]))],
  ];
  it.each(cases)('%s', (_dtype, tensor) => {
    const result = tensor.toFloat32();
    expect(result).toBeInstanceOf(Float32Array);
    expect(Array.from(result)).toEqual([1.5, -2, 0.25]);
  });

  it('float32 result is a copy', () => {
    const tensor = Tensor.float32([2], [1, 2]);
    const result = tensor.toFloat32();
    result[0] = 5;
    expect(tensor.data[0]).toBe(1);
  });

  it.each([
    ['int8', new Int8Array([-128, 0, 127]), [-128, 0, 127]],
    ['uint8', new Uint8Array([0, 128, 255]), [0, 128, 255]],
    ['int16', new Int16Array([-32768, 5, 32767]), [-32768, 5, 32767]],
    ['uint16', new Uint16Array([0, 1, 65535]), [0, 1, 65535]],
    ['int32', new Int32Array([-7, 0, 2 ** 24]), [-7, 0, 2 ** 24]],
    ['uint32', new Uint32Array([0, 3, 2 ** 32 - 1]), [0, 3, 2 ** 32]],
    ['int64', new BigInt64Array([-7n, 0n, 9n]), [-7, 0, 9]],
    ['uint64', new BigUint64Array([0n, 2n ** 64n - 1n, 9n]), [0, 2 ** 64, 9]],
    ['bool', new Uint8Array([1, 0, 1]), [1, 0, 1]],
  ] as const)('%s', (dtype, data, expected) => {
    expect(Array.from(new Tensor(dtype, [3], data as never).toFloat32())).toEqual(expected);
  });

  it('rejects a string tensor', () => {
    expect(caught(() => Tensor.from('string', [1], ['x']).toFloat32()).code).toBe(ErrorCodes.UNSUPPORTED_DTYPE);
  });
});

describe('Tensor.from', () => {
  it('builds each numeric dtype', () => {
    expect(Tensor.from('float32', [2], [0.1, -3]).data).toEqual(new Float32Array([0.1, -3]));
    expect(Tensor.from('float64', [1], [0.1]).data).toEqual(new Float64Array([0.1]));
    expect(Tensor.from('int8', [2], [-5, 7]).data).toEqual(new Int8Array([-5, 7]));
    expect(Tensor.from('uint8', [2], [200, 7]).data).toEqual(new Uint8Array([200, 7]));
    expect(Tensor.from('int16', [1], [-300]).data).toEqual(new Int16Array([-300]));
    expect(Tensor.from('uint16', [1], [60000]).data).toEqual(new Uint16Array([60000]));
    expect(Tensor.from('int32', [2], [-2.7, 2.7]).data).toEqual(new Int32Array([-2, 2]));
    expect(Tensor.from('uint32', [1], [4e9]).data).toEqual(new Uint32Array([4e9]));
    // float16 / bfloat16 encode to bits (numpy / torch patterns).
    expect(Tensor.from('float16', [3], [1, 65504, 0.1]).data).toEqual(new Uint16Array([0x3c00, 0x7bff, 0x2e66]));
    expect(Tensor.from('bfloat16', [2], [1, 0.1]).data).toEqual(new Uint16Array([0x3f80, 0x3dcd]));
  });

  it('builds int64 and uint64 from numbers, bigints and strings', () => {
    const tensor = Tensor.from('int64', [4], [3, -2.9, 2n ** 62n, '-9007199254740993']);
    expect(tensor.data).toEqual(new BigInt64Array([3n, -2n, 2n ** 62n, -9007199254740993n]));
    expect(Tensor.from('uint64', [2], [2n ** 64n - 1n, 5]).data).toEqual(new BigUint64Array([2n ** 64n - 1n, 5n]));
  });

  it('builds bool as 0/1 bytes', () => {
    const tensor = Tensor.from('bool', [4], [true, false, 0, 1]);
    expect(tensor.data).toEqual(new Uint8Array([1, 0, 0, 1]));
    expect(Tensor.from('bool', [2], [2, -1]).data).toEqual(new Uint8Array([1, 1]));
  });

  it('builds string tensors', () => {
    const tensor = Tensor.from('string', [3], ['a', 5, true]);
    expect(tensor.data).toEqual(['a', '5', 'true']);
  });

  it('scalar, int64, float32', () => {
    const scalar = Tensor.scalar('float32', 2.5);
    expect(scalar.shape).toEqual([]);
    expect(scalar.rank).toBe(0);
    expect(scalar.toNumbers()).toEqual([2.5]);
    expect(Tensor.scalar('int64', 7n).data).toEqual(new BigInt64Array([7n]));

    const axes = Tensor.int64([0, -1, 3]);
    expect(axes.dtype).toBe('int64');
    expect(axes.shape).toEqual([3]);
    expect(axes.data).toEqual(new BigInt64Array([0n, -1n, 3n]));

    const values = new Float32Array([1, 2, 3, 4]);
    const shared = Tensor.float32([2, 2], values);
    expect(shared.data).toBe(values);
    expect(Tensor.float32([2], [1.5, 2]).data).toEqual(new Float32Array([1.5, 2]));
    expect(Tensor.float32([2, 2]).data).toEqual(new Float32Array(4));
  });
});

describe('byteLength', () => {
  it('counts element bytes', () => {
    expect(Tensor.float32([2, 3]).byteLength).toBe(24);
    expect(new Tensor('int64', [5]).byteLength).toBe(40);
    expect(new Tensor('float16', [3]).byteLength).toBe(6);
    expect(new Tensor('bool', [3]).byteLength).toBe(3);
    // A view counts only its own elements.
    expect(new Tensor('float32', [2], new Float32Array(10).subarray(3, 5)).byteLength).toBe(8);
  });

  it('counts UTF-8 bytes of strings', () => {
    expect(Tensor.from('string', [3], ['ab', 'é', '😀']).byteLength).toBe(2 + 2 + 4);
  });
});

describe('Tensor.from with values an integer tensor cannot hold', () => {
  it.each([Number.NaN, Number.POSITIVE_INFINITY])('rejects %s for int64 with a RazorError', (value) => {
    const error = caught(() => Tensor.from('int64', [2], [1, value]));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toMatch(/element 1 is (NaN|Infinity), which a int64 tensor cannot hold/);
  });
});

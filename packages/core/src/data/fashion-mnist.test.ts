import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ErrorCodes } from '../errors.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { labelCounts } from './dataset.js';
import { FASHION_MNIST_CLASS_NAMES, loadFashionMnist, type FashionMnistDataset } from './fashion-mnist.js';

// tools/fixtures/data-reference.py re-implements the documented split in Python over the same JSON files.
const reference = JSON.parse(readFileSync(new URL('./__fixtures__/data-reference.json', import.meta.url), 'utf8')) as {
  fashionMnist: {
    skipped: [number, number, number][];
    trainCount: number;
    testCount: number;
  } & Record<'train' | 'test', { labels32: number[]; pixelSums8: number[]; pixelSum32: number }>;
};

const temporary = mkdtempSync(path.join(tmpdir(), 'razor-fashion-'));
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

function pixelSum(pixels: Uint8Array | Float32Array): number {
  let sum = 0;
  for (const value of pixels) sum += value;
  return sum;
}

describe('loadFashionMnist', () => {
  let train: FashionMnistDataset;
  let test: FashionMnistDataset;
  beforeAll(() => {
    train = loadFashionMnist({ split: 'train' });
    test = loadFashionMnist({ split: 'test' });
  });

  it('splits the 70,000 images into 60,000 train and 10,000 test, 6,000 and 1,000 per class', () => {
    expect(train.length).toBe(reference.fashionMnist.trainCount);
    expect(test.length).toBe(reference.fashionMnist.testCount);
    expect(train.length).toBe(60000);
    expect(test.length).toBe(10000);
    expect(labelCounts(train, 10)).toEqual(new Array(10).fill(6000));
    expect(labelCounts(test, 10)).toEqual(new Array(10).fill(1000));
    expect(train.sampleShape).toEqual([1, 28, 28]);
    expect(train.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
  });

  it('skips and reports the two empty rows of class 0', () => {
    const expected = reference.fashionMnist.skipped.map(([classIndex, row, length]) => ({ classIndex, row, reason: `${length} values instead of 784` }));
    expect(train.skippedRows).toEqual(expected);
    expect(test.skippedRows).toEqual(expected);
    expect(train.skippedRows).toHaveLength(2);
  });

  for (const split of ['train', 'test'] as const) {
    it(`orders the ${split} split as the documented seeded shuffle does`, () => {
      const dataset = split === 'train' ? train : test;
      const expected = reference.fashionMnist[split];
      expect(Array.from(dataset.labels.subarray(0, 32))).toEqual(expected.labels32);
      expect(pixelSum(dataset.images.subarray(0, 32 * 784))).toBe(expected.pixelSum32);
      for (let index = 0; index < 8; index++) {
        expect(pixelSum(dataset.images.subarray(index * 784, (index + 1) * 784))).toBe(expected.pixelSums8[index]);
      }
    });
  }

  it('gives the same split on every load, and a limit is a prefix of it', () => {
    const prefix = loadFashionMnist({ split: 'test', limit: 50 });
    expect(prefix.length).toBe(50);
    expect(prefix.images).toEqual(test.images.subarray(0, 50 * 784));
    expect(prefix.labels).toEqual(test.labels.subarray(0, 50));
  });
});

describe('loadFashionMnist on malformed files', () => {
  const row = (value: number): string => `[${new Array(784).fill(value).join(',')}]`;
  function writeClasses(directory: string, rows: (classIndex: number) => string[]): void {
    for (let classIndex = 0; classIndex < 10; classIndex++) {
      writeFileSync(path.join(directory, `${classIndex}.json`), `{"data": [\n${rows(classIndex).join(',\n')}\n]}\n`);
    }
  }

  it('skips rows of the wrong length or with values that are not pixels, and reports each', () => {
    const directory = mkdtempSync(path.join(temporary, 'rows-'));
    writeClasses(directory, (classIndex) =>
      classIndex === 3 ? [row(3), '[]', row(3), '[1, 2, 3]', `[${new Array(784).fill(7).join(', ')}]`, `[300${',1'.repeat(783)}]`, `[0.5${',1'.repeat(783)}]`] : [row(classIndex), row(classIndex)],
    );
    const dataset = loadFashionMnist({ split: 'train', directory });
    // Fewer than 6,000 rows per class: everything valid is training data.
    expect(dataset.length).toBe(9 * 2 + 3);
    expect(labelCounts(dataset, 10)).toEqual([2, 2, 2, 3, 2, 2, 2, 2, 2, 2]);
    expect(dataset.skippedRows).toEqual([
      { classIndex: 3, row: 1, reason: '0 values instead of 784' },
      { classIndex: 3, row: 3, reason: '3 values instead of 784' },
      { classIndex: 3, row: 5, reason: 'value 300 is not an integer 0-255' },
      { classIndex: 3, row: 6, reason: 'value 0.5 is not an integer 0-255' },
    ]);
    // Every image holds its class's fill value (class 3's whitespace-separated row holds 7).
    for (let index = 0; index < dataset.length; index++) {
      const pixels = dataset.images.subarray(index * 784, (index + 1) * 784);
      const label = dataset.labels[index]!;
      expect(pixels.every((value) => value === pixels[0])).toBe(true);
      expect([label, 7]).toContain(pixels[0]);
    }
    expect(loadFashionMnist({ split: 'test', directory }).length).toBe(0);
  });

  it('rejects a file that is not the expected JSON, naming the file and byte', () => {
    const directory = mkdtempSync(path.join(temporary, 'syntax-'));
    writeClasses(directory, (classIndex) => [row(classIndex)]);
    const broken = path.join(directory, '4.json');
    writeFileSync(broken, `{"data": [${row(4)}, [1, "2"]]}`);
    const error = catchRazorError(() => loadFashionMnist({ split: 'train', directory }));
    expect(error.code).toBe(ErrorCodes.INVALID_DATASET);
    expect(error.message).toContain(broken);
    expect(error.message).toMatch(/at byte \d+: expected a number/);

    writeFileSync(broken, `{"images": []}`);
    expect(catchRazorError(() => loadFashionMnist({ split: 'train', directory })).message).toContain(`expected '"data"'`);
    writeFileSync(broken, `{"data": [${row(4)}`);
    expect(catchRazorError(() => loadFashionMnist({ split: 'train', directory })).code).toBe(ErrorCodes.INVALID_DATASET);
  });

  it('names a missing class file', () => {
    const directory = mkdtempSync(path.join(temporary, 'missing-'));
    writeClasses(directory, (classIndex) => [row(classIndex)]);
    rmSync(path.join(directory, '7.json'));
    const error = catchRazorError(() => loadFashionMnist({ split: 'test', directory }));
    expect(error.code).toBe(ErrorCodes.FILE_NOT_FOUND);
    expect(error.message).toContain(path.join(directory, '7.json'));
    expect(error.message).toContain('fashion-mnist');
  });
});

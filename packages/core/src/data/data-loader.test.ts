import { describe, expect, it } from 'vitest';

import { ErrorCodes } from '../errors.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { DataLoader, type Batch } from './data-loader.js';
import { InMemoryDataset, sliceDataset, subsetDataset, type Dataset, type Sample } from './dataset.js';
import { loadMnist } from './mnist.js';
import { compose, normalize, randomCrop } from './transforms.js';

/** A dataset whose image `index` is filled with `index` and whose label is index mod 3. */
function indexDataset(length: number): InMemoryDataset {
  const images = new Float32Array(length * 4);
  const labels = new Int32Array(length);
  for (let index = 0; index < length; index++) {
    images.fill(index, index * 4, index * 4 + 4);
    labels[index] = index % 3;
  }
  return new InMemoryDataset({ images, labels, sampleShape: [1, 2, 2] });
}

/** The sample indices of a batch of an indexDataset, read back from the images. */
function samplesOf(batch: Batch): number[] {
  const result: number[] = [];
  for (let position = 0; position < batch.images.shape[0]!; position++) result.push(batch.images.data[position * 4]!);
  return result;
}

async function epochSamples(loader: AsyncIterable<Batch>): Promise<number[][]> {
  const batches: number[][] = [];
  for await (const batch of loader) batches.push(samplesOf(batch));
  return batches;
}

describe('DataLoader', () => {
  it('batches in dataset order with a short last batch, or drops it', async () => {
    const dataset = indexDataset(10);
    const loader = new DataLoader(dataset, { batchSize: 4 });
    expect(loader.length).toBe(3);
    const shapes: number[][] = [];
    const labels: bigint[][] = [];
    for await (const batch of loader) {
      shapes.push([...batch.images.shape]);
      labels.push(Array.from(batch.labels.data));
      expect(batch.images.dtype).toBe('float32');
      expect(batch.labels.dtype).toBe('int64');
      expect(batch.labels.shape).toEqual([batch.images.shape[0]]);
    }
    expect(shapes).toEqual([[4, 1, 2, 2], [4, 1, 2, 2], [2, 1, 2, 2]]);
    expect(labels).toEqual([[0n, 1n, 2n, 0n], [1n, 2n, 0n, 1n], [2n, 0n]]);
    expect(await epochSamples(loader.epoch(0))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);

    const dropping = new DataLoader(dataset, { batchSize: 4, dropLast: true });
    expect(dropping.length).toBe(2);
    expect(await epochSamples(dropping)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(new DataLoader(dataset, { batchSize: 5, dropLast: true }).length).toBe(2);
  });

  it('shuffles with a seeded order per epoch, visiting every sample exactly once', async () => {
    const dataset = indexDataset(50);
    const loader = new DataLoader(dataset, { batchSize: 8, shuffle: true, seed: 7 });
    const first = (await epochSamples(loader)).flat();
    const second = (await epochSamples(loader)).flat();
    expect([...first].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, index) => index));
    expect([...second].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, index) => index));
    expect(first).not.toEqual(second);
    expect(first).not.toEqual(Array.from({ length: 50 }, (_, index) => index));
    // for-await ran epochs 0 and 1: a fresh loader with the same seed replays them, in any order.
    const again = new DataLoader(dataset, { batchSize: 8, shuffle: true, seed: 7 });
    expect((await epochSamples(again.epoch(1))).flat()).toEqual(second);
    expect((await epochSamples(again.epoch(0))).flat()).toEqual(first);
    expect(Array.from(again.order(1))).toEqual(second);
    const otherSeed = new DataLoader(dataset, { batchSize: 8, shuffle: true, seed: 8 });
    expect(Array.from(otherSeed.order(0))).not.toEqual(first);
  });

  it('drops the tail of the shuffled order with dropLast', async () => {
    const loader = new DataLoader(indexDataset(10), { batchSize: 4, shuffle: true, seed: 3, dropLast: true });
    const batches = await epochSamples(loader.epoch(2));
    expect(batches.flat()).toEqual(Array.from(loader.order(2).subarray(0, 8)));
  });

  it('applies seeded transforms reproducibly', async () => {
    const dataset = loadMnist({ split: 'test', limit: 64 });
    const transform = compose([randomCrop({ padding: 4 }), normalize(0.1307, 0.3081)]);
    const collect = async (seed: number): Promise<Float32Array[]> => {
      const loader = new DataLoader(dataset, { batchSize: 16, shuffle: true, seed, transform });
      const images: Float32Array[] = [];
      for await (const batch of loader) images.push(batch.images.clone().data);
      return images;
    };
    const [first, same, other] = [await collect(5), await collect(5), await collect(6)];
    expect(first).toEqual(same);
    expect(first).not.toEqual(other);
  });

  it('resumes in the middle of an epoch with the batches an uninterrupted epoch has from there', async () => {
    const dataset = loadMnist({ split: 'test', limit: 80 });
    const transform = compose([randomCrop({ padding: 4 }), normalize(0.1307, 0.3081)]);
    const loader = new DataLoader(dataset, { batchSize: 16, shuffle: true, seed: 9, transform });
    const whole: Float32Array[] = [];
    for await (const batch of loader.epoch(2)) whole.push(batch.images.clone().data);
    const resumed: { index: number; images: Float32Array }[] = [];
    for await (const batch of new DataLoader(dataset, { batchSize: 16, shuffle: true, seed: 9, transform }).epoch(2, { startBatch: 3 })) {
      resumed.push({ index: batch.index, images: batch.images.clone().data });
    }
    expect(resumed.map((entry) => entry.index)).toEqual([3, 4]);
    expect(resumed.map((entry) => entry.images)).toEqual(whole.slice(3));
    expect(catchRazorError(() => loader.epoch(0, { startBatch: 6 })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });

  it('writes the dataset values, normalized, in shuffled order', async () => {
    const dataset = loadMnist({ split: 'train', limit: 256 });
    const loader = new DataLoader(dataset, { batchSize: 128, shuffle: true, seed: 1, transform: normalize(0.1307, 0.3081) });
    const order = loader.order(0);
    let position = 0;
    for await (const batch of loader) {
      expect(batch.images.shape).toEqual([128, 1, 28, 28]);
      for (let row = 0; row < 128; row++, position++) {
        const sample = order[position]!;
        expect(batch.labels.data[row]).toBe(BigInt(dataset.labels[sample]!));
        // Pixel 400 (row 14, column 8) of this sample.
        const expected = (dataset.images[sample * 784 + 400]! / 255 - 0.1307) / 0.3081;
        expect(batch.images.data[row * 784 + 400]).toBeCloseTo(expected, 5);
      }
    }
    expect(position).toBe(256);
  });

  it('prepares the next batch while the consumer awaits its work', async () => {
    const source = indexDataset(12);
    const reads: number[] = [];
    const counting: Dataset = {
      length: source.length,
      sampleShape: source.sampleShape,
      get: (index: number): Sample => source.get(index),
      read: (index, target, offset) => {
        reads.push(index);
        return source.read(index, target, offset);
      },
    };
    const iterator = new DataLoader(counting, { batchSize: 4 })[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(reads).toHaveLength(4);
    // Stands in for a backend run: the event loop turns while the consumer waits.
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reads).toHaveLength(8);
    await iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reads).toHaveLength(12);
    expect((await iterator.next()).done).toBe(false);
    expect((await iterator.next()).done).toBe(true);
    expect(reads).toHaveLength(12);
  });

  it('reuses its buffers: no allocation per batch', async () => {
    const loader = new DataLoader(indexDataset(16), { batchSize: 4 });
    const buffers = new Set<ArrayBufferLike>();
    for await (const batch of loader) buffers.add(batch.images.data.buffer);
    expect(buffers.size).toBe(2);
  });

  it('rejects bad options and reports dataset errors', async () => {
    expect(catchRazorError(() => new DataLoader(indexDataset(4), { batchSize: 0 })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(catchRazorError(() => new DataLoader(indexDataset(4), { batchSize: 2, seed: 0.5 })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(catchRazorError(() => new DataLoader(indexDataset(4), { batchSize: 2, transform: normalize([1, 2], 1) })).code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(catchRazorError(() => indexDataset(4).get(4)).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});

describe('dataset views', () => {
  it('slice and subset share memory and map indices', () => {
    const dataset = indexDataset(10);
    const slice = sliceDataset(dataset, 2, 5);
    expect(slice.length).toBe(3);
    expect(slice.get(0)).toEqual({ image: Float32Array.from([2, 2, 2, 2]), label: 2 });
    expect((slice as InMemoryDataset).images.buffer).toBe(dataset.images.buffer);
    expect(sliceDataset(dataset, -2).get(1).label).toBe(0);
    const subset = subsetDataset(dataset, [9, 0, 4]);
    expect([0, 1, 2].map((index) => subset.get(index).image[0])).toEqual([9, 0, 4]);
    const nested = sliceDataset(subset, 1);
    expect([0, 1].map((index) => nested.get(index).image[0])).toEqual([0, 4]);
    expect(catchRazorError(() => subsetDataset(dataset, [10])).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(catchRazorError(() => new InMemoryDataset({ images: new Uint8Array(10), labels: new Uint8Array(3), sampleShape: [1, 2, 2] })).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });
});

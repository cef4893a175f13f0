import { ErrorCodes, fail } from '../errors.js';
import { createRandom } from '../estimator/random-inputs.js';
import { shapeSize, Tensor } from '../ir/tensor.js';
import type { Dataset } from './dataset.js';
import type { Transform } from './transforms.js';

/** Options of a DataLoader. */
export interface DataLoaderOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Visit the samples in a new seeded random order each epoch (default false: dataset order). */
  shuffle?: boolean;
  /** Seed of the shuffle and of the transforms' randomness (default 0). */
  seed?: number;
  /** Leave out the last batch when it has fewer than `batchSize` samples (default false). */
  dropLast?: boolean;
  /** A per-sample transform (see `compose`), applied as each batch is filled. */
  transform?: Transform;
}

/** One batch: images float32 [N, C, H, W] and labels int64 [N]. */
export interface Batch {
  images: Tensor<'float32'>;
  labels: Tensor<'int64'>;
  /** The epoch this batch belongs to. */
  epoch: number;
  /** The batch's position in its epoch, from 0. */
  index: number;
}

// Streams derived from the seed are kept apart by mixing in fixed odd constants.
const ORDER_STREAM = 0x9e3779b9;
const TRANSFORM_STREAM = 0x85ebca6b;
const BATCH_STREAM = 0xc2b2ae35;

function mixSeed(seed: number, epoch: number, stream: number): number {
  let value = (Math.imul(seed >>> 0, 0x27d4eb2d) ^ Math.imul(epoch + 1, 0x165667b1) ^ stream) >>> 0;
  value = Math.imul(value ^ (value >>> 16), 0x7feb352d) >>> 0;
  return (value ^ (value >>> 15)) >>> 0;
}

interface BatchBuffers {
  images: Float32Array;
  labels: BigInt64Array;
}

/**
 * Batches of a Dataset for training and evaluation, as an async iterable.
 *
 * - Order: with `shuffle`, each epoch visits every sample exactly once in a Fisher–Yates order drawn
 *   from a generator seeded by (seed, epoch): the same seed and epoch always give the same order, so
 *   a resumed run sees the batches an uninterrupted one would. Transform randomness is seeded by
 *   (seed, epoch, batch) and drawn in sample order, so `epoch(n, { startBatch })` resumes in the
 *   middle of an epoch with exactly the batches an uninterrupted run gets from there.
 * - Memory: batches are written into two preallocated buffers (plus a pair for a short last batch),
 *   alternately; nothing is allocated per sample. A batch's tensors are therefore valid only until
 *   the next batch is requested (the batch after it is then filled into the same buffer): `clone()`
 *   them to keep them longer. Iterate one epoch of a loader at a time.
 * - Prefetch: when a batch is handed out, the next one is scheduled (setImmediate) and filled while
 *   the consumer awaits its own work, such as a backend's session.run, which runs off the JavaScript
 *   thread; the next request then awaits that one promise. One batch is prepared ahead, never more.
 *
 * `for await (const batch of loader)` runs the next epoch (0, 1, 2, …); `loader.epoch(n)` runs epoch n.
 */
export class DataLoader implements AsyncIterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly transform: Transform | undefined;
  /** The [C, H, W] shape of one image after the transform. */
  readonly sampleShape: readonly number[];
  private nextEpoch = 0;
  private readonly buffers: [BatchBuffers, BatchBuffers];
  private shortBuffers: [BatchBuffers, BatchBuffers] | undefined;
  private readonly scratch: Float32Array | undefined;
  private readonly sampleSize: number;
  private readonly inputSize: number;

  constructor(dataset: Dataset, options: DataLoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) fail(ErrorCodes.INVALID_ARGUMENT, `DataLoader batchSize must be a positive integer, got ${batchSize}`);
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) fail(ErrorCodes.INVALID_ARGUMENT, `DataLoader seed must be an integer, got ${seed}`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? false;
    this.seed = seed;
    this.dropLast = options.dropLast ?? false;
    this.transform = options.transform;
    this.inputSize = shapeSize(dataset.sampleShape);
    this.sampleShape = Object.freeze(this.transform === undefined ? [...dataset.sampleShape] : this.transform.outputShape(dataset.sampleShape));
    this.sampleSize = shapeSize(this.sampleShape);
    this.scratch = this.transform === undefined ? undefined : new Float32Array(this.inputSize);
    this.buffers = [this.allocate(batchSize), this.allocate(batchSize)];
  }

  /** Batches per epoch. */
  get length(): number {
    const full = Math.floor(this.dataset.length / this.batchSize);
    return this.dropLast || this.dataset.length % this.batchSize === 0 ? full : full + 1;
  }

  /** The order in which epoch `epoch` visits the dataset's samples (before dropping a short last batch). */
  order(epoch: number): Uint32Array {
    if (!Number.isInteger(epoch) || epoch < 0) fail(ErrorCodes.INVALID_ARGUMENT, `DataLoader epoch must be a non-negative integer, got ${epoch}`);
    const count = this.dataset.length;
    const order = new Uint32Array(count);
    for (let index = 0; index < count; index++) order[index] = index;
    if (!this.shuffle) return order;
    const random = createRandom(mixSeed(this.seed, epoch, ORDER_STREAM));
    for (let index = count - 1; index > 0; index--) {
      const other = Math.floor(random() * (index + 1));
      const held = order[index]!;
      order[index] = order[other]!;
      order[other] = held;
    }
    return order;
  }

  /**
   * The batches of epoch `epoch`, from batch `startBatch` (default 0: all of them); later
   * `for await` loops continue from epoch + 1.
   */
  epoch(epoch: number, options: { startBatch?: number } = {}): AsyncIterable<Batch> {
    const order = this.order(epoch);
    const startBatch = options.startBatch ?? 0;
    if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > this.length) {
      fail(ErrorCodes.INVALID_ARGUMENT, `DataLoader startBatch must be an integer from 0 to ${this.length} (the batches per epoch), got ${startBatch}`);
    }
    this.nextEpoch = Math.max(this.nextEpoch, epoch + 1);
    return { [Symbol.asyncIterator]: () => this.iterate(epoch, order, startBatch) };
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    const epoch = this.nextEpoch;
    this.nextEpoch = epoch + 1;
    return this.iterate(epoch, this.order(epoch));
  }

  private allocate(count: number): BatchBuffers {
    return { images: new Float32Array(count * this.sampleSize), labels: new BigInt64Array(count) };
  }

  private iterate(epoch: number, order: Uint32Array, startBatch = 0): AsyncIterator<Batch> {
    const batchCount = this.length;
    let requested = startBatch;
    let pending: Promise<Batch> | undefined;
    const prepare = (index: number): Promise<Batch> =>
      new Promise<Batch>((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(this.fill(epoch, index, order));
          } catch (error) {
            reject(error);
          }
        });
      });
    return {
      next: async (): Promise<IteratorResult<Batch>> => {
        if (requested >= batchCount) return { done: true, value: undefined };
        const current = pending ?? prepare(requested);
        requested++;
        const batch = await current;
        pending = requested < batchCount ? prepare(requested) : undefined;
        // The prefetch rejects into `pending`; keep it from being reported unhandled before it is awaited.
        pending?.catch(() => undefined);
        return { done: false, value: batch };
      },
      return: async (): Promise<IteratorResult<Batch>> => {
        requested = batchCount;
        pending = undefined;
        return { done: true, value: undefined };
      },
    };
  }

  private fill(epoch: number, index: number, order: Uint32Array): Batch {
    const start = index * this.batchSize;
    const count = Math.min(this.batchSize, order.length - start);
    let buffers: BatchBuffers;
    if (count === this.batchSize) {
      buffers = this.buffers[index % 2]!;
    } else {
      this.shortBuffers ??= [this.allocate(count), this.allocate(count)];
      buffers = this.shortBuffers[index % 2]!;
    }
    const { dataset, transform, scratch, sampleSize } = this;
    const random = transform === undefined ? undefined : createRandom(mixSeed(this.seed, epoch, (TRANSFORM_STREAM + Math.imul(index, BATCH_STREAM)) >>> 0));
    for (let position = 0; position < count; position++) {
      const sample = order[start + position]!;
      const offset = position * sampleSize;
      let label: number;
      if (transform === undefined) {
        label = dataset.read(sample, buffers.images, offset);
      } else {
        label = dataset.read(sample, scratch!, 0);
        transform.apply(scratch!, 0, dataset.sampleShape, buffers.images, offset, random!);
      }
      buffers.labels[position] = BigInt(label);
    }
    return {
      images: new Tensor('float32', [count, ...this.sampleShape], buffers.images),
      labels: new Tensor('int64', [count], buffers.labels),
      epoch,
      index,
    };
  }
}

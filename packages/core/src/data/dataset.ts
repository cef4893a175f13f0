import { ErrorCodes, fail } from '../errors.js';
import { shapeSize } from '../ir/tensor.js';

/** One sample: a float32 image of the dataset's `sampleShape` ([C, H, W]) and its class label. */
export interface Sample {
  image: Float32Array;
  label: number;
}

/**
 * A finite, indexable set of labelled images of one shape. `read` is the batch path: it writes a
 * sample as float32 into a caller's buffer, so a DataLoader fills a whole batch without creating
 * an object per sample; `get` is the convenient path for inspection and tests.
 */
export interface Dataset {
  /** The number of samples. */
  readonly length: number;
  /** The shape of one image, [channels, height, width]. */
  readonly sampleShape: readonly number[];
  /** Names of the classes, by label, when known. */
  readonly classNames?: readonly string[];
  /** Sample `index` as a fresh float32 image and its label. */
  get(index: number): Sample;
  /** Writes image `index` as float32 into `target` from `offset` and returns its label. */
  read(index: number, target: Float32Array, offset: number): number;
}

/** The images and labels an InMemoryDataset holds: every image in one typed array, row-major. */
export interface InMemoryDatasetOptions {
  /** All images back to back, `length × shapeSize(sampleShape)` elements. */
  images: Uint8Array | Float32Array;
  /** One label per image. */
  labels: Uint8Array | Int32Array | Uint16Array;
  /** The shape of one image, [channels, height, width]. */
  sampleShape: readonly number[];
  /** Multiplies each stored value when read; default 1/255 for Uint8Array images (pixels in [0, 1]), 1 for Float32Array. */
  scale?: number;
  /** Names of the classes, by label. */
  classNames?: readonly string[];
}

function checkIndex(index: number, length: number, what: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${what} index ${index} is outside the dataset of ${length} samples (valid: 0 to ${length - 1})`);
  }
}

/**
 * A dataset over typed arrays held in memory: images in one Uint8Array (scaled on read, so MNIST's
 * 60,000 images take 47 MB rather than 188 MB) or Float32Array, labels in one integer array.
 */
export class InMemoryDataset implements Dataset {
  readonly images: Uint8Array | Float32Array;
  readonly labels: Uint8Array | Int32Array | Uint16Array;
  readonly sampleShape: readonly number[];
  readonly sampleSize: number;
  readonly scale: number;
  readonly classNames?: readonly string[];

  constructor(options: InMemoryDatasetOptions) {
    const { images, labels, sampleShape } = options;
    if (sampleShape.length === 0 || sampleShape.some((dim) => !Number.isInteger(dim) || dim <= 0)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `a dataset's sample shape must be positive integers such as [1, 28, 28], got [${sampleShape.join(', ')}]`);
    }
    const sampleSize = shapeSize(sampleShape);
    if (images.length !== labels.length * sampleSize) {
      fail(
        ErrorCodes.SHAPE_MISMATCH,
        `a dataset of ${labels.length} labels with images of shape [${sampleShape.join(', ')}] needs ${labels.length * sampleSize} image elements, got ${images.length}`,
      );
    }
    this.images = images;
    this.labels = labels;
    this.sampleShape = Object.freeze([...sampleShape]);
    this.sampleSize = sampleSize;
    this.scale = options.scale ?? (images instanceof Uint8Array ? 1 / 255 : 1);
    if (options.classNames !== undefined) this.classNames = Object.freeze([...options.classNames]);
  }

  get length(): number {
    return this.labels.length;
  }

  get(index: number): Sample {
    const image = new Float32Array(this.sampleSize);
    const label = this.read(index, image, 0);
    return { image, label };
  }

  read(index: number, target: Float32Array, offset: number): number {
    checkIndex(index, this.labels.length, 'sample');
    const start = index * this.sampleSize;
    const end = start + this.sampleSize;
    const { images, scale } = this;
    if (scale === 1) {
      target.set(images.subarray(start, end), offset);
    } else {
      for (let source = start, destination = offset; source < end; source++, destination++) {
        target[destination] = images[source]! * scale;
      }
    }
    return this.labels[index]!;
  }

  /** Samples `start` (inclusive) to `end` (exclusive) as a dataset sharing this one's memory. */
  slice(start: number, end: number = this.length): InMemoryDataset {
    const [from, to] = clampRange(start, end, this.length);
    return new InMemoryDataset({
      images: this.images.subarray(from * this.sampleSize, to * this.sampleSize),
      labels: this.labels.subarray(from, to),
      sampleShape: this.sampleShape,
      scale: this.scale,
      ...(this.classNames === undefined ? {} : { classNames: this.classNames }),
    });
  }
}

function clampRange(start: number, end: number, length: number): [number, number] {
  if (!Number.isInteger(start) || !Number.isInteger(end)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `a dataset slice needs integer bounds, got ${start} to ${end}`);
  }
  const from = Math.min(Math.max(start < 0 ? length + start : start, 0), length);
  const to = Math.min(Math.max(end < 0 ? length + end : end, from), length);
  return [from, to];
}

/** A view of chosen samples of another dataset, in the given order; nothing is copied. */
export class SubsetDataset implements Dataset {
  readonly source: Dataset;
  readonly indices: Uint32Array;

  constructor(source: Dataset, indices: ArrayLike<number>) {
    const copy = Uint32Array.from(indices);
    for (let position = 0; position < indices.length; position++) {
      const index = indices[position]!;
      if (!Number.isInteger(index) || index < 0 || index >= source.length) {
        fail(ErrorCodes.INVALID_ARGUMENT, `subset index ${index} (position ${position}) is outside the dataset of ${source.length} samples`);
      }
    }
    this.source = source;
    this.indices = copy;
  }

  get length(): number {
    return this.indices.length;
  }

  get sampleShape(): readonly number[] {
    return this.source.sampleShape;
  }

  get classNames(): readonly string[] | undefined {
    return this.source.classNames;
  }

  get(index: number): Sample {
    checkIndex(index, this.indices.length, 'subset');
    return this.source.get(this.indices[index]!);
  }

  read(index: number, target: Float32Array, offset: number): number {
    checkIndex(index, this.indices.length, 'subset');
    return this.source.read(this.indices[index]!, target, offset);
  }
}

/** The samples of `dataset` at `indices`, in that order (a view). */
export function subsetDataset(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  return new SubsetDataset(dataset, indices);
}

/** Samples `start` (inclusive) to `end` (exclusive; negative counts from the end) of `dataset` (a view). */
export function sliceDataset(dataset: Dataset, start: number, end: number = dataset.length): Dataset {
  if (dataset instanceof InMemoryDataset) return dataset.slice(start, end);
  const [from, to] = clampRange(start, end, dataset.length);
  const indices = new Uint32Array(to - from);
  for (let position = 0; position < indices.length; position++) indices[position] = from + position;
  return new SubsetDataset(dataset, indices);
}

/** The number of samples of each label 0..classCount-1 (labels outside that range are not counted). */
export function labelCounts(dataset: Dataset, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  if (dataset instanceof InMemoryDataset) {
    for (const label of dataset.labels) if (label < classCount) counts[label]! += 1;
    return counts;
  }
  const scratch = new Float32Array(shapeSize(dataset.sampleShape));
  for (let index = 0; index < dataset.length; index++) {
    const label = dataset.read(index, scratch, 0);
    if (label >= 0 && label < classCount) counts[label]! += 1;
  }
  return counts;
}

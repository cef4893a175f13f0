import { ErrorCodes, fail } from '../errors.js';
import { dtypeSize, type DType, type DTypeArrays, type NumericDType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';

// NumPy's .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy type characters and sizes for each razor dtype numpy can hold. */
const npyCodes: Partial<Record<DType, string>> = {
  float16: 'f2',
  float32: 'f4',
  float64: 'f8',
  int8: 'i1',
  uint8: 'u1',
  int16: 'i2',
  uint16: 'u2',
  int32: 'i4',
  uint32: 'u4',
  int64: 'i8',
  uint64: 'u8',
  bool: 'b1',
};

const dtypeByCode = new Map<string, NumericDType>(
  Object.entries(npyCodes).map(([dtype, code]) => [code, dtype as NumericDType]),
);

function invalid(where: string, message: string): never {
  return fail(ErrorCodes.INVALID_TENSOR_FILE, `${where}: ${message}`);
}

/** The parsed header dictionary of a .npy file. */
interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/**
 * Parses the Python-literal dictionary numpy writes, e.g.
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
 * Only the literal forms numpy emits are accepted: strings, booleans, tuples of ints.
 */
function parseHeader(text: string, where: string): NpyHeader {
  let position = 0;
  const skipSpace = (): void => {
    while (position < text.length && /\s/.test(text[position]!)) position++;
  };
  const expect = (character: string): void => {
    skipSpace();
    if (text[position] !== character) invalid(where, `malformed .npy header (expected '${character}' at ${position}): ${text.trim()}`);
    position++;
  };
  const parseString = (): string => {
    skipSpace();
    const quote = text[position];
    if (quote !== "'" && quote !== '"') invalid(where, `malformed .npy header (expected a string at ${position}): ${text.trim()}`);
    const end = text.indexOf(quote, position + 1);
    if (end < 0) invalid(where, `malformed .npy header (unterminated string): ${text.trim()}`);
    const value = text.slice(position + 1, end);
    position = end + 1;
    return value;
  };
  const parseValue = (): string | boolean | number[] => {
    skipSpace();
    const character = text[position];
    if (character === "'" || character === '"') return parseString();
    if (text.startsWith('True', position)) {
      position += 4;
      return true;
    }
    if (text.startsWith('False', position)) {
      position += 5;
      return false;
    }
    if (character === '(') {
      position++;
      const items: number[] = [];
      for (;;) {
        skipSpace();
        if (text[position] === ')') {
          position++;
          return items;
        }
        const match = /^\d+L?/.exec(text.slice(position));
        if (!match) invalid(where, `malformed .npy header (expected a dimension at ${position}): ${text.trim()}`);
        items.push(Number.parseInt(match[0], 10));
        position += match[0].length;
        skipSpace();
        if (text[position] === ',') position++;
      }
    }
    if (character === '[') invalid(where, `structured dtypes (record arrays) are not supported; save a plain numeric array`);
    return invalid(where, `malformed .npy header (unexpected '${character ?? 'end'}' at ${position}): ${text.trim()}`);
  };

  const entries = new Map<string, string | boolean | number[]>();
  expect('{');
  for (;;) {
    skipSpace();
    if (text[position] === '}') break;
    const key = parseString();
    expect(':');
    entries.set(key, parseValue());
    skipSpace();
    if (text[position] === ',') position++;
  }
  const descr = entries.get('descr');
  const fortranOrder = entries.get('fortran_order');
  const shape = entries.get('shape');
  if (typeof descr !== 'string' || typeof fortranOrder !== 'boolean' || !Array.isArray(shape)) {
    invalid(where, `the .npy header needs 'descr', 'fortran_order' and 'shape': ${text.trim()}`);
  }
  return { descr, fortranOrder, shape };
}

/** Reverses the bytes of each element in place (big-endian ↔ little-endian). */
function swapBytes(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let offset = 0; offset < bytes.length; offset += elementSize) {
    for (let low = offset, high = offset + elementSize - 1; low < high; low++, high--) {
      const swap = bytes[low]!;
      bytes[low] = bytes[high]!;
      bytes[high] = swap;
    }
  }
}

/**
 * Decodes the bytes of a NumPy .npy file (format versions 1.0, 2.0 and 3.0; little- or
 * big-endian; C order) into a Tensor. `where` names the file in error messages.
 *
 * Fails with RAZOR_INVALID_TENSOR_FILE for anything else: Fortran order, structured or
 * object arrays, truncated data, dtypes razor has no counterpart for.
 */
export function decodeNpy(bytes: Uint8Array, where = 'tensor'): Tensor {
  if (bytes.length < 10 || magic.some((value, index) => bytes[index] !== value)) {
    invalid(where, 'not a NumPy .npy file (the file does not start with \\x93NUMPY)');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) invalid(where, 'the .npy header is truncated');
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    return invalid(where, `.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) invalid(where, 'the .npy header is truncated');
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const header = parseHeader(headerText, where);

  if (header.fortranOrder) {
    invalid(where, `the array is stored in Fortran order; save it in C order (numpy.ascontiguousarray) and try again`);
  }
  const order = header.descr[0];
  const code = order === '<' || order === '>' || order === '|' || order === '=' ? header.descr.slice(1) : header.descr;
  const dtype = dtypeByCode.get(code === '?' ? 'b1' : code);
  if (dtype === undefined) {
    invalid(
      where,
      `NumPy dtype '${header.descr}' is not supported; use one of ${Object.values(npyCodes).join(', ')} (with < or > byte order)`,
    );
  }
  const size = dtypeSize(dtype);
  const count = header.shape.reduce((product, dim) => product * dim, 1);
  const byteCount = count * size;
  if (bytes.length - dataStart < byteCount) {
    invalid(
      where,
      `the file is truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${byteCount} bytes of data but ${bytes.length - dataStart} are present`,
    );
  }
  // Copy into a fresh, aligned buffer: the file's bytes may be unaligned or shared.
  const data = new Uint8Array(byteCount);
  data.set(bytes.subarray(dataStart, dataStart + byteCount));
  if (order === '>') swapBytes(data, size);
  const typed = toTypedArray(dtype, data.buffer, count);
  return new Tensor(dtype, header.shape, typed);
}

function toTypedArray<D extends NumericDType>(dtype: D, buffer: ArrayBuffer, count: number): DTypeArrays[D] {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, 0, count) as DTypeArrays[D];
    case 'float64':
      return new Float64Array(buffer, 0, count) as DTypeArrays[D];
    case 'float16':
    case 'uint16':
    case 'bfloat16':
      return new Uint16Array(buffer, 0, count) as DTypeArrays[D];
    case 'int8':
      return new Int8Array(buffer, 0, count) as DTypeArrays[D];
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, 0, count) as DTypeArrays[D];
    case 'int16':
      return new Int16Array(buffer, 0, count) as DTypeArrays[D];
    case 'int32':
      return new Int32Array(buffer, 0, count) as DTypeArrays[D];
    case 'uint32':
      return new Uint32Array(buffer, 0, count) as DTypeArrays[D];
    case 'int64':
      return new BigInt64Array(buffer, 0, count) as DTypeArrays[D];
    case 'uint64':
      return new BigUint64Array(buffer, 0, count) as DTypeArrays[D];
    default:
      return fail(ErrorCodes.UNSUPPORTED_DTYPE, `no typed array for ${dtype as string}`);
  }
}

/**
 * Encodes a tensor as a NumPy .npy file: format 1.0 (2.0 when the header needs it),
 * little-endian, C order, header padded to 64 bytes as numpy does. bfloat16 and string
 * tensors have no NumPy dtype and fail with RAZOR_UNSUPPORTED_DTYPE.
 */
export function encodeNpy(tensor: Tensor, where = 'tensor'): Uint8Array {
  const code = npyCodes[tensor.dtype];
  if (code === undefined) {
    fail(
      ErrorCodes.UNSUPPORTED_DTYPE,
      `${where}: a ${tensor.dtype} tensor cannot be saved as .npy (NumPy has no ${tensor.dtype}); save it as .pb instead`,
    );
  }
  const descr = `${dtypeSize(tensor.dtype) === 1 ? '|' : '<'}${code}`;
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(', ')})`;
  const dictionary = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Header: magic (6) + version (2) + length (2 or 4) + dictionary + spaces + '\n', total a multiple of 64.
  let prefixLength = 10;
  let total = Math.ceil((prefixLength + dictionary.length + 1) / 64) * 64;
  if (total - prefixLength > 0xffff) {
    prefixLength = 12;
    total = Math.ceil((prefixLength + dictionary.length + 1) / 64) * 64;
  }
  const headerLength = total - prefixLength;
  const data = tensor.data as Exclude<DTypeArrays[DType], string[]>;
  const dataBytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const result = new Uint8Array(total + dataBytes.byteLength);
  result.set(magic, 0);
  result[6] = prefixLength === 10 ? 1 : 2;
  result[7] = 0;
  const view = new DataView(result.buffer);
  if (prefixLength === 10) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  const padded = dictionary.padEnd(headerLength - 1, ' ') + '\n';
  for (let index = 0; index < padded.length; index++) result[prefixLength + index] = padded.charCodeAt(index);
  result.set(dataBytes, total);
  return result;
}

import { readFile } from 'node:fs/promises';
import { ErrorCodes, errorMessage, fail } from '../errors.js';
import { fromBytes, toBytes, type DType, type NumericDType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { writeFileAtomically } from './atomic-write.js';

/**
 * The safetensors format (the Hugging Face `safetensors` library's): an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, an optional
 * `__metadata__` map of strings, then the raw little-endian data. Python reads these files
 * with `safetensors.numpy.load_file`, and checkpoints of razor's Trainer are written in it.
 */
const CODES: Record<NumericDType, string> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint64: 'U64',
  uint32: 'U32',
  uint16: 'U16',
  uint8: 'U8',
  bool: 'BOOL',
};
const DTYPES = new Map<string, NumericDType>(Object.entries(CODES).map(([dtype, code]) => [code, dtype as NumericDType]));
const ALIGNMENT = 8;
/** Headers beyond this size are refused as corrupt (the reference implementation's limit). */
const MAXIMUM_HEADER = 100_000_000;

/** The tensors and string metadata of a safetensors file. */
export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * The bytes of a safetensors file, as chunks to write back to back: the header, then each
 * tensor's data as a view of its own array (nothing is copied).
 */
export function encodeSafetensors(tensors: Readonly<Record<string, Tensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array[] {
  const header: Record<string, HeaderEntry | Record<string, string>> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (name === '__metadata__') fail(ErrorCodes.INVALID_ARGUMENT, `safetensors: '__metadata__' is reserved and cannot name a tensor`);
    if (tensor.dtype === 'string') fail(ErrorCodes.UNSUPPORTED_DTYPE, `safetensors: tensor '${name}' holds strings, which the format cannot store`);
    const bytes = toBytes(tensor.data as Exclude<Tensor['data'], string[]>);
    header[name] = { dtype: CODES[tensor.dtype as NumericDType], shape: [...tensor.shape], data_offsets: [offset, offset + bytes.byteLength] };
    data.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned.
  const padding = (ALIGNMENT - ((8 + Buffer.byteLength(json)) % ALIGNMENT)) % ALIGNMENT;
  json += ' '.repeat(padding);
  const text = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8 + text.byteLength);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(text.byteLength), true);
  prefix.set(text, 8);
  return [prefix, ...data];
}

/** Reads the bytes of a safetensors file; `where` names it in errors (RAZOR_INVALID_TENSOR_FILE). */
export function decodeSafetensors(bytes: Uint8Array, where = 'safetensors data'): SafetensorsContents {
  const bad = (reason: string): never => fail(ErrorCodes.INVALID_TENSOR_FILE, `${where}: not a valid safetensors file (${reason})`);
  if (bytes.byteLength < 8) bad(`${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > MAXIMUM_HEADER || 8 + headerLength > bytes.byteLength) bad(`a header of ${headerLength} bytes in a file of ${bytes.byteLength}; the file is truncated or corrupt`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (error) {
    return bad(`its header is not JSON: ${errorMessage(error)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('its header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Object.values(value).some((entry) => typeof entry !== 'string')) bad('__metadata__ is not a map of strings');
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    const entry = value as Partial<HeaderEntry> | null;
    const dtype = typeof entry?.dtype === 'string' ? DTYPES.get(entry.dtype) : undefined;
    if (dtype === undefined) bad(`tensor '${name}' has dtype ${JSON.stringify(entry?.dtype)}, which razor does not read`);
    const shape = entry!.shape;
    const offsets = entry!.data_offsets;
    if (!Array.isArray(shape) || shape.some((dim) => !Number.isInteger(dim) || dim < 0)) bad(`tensor '${name}' has shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(Number.isInteger) || offsets[0]! < 0 || offsets[1]! < offsets[0]! || offsets[1]! > data.byteLength) {
      bad(`tensor '${name}' has data offsets ${JSON.stringify(offsets)} outside the ${data.byteLength} data bytes; the file is truncated or corrupt`);
    }
    const chunk = data.subarray(offsets![0], offsets![1]);
    const elements = (shape as number[]).reduce((product, dim) => product * dim, 1);
    try {
      const array = fromBytes(dtype as NumericDType, chunk);
      if (array.length !== elements) bad(`tensor '${name}' of shape [${(shape as number[]).join(', ')}] has ${array.length} elements of data`);
      tensors[name] = new Tensor(dtype as DType, shape as number[], array as never);
    } catch (error) {
      return bad(`tensor '${name}': ${errorMessage(error)}`);
    }
  }
  return { tensors, metadata };
}

/** Writes tensors and string metadata as a safetensors file, atomically (temporary file, then rename). */
export async function saveSafetensors(path: string, tensors: Readonly<Record<string, Tensor>>, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  await writeFileAtomically(path, encodeSafetensors(tensors, metadata), 'the safetensors file');
}

/** Reads a safetensors file (RAZOR_FILE_NOT_FOUND, RAZOR_INVALID_TENSOR_FILE). */
export async function loadSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    return fail(ErrorCodes.FILE_NOT_FOUND, `${path}: cannot read the safetensors file (${errorMessage(error)})`, error);
  }
  return decodeSafetensors(bytes, path);
}

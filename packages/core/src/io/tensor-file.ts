import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ErrorCodes, RazorError, errorMessage, fail } from '../errors.js';
import type { Tensor } from '../ir/tensor.js';
import { ExternalDataReader } from '../onnx/onnx-external-data.js';
import { tensorFromProto, tensorToProto } from '../onnx/onnx-tensor.js';
import { TensorProtoSchema } from '../onnx/proto/onnx_pb.js';
import { writeFileAtomically } from './atomic-write.js';
import { decodeNpy, encodeNpy } from './npy.js';

/** The tensor file formats razor reads and writes. */
export type TensorFileFormat = 'npy' | 'pb';

/** A tensor read from a file, with the name stored in it (`.pb` files carry one; `.npy` files do not). */
export interface TensorFileContents {
  tensor: Tensor;
  /** The TensorProto's name, when the file is a `.pb` with a non-empty name. */
  name: string | undefined;
}

/**
 * The format of a tensor file from its extension: `.npy` (NumPy) or `.pb` (a serialized
 * ONNX TensorProto, as in the ONNX backend test data). A trailing `.gz` is looked through
 * for reading. Anything else fails with RAZOR_INVALID_TENSOR_FILE.
 */
export function tensorFileFormat(path: string): TensorFileFormat {
  const name = path.toLowerCase().endsWith('.gz') ? path.slice(0, -3) : path;
  const extension = extname(name).toLowerCase();
  if (extension === '.npy') return 'npy';
  if (extension === '.pb') return 'pb';
  return fail(
    ErrorCodes.INVALID_TENSOR_FILE,
    `${path}: unknown tensor file type '${extension || '(none)'}'; use .npy (NumPy) or .pb (ONNX TensorProto)`,
  );
}

/**
 * Decodes a serialized ONNX TensorProto. `where` names the file in messages; `baseDir`
 * is where a tensor stored as external data finds its data file.
 */
export function decodeTensorProto(bytes: Uint8Array, where = 'tensor', baseDir?: string): TensorFileContents {
  let proto;
  try {
    proto = fromBinary(TensorProtoSchema, bytes);
  } catch (error) {
    return fail(ErrorCodes.INVALID_TENSOR_FILE, `${where}: not a valid ONNX TensorProto (${errorMessage(error)})`, error);
  }
  if (proto.dims.length === 0 && proto.dataType === 0) {
    fail(ErrorCodes.INVALID_TENSOR_FILE, `${where}: not a valid ONNX TensorProto (no element type); check the file is a tensor saved with onnx.numpy_helper`);
  }
  const external = baseDir === undefined ? undefined : new ExternalDataReader(baseDir, where);
  try {
    const tensor = tensorFromProto(proto, { where: `tensor '${proto.name}'`, model: where, external });
    return { tensor, name: proto.name === '' ? undefined : proto.name };
  } catch (error) {
    // The ONNX reader speaks of models; a tensor file deserves its own code and wording.
    if (RazorError.isInstance(error) && error.code === ErrorCodes.INVALID_ONNX) {
      fail(ErrorCodes.INVALID_TENSOR_FILE, error.message.replace('is not a valid ONNX model', 'is not a valid ONNX TensorProto'), error);
    }
    throw error;
  } finally {
    external?.close();
  }
}

/** Serializes a tensor as an ONNX TensorProto (raw_data, or string_data for strings). */
export function encodeTensorProto(tensor: Tensor, name?: string): Uint8Array {
  return toBinary(TensorProtoSchema, tensorToProto(tensor, name, undefined));
}

/**
 * Reads a tensor file and the name stored in it: `.npy` (NumPy formats 1.0 to 3.0, either
 * byte order, C order) or `.pb` (ONNX TensorProto, with external data looked up beside
 * the file); `.npy.gz` and `.pb.gz` are decompressed first. A missing file is RAZOR_FILE_NOT_FOUND; bad contents are
 * RAZOR_INVALID_TENSOR_FILE naming the file.
 */
export async function readNamedTensorFile(path: string): Promise<TensorFileContents> {
  const format = tensorFileFormat(path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(
      code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' ? ErrorCodes.FILE_NOT_FOUND : ErrorCodes.INVALID_TENSOR_FILE,
      `${path}: cannot read the tensor file (${code === 'ENOENT' ? 'no such file' : errorMessage(error)})`,
      error,
    );
  }
  if (path.toLowerCase().endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      fail(ErrorCodes.INVALID_TENSOR_FILE, `${path}: not a valid gzip file (${errorMessage(error)})`, error);
    }
  }
  return format === 'npy' ? { tensor: decodeNpy(bytes, path), name: undefined } : decodeTensorProto(bytes, path, dirname(path));
}

/** Reads the tensor in a `.npy` or `.pb` file; see {@link readNamedTensorFile}. */
export async function readTensorFile(path: string): Promise<Tensor> {
  return (await readNamedTensorFile(path)).tensor;
}

/**
 * Writes a tensor as `.npy` or `.pb` (chosen by the extension of `path`); `name` goes
 * into the TensorProto of a `.pb` file. The bytes go to a temporary file beside `path`
 * which is then renamed over it, so a failed write never leaves a partial file.
 */
export async function writeTensorFile(path: string, tensor: Tensor, name?: string): Promise<void> {
  if (path.toLowerCase().endsWith('.gz')) {
    fail(ErrorCodes.INVALID_TENSOR_FILE, `${path}: razor does not write compressed tensor files; drop the .gz`);
  }
  const bytes = tensorFileFormat(path) === 'npy' ? encodeNpy(tensor, path) : encodeTensorProto(tensor, name);
  await writeFileAtomically(path, bytes, 'the tensor file');
}


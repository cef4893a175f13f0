import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ErrorCodes, errorMessage, fail, loadOnnx, readOnnx, type Graph } from '@razor/core';

/**
 * Reads an ONNX model file into a Graph. A `.gz` file (`model.onnx.gz`) is decompressed
 * first, so compressed fixtures and downloads can be inspected and run as they are.
 */
export async function loadModelFile(path: string): Promise<Graph> {
  if (!path.toLowerCase().endsWith('.gz')) return loadOnnx(path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a directory' : errorMessage(error);
    return fail(ErrorCodes.FILE_NOT_FOUND, `cannot read ONNX model '${path}': ${reason}`, error);
  }
  try {
    bytes = gunzipSync(bytes);
  } catch (error) {
    return fail(ErrorCodes.INVALID_ONNX, `'${path}' ends in .gz but is not gzip data (${errorMessage(error)}); decompress it or rename it`, error);
  }
  return readOnnx(bytes, { path });
}

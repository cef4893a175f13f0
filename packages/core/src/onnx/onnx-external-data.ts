import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { ErrorCodes, errorMessage, fail } from '../errors.js';
import type { StringStringEntryProto } from './proto/onnx_pb.js';

/** A tensor's external_data entries, parsed. */
export interface ExternalDataLocation {
  location: string;
  offset: number;
  /** Undefined when the entry is absent: the tensor's own size is read. */
  length: number | undefined;
}

function parseInteger(value: string, key: string, where: string, model: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number)) {
    fail(ErrorCodes.EXTERNAL_DATA, `${where} of ${model} has external data ${key} '${value}', which is not a byte count`);
  }
  return number;
}

/** Reads the location/offset/length keys of `external_data`. */
export function parseExternalData(entries: readonly StringStringEntryProto[], where: string, model: string): ExternalDataLocation {
  let location: string | undefined;
  let offset = 0;
  let length: number | undefined;
  for (const entry of entries) {
    if (entry.key === 'location') location = entry.value;
    else if (entry.key === 'offset') offset = parseInteger(entry.value, 'offset', where, model);
    else if (entry.key === 'length') length = parseInteger(entry.value, 'length', where, model);
  }
  if (location === undefined || location === '') {
    fail(ErrorCodes.EXTERNAL_DATA, `${where} of ${model} is marked as external data but names no location`);
  }
  return { location, offset, length };
}

/**
 * A path for an external data location: relative to the model's directory and inside it, as
 * ONNX requires (an absolute path or `..` could read any file on the machine).
 */
export function resolveExternalPath(baseDir: string, location: string, where: string, model: string): string {
  const path = resolve(baseDir, location);
  const inside = relative(resolve(baseDir), path);
  if (isAbsolute(location) || inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    fail(
      ErrorCodes.EXTERNAL_DATA,
      `${where} of ${model} has external data location '${location}', which is not a file inside the model's directory ${baseDir}`,
    );
  }
  return path;
}

/** Reads tensors' external data from files beside the model, each file opened once. */
export class ExternalDataReader {
  readonly #baseDir: string;
  readonly #model: string;
  readonly #files = new Map<string, { descriptor: number; size: number }>();

  constructor(baseDir: string, model: string) {
    this.#baseDir = baseDir;
    this.#model = model;
  }

  #open(path: string, location: string, where: string): { descriptor: number; size: number } {
    const open = this.#files.get(path);
    if (open !== undefined) return open;
    let descriptor: number;
    try {
      descriptor = openSync(path, 'r');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${errorMessage(error)})`;
      return fail(
        ErrorCodes.EXTERNAL_DATA,
        `${where} of ${this.#model} keeps its data in external file '${location}' (${path}), which ${reason}; keep the data file beside the model under that name`,
        error,
      );
    }
    const file = { descriptor, size: fstatSync(descriptor).size };
    this.#files.set(path, file);
    return file;
  }

  /** Fills `target` with the tensor's bytes; `where` names the tensor in messages. */
  read(entries: readonly StringStringEntryProto[], target: Uint8Array, where: string): void {
    const { location, offset, length } = parseExternalData(entries, where, this.#model);
    const path = resolveExternalPath(this.#baseDir, location, where, this.#model);
    if (length !== undefined && length !== target.byteLength) {
      fail(
        ErrorCodes.EXTERNAL_DATA,
        `${where} of ${this.#model} declares ${length} bytes of external data in '${location}' but its dims and type need ${target.byteLength}`,
      );
    }
    const file = this.#open(path, location, where);
    if (offset + target.byteLength > file.size) {
      fail(
        ErrorCodes.EXTERNAL_DATA,
        `${where} of ${this.#model} needs bytes ${offset} to ${offset + target.byteLength} of external file '${location}', but the file has only ${file.size} bytes: it is truncated or belongs to another model`,
      );
    }
    let done = 0;
    while (done < target.byteLength) {
      const read = readSync(file.descriptor, target, done, target.byteLength - done, offset + done);
      if (read === 0) {
        fail(ErrorCodes.EXTERNAL_DATA, `${where} of ${this.#model}: external file '${location}' ended early while reading`);
      }
      done += read;
    }
  }

  /** Closes every file opened. */
  close(): void {
    for (const file of this.#files.values()) closeSync(file.descriptor);
    this.#files.clear();
  }
}

import type { Tensor } from '@razor/core';

/**
 * A tensor's fingerprint, as `razor run` prints it:
 *
 * - `sum`: the sum of all elements, accumulated in float64 (booleans count as 0/1,
 *   64-bit integers are converted to numbers);
 * - `meanAbs`: the mean of absolute values, float64 (0 for an empty tensor);
 * - `hash`: FNV-1a (32 bit, hex) of the raw little-endian element bytes, so two runs agree on it
 *   only when every bit agrees (for strings: of their UTF-8 bytes, each followed by a 0 byte).
 *
 * `sum` and `meanAbs` compare across backends and machines with a tolerance; `hash`
 * detects any change at all.
 */
export interface TensorChecksum {
  sum: number;
  meanAbs: number;
  hash: string;
  /** Number of NaN elements (they are left out of sum and meanAbs). */
  nanCount: number;
}

function fnv1a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let index = 0; index < bytes.length; index++) {
    hash ^= bytes[index]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The checksum of a tensor; see {@link TensorChecksum}. One pass, no per-element objects. */
export function tensorChecksum(tensor: Tensor): TensorChecksum {
  const data = tensor.data;
  if (Array.isArray(data)) {
    let hash = 0x811c9dc5;
    const encoder = new TextEncoder();
    for (const text of data) hash = fnv1a(Uint8Array.of(...encoder.encode(text), 0), hash);
    return { sum: 0, meanAbs: 0, hash: hash.toString(16).padStart(8, '0'), nanCount: 0 };
  }
  const values = tensor.dtype === 'float16' || tensor.dtype === 'bfloat16' ? tensor.toFloat32() : data;
  let sum = 0;
  let absoluteSum = 0;
  let nanCount = 0;
  for (let index = 0; index < values.length; index++) {
    const value = Number(values[index]!);
    if (Number.isNaN(value)) {
      nanCount++;
      continue;
    }
    sum += value;
    absoluteSum += Math.abs(value);
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return {
    sum,
    meanAbs: values.length === 0 ? 0 : absoluteSum / values.length,
    hash: fnv1a(bytes).toString(16).padStart(8, '0'),
    nanCount,
  };
}

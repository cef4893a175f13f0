import { ErrorCodes, fail, type Dim } from '@razor/core';

/** A size given as one number for both spatial axes, or as [height, width]. */
export type Size2d = number | readonly [number, number];

/** [height, width] of a Size2d; `what` names the argument in the error. */
export function pair(size: Size2d, what: string, minimum = 1): [number, number] {
  const result: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  for (const value of result) {
    if (!Number.isInteger(value) || value < minimum) fail(ErrorCodes.INVALID_ARGUMENT, `${what} must be an integer ≥ ${minimum} (or a pair of them), got ${String(size)}`);
  }
  return result;
}

/**
 * The output length of a convolution or pooling window along one axis, PyTorch's rule
 * (with ceil mode, a last window that would start in the end padding is dropped).
 * Symbolic or unknown lengths give null.
 */
export function windowOutputSize(
  input: Dim | undefined,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  ceilMode = false,
): Dim {
  if (typeof input !== 'number') return null;
  const span = input + padBegin + padEnd - dilation * (kernel - 1) - 1;
  if (span < 0) return fail(ErrorCodes.SHAPE_MISMATCH, `a window of ${kernel} (dilation ${dilation}) does not fit an input of length ${input} with padding ${padBegin}+${padEnd}`);
  let output = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceilMode && (output - 1) * stride >= input + padBegin) output--;
  return output;
}

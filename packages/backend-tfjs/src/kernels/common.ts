import type { DType } from '@razor/core';
import type { KernelContext } from '../kernel.js';
import type { TfTensor, TfValue } from '../values.js';

/** A value of the same ONNX dtype as `like`. */
export function same(like: TfValue, tensor: TfTensor): TfValue {
  return { tensor, dtype: like.dtype };
}

/** Whether an ONNX dtype is a floating type (travels as float32). */
export function isFloating(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
}

/** A non-negative axis from an ONNX axis attribute or input (negative counts from the end). */
export function normalizeAxis(ctx: KernelContext, axis: number, rank: number): number {
  const normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank || !Number.isInteger(normalized)) ctx.invalid(`axis ${axis} is outside [-${rank}, ${rank - 1}] for an input of rank ${rank}`);
  return normalized;
}

/** Truncates float32 values toward zero and wraps them into an integer dtype's range, as a cast does. */
export function wrapInteger(ctx: KernelContext, tensor: TfTensor, dtype: DType): TfTensor {
  const tf = ctx.tf;
  const truncated = tensor.dtype === 'float32' ? tf.mul(tf.sign(tensor), tf.floor(tf.abs(tensor))) : tensor;
  const bits = dtype === 'int8' || dtype === 'uint8' ? 8 : dtype === 'int16' || dtype === 'uint16' ? 16 : 0;
  let result = truncated;
  if (bits > 0) {
    const modulus = 2 ** bits;
    const wrapped = tf.sub(truncated, tf.mul(tf.floor(tf.div(truncated, modulus)), modulus));
    result = dtype.startsWith('u') ? wrapped : tf.where(tf.greaterEqual(wrapped, modulus / 2), tf.sub(wrapped, modulus), wrapped);
  }
  return tf.cast(result, 'int32');
}

/**
 * Integer division with ONNX semantics (truncation toward zero), for int32 tensors; tfjs's
 * `floorDiv` rounds toward minus infinity.
 */
export function truncatingDivide(ctx: KernelContext, left: TfTensor, right: TfTensor): TfTensor {
  const tf = ctx.tf;
  const quotient = tf.div(tf.cast(left, 'float32'), tf.cast(right, 'float32'));
  return tf.cast(tf.mul(tf.sign(quotient), tf.floor(tf.abs(quotient))), 'int32');
}

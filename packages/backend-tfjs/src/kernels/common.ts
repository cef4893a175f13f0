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

/**
 * x · scale + shift on an [N, C, ...] tensor with per-channel [C] vectors (either may be
 * omitted). tfjs's cpu engine broadcasts a [C, 1, 1] operand element by element through index
 * arithmetic, some ten times slower than its same-shape loop; there the vectors are tiled over
 * the trailing axes and x is seen as [N, C·rest], which its cyclic batchNorm loop (and its
 * fast trailing broadcast) handle in one pass. Other engines broadcast [1, C, 1, ...] natively.
 */
export function channelAffine(ctx: KernelContext, x: TfTensor, scale: TfTensor | undefined, shift: TfTensor | undefined): TfTensor {
  const tf = ctx.tf;
  if (scale === undefined && shift === undefined) return x;
  const [batch, channels] = x.shape as [number, number];
  const rest = x.shape.slice(2).reduce((product, size) => product * size, 1);
  if (ctx.tf.getBackend() === 'cpu') {
    const tile = (vector: TfTensor): TfTensor => (rest === 1 ? tf.reshape(vector, [channels]) : tf.reshape(tf.tile(tf.reshape(vector, [channels, 1]), [1, rest]), [channels * rest]));
    const flat = tf.reshape(x, [batch, channels * rest]);
    let result: TfTensor;
    if (scale !== undefined && shift !== undefined) {
      // offset + (x − 0) · scale / √(1 + 0): exact, one pass.
      result = tf.batchNorm(flat, tf.zeros([1]), tf.ones([1]), tile(shift), tile(scale), 0);
    } else result = scale !== undefined ? tf.mul(flat, tile(scale)) : tf.add(flat, tile(shift!));
    return tf.reshape(result, x.shape);
  }
  const shape = [1, channels, ...x.shape.slice(2).map(() => 1)];
  let result = x;
  if (scale !== undefined) result = tf.mul(result, tf.reshape(scale, shape));
  if (shift !== undefined) result = tf.add(result, tf.reshape(shift, shape));
  return result;
}

/**
 * What every observer does to a tensor before recording it: read its values as floats, split them
 * into channels, check that the channel count has not changed, and find each channel's minimum and
 * maximum while counting NaN and infinite values.
 */
import { ErrorCodes, bfloat16ToFloat32, fail, float16ToFloat32, type Tensor } from '@razor/core';

/** Float values of a tensor in row-major order. */
export type FloatValues = Float32Array | Float64Array;

/**
 * How a tensor's elements split into channels: element `((o × channels) + c) × inner + k` belongs to
 * channel `c`, for `o < outer` and `k < inner`. Per tensor: one channel, `outer` 1.
 */
export interface ChannelLayout {
  channels: number;
  inner: number;
  outer: number;
  /** The channel axis (non-negative), when per channel. */
  axis?: number;
}

/** A batch's values, layout and per-channel extremes (±Infinity for channels without values). */
export interface ObservedBatch {
  values: FloatValues;
  layout: ChannelLayout;
  min: Float64Array;
  max: Float64Array;
}

/** Shape of a tensor for messages. */
export function describeShape(tensor: Tensor): string {
  return `[${tensor.shape.join(', ')}]`;
}

/** A float tensor's values (float16 and bfloat16 decoded to float32); other dtypes fail with RAZOR_UNSUPPORTED_DTYPE. */
export function floatValues(tensor: Tensor, who: string): FloatValues {
  switch (tensor.dtype) {
    case 'float32':
    case 'float64':
      return tensor.data as FloatValues;
    case 'float16':
    case 'bfloat16': {
      const bits = tensor.data as Uint16Array;
      const decode = tensor.dtype === 'float16' ? float16ToFloat32 : bfloat16ToFloat32;
      const values = new Float32Array(bits.length);
      for (let index = 0; index < bits.length; index++) values[index] = decode(bits[index]!);
      return values;
    }
    default:
      return fail(
        ErrorCodes.UNSUPPORTED_DTYPE,
        `${who} observes float tensors (float32, float64, float16, bfloat16) but got a ${tensor.dtype} tensor of shape ${describeShape(tensor)}; ` +
          'observe activations or weights, not indices or integer tensors',
      );
  }
}

/**
 * Splits a tensor into channels along `axis` (negative counts from the end; undefined: per tensor)
 * and checks the layout against the one seen before (`previous`): the axis and channel count must
 * not change between batches (RAZOR_SHAPE_MISMATCH otherwise).
 */
export function channelLayout(tensor: Tensor, axis: number | undefined, previous: ChannelLayout | undefined, who: string): ChannelLayout {
  if (axis === undefined) return { channels: 1, inner: tensor.size, outer: 1 };
  const rank = tensor.shape.length;
  const normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank) {
    fail(ErrorCodes.SHAPE_MISMATCH, `${who} is per channel along axis ${axis}, but got a tensor of rank ${rank} (shape ${describeShape(tensor)}); pass an axis inside the tensor's rank`);
  }
  const channels = tensor.shape[normalized]!;
  const inner = tensor.shape.slice(normalized + 1).reduce((product, dim) => product * dim, 1);
  const outer = tensor.shape.slice(0, normalized).reduce((product, dim) => product * dim, 1);
  if (previous !== undefined && (previous.channels !== channels || previous.axis !== normalized)) {
    fail(
      ErrorCodes.SHAPE_MISMATCH,
      `${who} is per channel along axis ${axis}: earlier batches had ${previous.channels} channel(s) on axis ${previous.axis}, ` +
        `this one has ${channels} on axis ${normalized} (shape ${describeShape(tensor)}); every batch must have the same channels`,
    );
  }
  return { channels, inner, outer, axis: normalized };
}

/**
 * Reads a tensor for an observer: float values, channel layout (see `channelLayout`) and each
 * channel's extremes. NaN or infinite values fail with RAZOR_NON_FINITE, before anything is recorded.
 */
export function observeBatch(tensor: Tensor, axis: number | undefined, previous: ChannelLayout | undefined, who: string): ObservedBatch {
  const values = floatValues(tensor, who);
  const layout = channelLayout(tensor, axis, previous, who);
  const { channels, inner, outer } = layout;
  const min = new Float64Array(channels).fill(Infinity);
  const max = new Float64Array(channels).fill(-Infinity);
  let nonFinite = 0;
  let firstNonFinite = -1;
  for (let block = 0; block < outer; block++) {
    for (let channel = 0; channel < channels; channel++) {
      const start = (block * channels + channel) * inner;
      let low = min[channel]!;
      let high = max[channel]!;
      for (let index = start; index < start + inner; index++) {
        const value = values[index]!;
        // value − value is 0 for every finite value and NaN for NaN and ±Infinity.
        if (value - value !== 0) {
          if (firstNonFinite < 0) firstNonFinite = index;
          nonFinite++;
          continue;
        }
        if (value < low) low = value;
        if (value > high) high = value;
      }
      min[channel] = low;
      max[channel] = high;
    }
  }
  if (nonFinite > 0) {
    fail(
      ErrorCodes.NON_FINITE,
      `${who}: ${nonFinite} of ${values.length} values of a tensor of shape ${describeShape(tensor)} are NaN or infinite ` +
        `(the first at flat index ${firstNonFinite}, ${values[firstNonFinite]}); the calibration data or the model produces them: ` +
        'check the inputs (scaling, missing values) and the float model before calibrating',
    );
  }
  return { values, layout, min, max };
}

/** Fails with RAZOR_INVALID_STATE when an observer is asked for a range before it saw any tensor. */
export function requireObserved(count: number, who: string): void {
  if (count === 0) fail(ErrorCodes.INVALID_STATE, `${who} has observed no tensors yet; call observe() with calibration data before range()`);
}

/** The per-tensor or per-channel description used in messages. */
export function observerName(method: string, axis: number | undefined): string {
  return axis === undefined ? `the ${method} observer` : `the per-channel (axis ${axis}) ${method} observer`;
}

/**
 * Scales and zero points, in onnxruntime's conventions (quant_utils.py), and quantizing host tensors.
 */
import { ErrorCodes, Tensor, fail } from '@razor/core';
import type { QuantParams, QuantScheme, QuantType, TensorRange } from './types.js';

const FULL: Record<QuantType, readonly [number, number]> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
};
const SYMMETRIC: Partial<Record<QuantType, readonly [number, number]>> = { int8: [-127, 127], int16: [-32767, 32767] };
const REDUCED: Record<QuantType, readonly [number, number]> = {
  int8: [-64, 64],
  uint8: [0, 127],
  int16: [-16384, 16384],
  uint16: [0, 32767],
};
/** float32's smallest normal number: a scale below it means the range is empty. */
const FLOAT32_TINY = 1.1754943508222875e-38;

/** The integer range [qmin, qmax] a scheme quantizes into. */
export function quantRange(scheme: QuantScheme): readonly [number, number] {
  if (scheme.reduceRange) return REDUCED[scheme.type];
  if (scheme.symmetric) return SYMMETRIC[scheme.type] ?? FULL[scheme.type];
  return FULL[scheme.type];
}

/** Rounds half to even, as numpy.round and onnxruntime's QuantizeLinear do. */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Scale and zero point for each channel of a range: the range widens to include 0; symmetric
 * schemes use [−max|x|, max|x|] and the middle of the integer range as zero point (0 for int8,
 * 128 for uint8); an empty range gives scale 1 and zero point 0.
 */
export function quantParamsFromRange(range: TensorRange, scheme: QuantScheme): QuantParams {
  if (range.min.length !== range.max.length || range.min.length === 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `a range needs as many minimums as maximums (at least one), got ${range.min.length} and ${range.max.length}`);
  }
  const [qmin, qmax] = quantRange(scheme);
  const scale = new Float32Array(range.min.length);
  const zeroPoint = new Int32Array(range.min.length);
  for (let channel = 0; channel < range.min.length; channel++) {
    let low = Math.min(range.min[channel]!, 0);
    let high = Math.max(range.max[channel]!, 0);
    if (!Number.isFinite(low) || !Number.isFinite(high)) {
      fail(ErrorCodes.NON_FINITE, `range [${range.min[channel]}, ${range.max[channel]}]${range.min.length > 1 ? ` of channel ${channel}` : ''} is not finite; calibrate on data without NaN or infinite activations`);
    }
    if (scheme.symmetric) {
      const absMax = Math.max(Math.abs(low), Math.abs(high));
      low = -absMax;
      high = absMax;
    }
    // As onnxruntime: the width is a float32 difference, the zero point uses the float64 step and
    // only the scale is rounded to float32.
    const step = Math.fround(high - low) / (qmax - qmin);
    if (step < FLOAT32_TINY) {
      scale[channel] = 1;
      zeroPoint[channel] = 0;
    } else {
      scale[channel] = step;
      zeroPoint[channel] = scheme.symmetric ? roundHalfToEven((qmin + qmax) / 2) : roundHalfToEven(qmin - low / step);
    }
  }
  return { scale, zeroPoint, type: scheme.type, ...(range.axis === undefined ? {} : { axis: range.axis }) };
}

/** The min and max of a float tensor, per tensor or per channel along `axis`. */
export function tensorRange(tensor: Tensor, axis?: number): TensorRange {
  const data = floatData(tensor, 'tensorRange');
  if (axis === undefined) {
    let min = Infinity;
    let max = -Infinity;
    for (let index = 0; index < data.length; index++) {
      const value = data[index]!;
      if (value < min) min = value;
      if (value > max) max = value;
    }
    if (data.length === 0) min = max = 0;
    return { min: Float32Array.of(min), max: Float32Array.of(max) };
  }
  const { channels, inner } = channelLayout(tensor.shape, axis);
  const min = new Float32Array(channels).fill(Infinity);
  const max = new Float32Array(channels).fill(-Infinity);
  for (let index = 0; index < data.length; index++) {
    const channel = Math.floor(index / inner) % channels;
    const value = data[index]!;
    if (value < min[channel]!) min[channel] = value;
    if (value > max[channel]!) max[channel] = value;
  }
  for (let channel = 0; channel < channels; channel++) {
    if (min[channel] === Infinity) min[channel] = max[channel] = 0;
  }
  return { min, max, axis };
}

/** Quantizes a float tensor with `params` (per tensor, or per channel along `params.axis`): round half to even, saturate. */
export function quantizeTensor(tensor: Tensor, params: QuantParams): Tensor {
  const data = floatData(tensor, 'quantizeTensor');
  const [low, high] = FULL[params.type];
  const out = new Tensor(params.type, [...tensor.shape]);
  const target = out.data as Int8Array | Uint8Array | Int16Array | Uint16Array;
  const { channels, inner } = params.axis === undefined ? { channels: 1, inner: data.length || 1 } : channelLayout(tensor.shape, params.axis);
  if (params.scale.length !== channels) {
    fail(ErrorCodes.SHAPE_MISMATCH, `quantizeTensor: ${params.scale.length} scales for ${channels} channel(s) of a tensor of shape [${tensor.shape.join(', ')}]`);
  }
  for (let index = 0; index < data.length; index++) {
    const channel = channels === 1 ? 0 : Math.floor(index / inner) % channels;
    // float32 division, as onnxruntime's QuantizeLinear and quantize_nparray: exact half-way points stay ties.
    const q = roundHalfToEven(Math.fround(data[index]! / params.scale[channel]!)) + params.zeroPoint[channel]!;
    target[index] = q < low ? low : q > high ? high : q;
  }
  return out;
}

/** The float values a quantized tensor stands for: (q − zero point) × scale. */
export function dequantizeTensor(tensor: Tensor, params: QuantParams): Tensor {
  const data = tensor.data as ArrayLike<number>;
  const out = new Tensor('float32', [...tensor.shape]);
  const target = out.data as Float32Array;
  const { channels, inner } = params.axis === undefined ? { channels: 1, inner: data.length || 1 } : channelLayout(tensor.shape, params.axis);
  for (let index = 0; index < data.length; index++) {
    const channel = channels === 1 ? 0 : Math.floor(index / inner) % channels;
    target[index] = (data[index]! - params.zeroPoint[channel]!) * params.scale[channel]!;
  }
  return out;
}

function floatData(tensor: Tensor, what: string): Float32Array | Float64Array {
  if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64') {
    fail(ErrorCodes.UNSUPPORTED_DTYPE, `${what}: expected a float32 tensor, got ${tensor.dtype}`);
  }
  return tensor.data as Float32Array | Float64Array;
}

function channelLayout(shape: readonly number[], axis: number): { channels: number; inner: number } {
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    fail(ErrorCodes.INVALID_ARGUMENT, `channel axis ${axis} is outside a tensor of rank ${shape.length}`);
  }
  return { channels: shape[axis]!, inner: shape.slice(axis + 1).reduce((a, b) => a * b, 1) };
}

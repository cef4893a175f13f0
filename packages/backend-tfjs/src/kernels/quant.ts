/**
 * Quantized operators: QuantizeLinear/DequantizeLinear (QDQ), the QOperator format's
 * QLinearConv and QLinearMatMul, ConvInteger, MatMulInteger, DynamicQuantizeLinear, and the
 * com.microsoft contrib ops onnxruntime emits in int8 graphs.
 *
 * Integer tensors travel as int32 and tfjs has no integer GEMM or convolution, so products
 * and sums of 8-bit values are computed in float32 on values with their zero points already
 * subtracted. That is exact while every partial sum stays below 2^24 in magnitude: with
 * |x − x_zp| ≤ 255 and |w − w_zp| ≤ 255 a product is at most 65025, so any reduction of up to
 * 258 such worst-case terms is exact; int8 × int8 at full range (|product| ≤ 16384) is exact up
 * to K = 1024, and real data, whose terms are smaller and cancel, stays exact well beyond a few
 * thousand. Past that the int32 accumulator of onnxruntime and the float32 one here can differ
 * in the last bits before requantization. Requantization follows onnxruntime's float path:
 * the int32 accumulator times a float32 multiplier, rounded half to even, plus the zero point,
 * saturated to the output type.
 */
import { dtypeFromOnnx, type DType } from '@razor/core';
import type { KernelContext, KernelTable } from '../kernel.js';
import { integerRange, type TfTensor, type TfValue } from '../values.js';
import { normalizeAxis } from './common.js';
import { convolution, readConvolutionAttributes } from './convolution.js';
import { poolGeometry } from './nn.js';

type Tf = KernelContext['tf'];

const MICROSOFT = 'com.microsoft:';

function asFloat(tf: Tf, tensor: TfTensor): TfTensor {
  return tensor.dtype === 'float32' ? tensor : tf.cast(tensor, 'float32');
}

function quantizedRange(ctx: KernelContext, dtype: DType): [number, number] {
  const range = dtype === 'int8' || dtype === 'uint8' || dtype === 'int16' || dtype === 'uint16' ? integerRange(dtype) : undefined;
  return range ?? ctx.unsupported(`does not quantize to ${dtype}; use int8, uint8, int16 or uint16`);
}

/**
 * Rounds float32 values half to even, adds the zero point and saturates to `dtype`'s range:
 * the last step of QuantizeLinear and of every requantization.
 */
function roundAndSaturate(ctx: KernelContext, scaled: TfTensor, zeroPoint: TfTensor | undefined, dtype: DType): TfTensor {
  const tf = ctx.tf;
  const [low, high] = quantizedRange(ctx, dtype);
  const rounded = tf.round(scaled);
  const shifted = zeroPoint === undefined ? rounded : tf.add(rounded, zeroPoint);
  return tf.cast(tf.clipByValue(shifted, low, high), 'int32');
}

/** x − zero point as float32 (x unchanged when there is no zero point). */
function centered(tf: Tf, x: TfTensor, zeroPoint: TfTensor | undefined): TfTensor {
  const values = asFloat(tf, x);
  return zeroPoint === undefined ? values : tf.sub(values, zeroPoint);
}

/**
 * A quantization parameter (scale or zero point) as float32, shaped to broadcast against a
 * tensor of shape `shape`: a scalar when it has one element, otherwise a vector laid along
 * `axis` (per-axis / per-channel quantization).
 */
function alongAxis(ctx: KernelContext, index: number, shape: readonly number[], axis: number, what: string): TfTensor {
  const tf = ctx.tf;
  const parameter = asFloat(tf, ctx.input(index).tensor);
  if (parameter.size === 1) return tf.reshape(parameter, []);
  if (parameter.rank !== 1 || parameter.size !== shape[axis]) {
    ctx.invalid(`${what} (input ${index}) has shape [${parameter.shape.join(', ')}]; it must have one element or ${shape[axis]} (one per index of axis ${axis} of [${shape.join(', ')}])`);
  }
  const target = shape.map(() => 1);
  target[axis] = parameter.size;
  return tf.reshape(parameter, target);
}

/** An optional parameter along an axis; undefined when the input is omitted. */
function optionalAlongAxis(ctx: KernelContext, index: number, shape: readonly number[], axis: number, what: string): TfTensor | undefined {
  return ctx.has(index) ? alongAxis(ctx, index, shape, axis, what) : undefined;
}

/** A per-tensor parameter (a scalar or a 1-element tensor) as a float32 scalar. */
function perTensor(ctx: KernelContext, index: number, what: string): TfTensor {
  const parameter = asFloat(ctx.tf, ctx.input(index).tensor);
  if (parameter.size !== 1) ctx.unsupported(`does not support a ${what} (input ${index}) of shape [${parameter.shape.join(', ')}]; it takes one value per tensor`);
  return ctx.tf.reshape(parameter, []);
}

/** An optional per-tensor parameter; undefined when omitted. */
function optionalPerTensor(ctx: KernelContext, index: number, what: string): TfTensor | undefined {
  return ctx.has(index) ? perTensor(ctx, index, what) : undefined;
}

/** The dtype of an optional zero point, else `fallback`. */
function zeroPointType(ctx: KernelContext, index: number, fallback: DType): DType {
  return ctx.has(index) ? ctx.input(index).dtype : fallback;
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

/**
 * The scale and zero point of a QuantizeLinear/DequantizeLinear node, broadcast against x:
 * per tensor, per axis (opset 13) or blocked (opset 21 block_size: each scale covers
 * block_size consecutive elements along the axis).
 */
function linearParameters(ctx: KernelContext, shape: readonly number[]): { scale: TfTensor; zeroPoint: TfTensor | undefined } {
  const tf = ctx.tf;
  const rank = shape.length;
  const blockSize = ctx.int('block_size', 0);
  const single = ctx.input(1).tensor.size === 1;
  if (blockSize <= 0 || single) {
    // A single scale is per tensor whatever the axis says.
    const axis = single ? 0 : normalizeAxis(ctx, ctx.int('axis', 1), rank);
    return { scale: alongAxis(ctx, 1, shape, axis, 'scale'), zeroPoint: optionalAlongAxis(ctx, 2, shape, axis, 'zero point') };
  }
  const axis = normalizeAxis(ctx, ctx.int('axis', 1), rank);
  const blocks = Math.ceil(shape[axis]! / blockSize);
  const expand = (index: number, what: string): TfTensor => {
    const parameter = asFloat(tf, ctx.input(index).tensor);
    const fits = parameter.rank === rank && parameter.shape.every((dim, position) => (position === axis ? dim === blocks : dim === shape[position]));
    if (!fits) {
      ctx.invalid(`${what} (input ${index}) has shape [${parameter.shape.join(', ')}]; with block_size ${blockSize} on axis ${axis} of x [${shape.join(', ')}] it must have ${blocks} blocks on that axis and x's other dims`);
    }
    const owner = Int32Array.from({ length: shape[axis]! }, (_, position) => Math.floor(position / blockSize));
    return tf.gather(parameter, tf.tensor1d(owner, 'int32'), axis);
  };
  return { scale: expand(1, 'scale'), zeroPoint: ctx.has(2) ? expand(2, 'zero point') : undefined };
}

function quantizeLinear(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  let dtype: DType = 'uint8';
  const outputCode = ctx.int('output_dtype', 0);
  if (ctx.has(2)) dtype = ctx.input(2).dtype;
  else if (outputCode !== 0) dtype = dtypeFromOnnx(outputCode, `node '${ctx.node.name}' attribute output_dtype`);
  const { scale, zeroPoint } = linearParameters(ctx, x.tensor.shape);
  return { tensor: roundAndSaturate(ctx, tf.div(asFloat(tf, x.tensor), scale), zeroPoint, dtype), dtype };
}

function dequantizeLinear(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const { scale, zeroPoint } = linearParameters(ctx, x.tensor.shape);
  return { tensor: tf.mul(centered(tf, x.tensor, zeroPoint), scale), dtype: ctx.input(1).dtype };
}

/**
 * onnxruntime's dynamic uint8 quantization of a whole tensor: the range [min(x, 0), max(x, 0)]
 * mapped onto [0, 255], scale (max − min) / 255 (1 for an all-zero range), zero point
 * round(clamp(−min / scale, 0, 255)).
 */
function dynamicQuantize(tf: Tf, x: TfTensor): { quantized: TfTensor; scale: TfTensor; zeroPoint: TfTensor } {
  const low = tf.minimum(tf.min(x), 0);
  const high = tf.maximum(tf.max(x), 0);
  const range = tf.sub(high, low);
  const scale = tf.where(tf.equal(range, 0), tf.onesLike(range), tf.div(range, 255));
  const zeroPoint = tf.round(tf.clipByValue(tf.neg(tf.div(low, scale)), 0, 255));
  const quantized = tf.cast(tf.clipByValue(tf.add(tf.round(tf.div(x, scale)), zeroPoint), 0, 255), 'int32');
  return { quantized, scale, zeroPoint };
}

function dynamicQuantizeLinear(ctx: KernelContext): TfValue[] {
  const tf = ctx.tf;
  const { quantized, scale, zeroPoint } = dynamicQuantize(tf, asFloat(tf, ctx.input(0).tensor));
  return [
    { tensor: quantized, dtype: 'uint8' },
    { tensor: scale, dtype: 'float32' },
    { tensor: tf.cast(zeroPoint, 'int32'), dtype: 'uint8' },
  ];
}

// ---------------------------------------------------------------------------------------------
// Matrix products

/** MatMul with numpy semantics (1-D operands, broadcast batch dims) on float32 tensors. */
function matMul(tf: Tf, a: TfTensor, b: TfTensor): TfTensor {
  const left = a.rank === 1 ? tf.reshape(a, [1, a.shape[0]!]) : a;
  const right = b.rank === 1 ? tf.reshape(b, [b.shape[0]!, 1]) : b;
  const product = tf.matMul(left, right);
  if (a.rank === 1 && b.rank === 1) return tf.reshape(product, []);
  if (a.rank === 1) return tf.squeeze(product, [product.rank - 2]);
  if (b.rank === 1) return tf.squeeze(product, [product.rank - 1]);
  return product;
}

/**
 * A matmul parameter as float32: a scalar, or one value per row of the left operand ([M, 1])
 * or per column of the right one ([N]).
 */
function matrixParameter(ctx: KernelContext, index: number, operand: TfTensor, kind: 'row' | 'column', what: string): TfTensor {
  const shape = operand.rank === 1 ? (kind === 'row' ? [1, operand.shape[0]!] : [operand.shape[0]!, 1]) : operand.shape;
  const axis = kind === 'row' ? shape.length - 2 : shape.length - 1;
  const parameter = asFloat(ctx.tf, ctx.input(index).tensor);
  if (parameter.size === 1) return ctx.tf.reshape(parameter, []);
  if (parameter.rank !== 1 || parameter.size !== shape[axis] || operand.rank === 1) {
    ctx.invalid(`${what} (input ${index}) has shape [${parameter.shape.join(', ')}]; it must have one element or one per ${kind} (${shape[axis]}) of [${operand.shape.join(', ')}]`);
  }
  return kind === 'row' ? ctx.tf.reshape(parameter, [parameter.size, 1]) : parameter;
}

function optionalMatrixParameter(ctx: KernelContext, index: number, operand: TfTensor, kind: 'row' | 'column', what: string): TfTensor | undefined {
  return ctx.has(index) ? matrixParameter(ctx, index, operand, kind, what) : undefined;
}

/** Σ (a − a_zp)(b − b_zp) as float32 (exact within the bounds in this file's header). */
function integerProduct(ctx: KernelContext, a: TfTensor, aZeroPoint: TfTensor | undefined, b: TfTensor, bZeroPoint: TfTensor | undefined): TfTensor {
  const tf = ctx.tf;
  return matMul(tf, centered(tf, a, aZeroPoint), centered(tf, b, bZeroPoint));
}

function qlinearMatMul(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const a = ctx.input(0).tensor;
  const b = ctx.input(3).tensor;
  const dtype = ctx.input(7).dtype;
  const accumulator = integerProduct(ctx, a, matrixParameter(ctx, 2, a, 'row', 'a_zero_point'), b, matrixParameter(ctx, 5, b, 'column', 'b_zero_point'));
  // onnxruntime's multiplier: a_scale × b_scale / y_scale, in that order, in float32.
  const aScale = matrixParameter(ctx, 1, a, 'row', 'a_scale');
  const multiplier = tf.div(tf.mul(aScale, matrixParameter(ctx, 4, b, 'column', 'b_scale')), matrixParameter(ctx, 6, a, 'row', 'y_scale'));
  return { tensor: roundAndSaturate(ctx, tf.mul(accumulator, multiplier), matrixParameter(ctx, 7, a, 'row', 'y_zero_point'), dtype), dtype };
}

function matMulInteger(ctx: KernelContext): TfValue {
  const a = ctx.input(0).tensor;
  const b = ctx.input(1).tensor;
  const product = integerProduct(ctx, a, optionalMatrixParameter(ctx, 2, a, 'row', 'a_zero_point'), b, optionalMatrixParameter(ctx, 3, b, 'column', 'b_zero_point'));
  return { tensor: ctx.tf.cast(product, 'int32'), dtype: 'int32' };
}

/** (A − a_zp)(B − b_zp) × a_scale × b_scale + bias, the float output of the *ToFloat matmuls. */
function scaledProduct(ctx: KernelContext, accumulator: TfTensor, aScale: TfTensor, bScaleIndex: number, b: TfTensor, biasIndex: number): TfValue {
  const tf = ctx.tf;
  const scaled = tf.mul(accumulator, tf.mul(aScale, matrixParameter(ctx, bScaleIndex, b, 'column', 'b_scale')));
  return { tensor: ctx.has(biasIndex) ? tf.add(scaled, ctx.input(biasIndex).tensor) : scaled, dtype: 'float32' };
}

function matMulIntegerToFloat(ctx: KernelContext): TfValue {
  const a = ctx.input(0).tensor;
  const b = ctx.input(1).tensor;
  const accumulator = integerProduct(ctx, a, optionalPerTensor(ctx, 4, 'a_zero_point'), b, optionalMatrixParameter(ctx, 5, b, 'column', 'b_zero_point'));
  return scaledProduct(ctx, accumulator, perTensor(ctx, 2, 'a_scale'), 3, b, 6);
}

function dynamicQuantizeMatMul(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const b = ctx.input(1).tensor;
  const { quantized, scale, zeroPoint } = dynamicQuantize(tf, asFloat(tf, ctx.input(0).tensor));
  const accumulator = integerProduct(ctx, quantized, zeroPoint, b, optionalMatrixParameter(ctx, 3, b, 'column', 'b_zero_point'));
  return scaledProduct(ctx, accumulator, scale, 2, b, 4);
}

function qgemm(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const a = ctx.input(0).tensor;
  const b = ctx.input(3).tensor;
  if (a.rank !== 2 || b.rank !== 2) ctx.invalid(`A and B must be matrices, not of shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  const transA = ctx.int('transA', 0) !== 0;
  const transB = ctx.int('transB', 0) !== 0;
  const columns = transB ? b.shape[0]! : b.shape[1]!;
  // B's per-column parameters lie along axis 0 of a transposed B, axis 1 otherwise.
  const bAxis = transB ? 0 : 1;
  const left = centered(tf, a, perTensor(ctx, 2, 'a_zero_point'));
  const right = centered(tf, b, alongAxis(ctx, 5, b.shape, bAxis, 'b_zero_point'));
  let accumulator = tf.matMul(left, right, transA, transB);
  if (ctx.has(6)) accumulator = tf.add(accumulator, asFloat(tf, ctx.input(6).tensor));
  // One scale per column of the [M, N] product.
  const columnScale = alongAxis(ctx, 4, [1, columns], 1, 'b_scale');
  // onnxruntime: alpha × a_scale × b_scale, then ÷ y_scale for a quantized output.
  let multiplier = tf.mul(tf.mul(tf.scalar(ctx.float('alpha', 1)), perTensor(ctx, 1, 'a_scale')), columnScale);
  if (!ctx.has(7)) return { tensor: tf.mul(accumulator, multiplier), dtype: 'float32' };
  multiplier = tf.div(multiplier, perTensor(ctx, 7, 'y_scale'));
  const dtype = ctx.input(8).dtype;
  return { tensor: roundAndSaturate(ctx, tf.mul(accumulator, multiplier), perTensor(ctx, 8, 'y_zero_point'), dtype), dtype };
}

// ---------------------------------------------------------------------------------------------
// Convolutions

function qlinearConv(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0).tensor;
  const w = ctx.input(3).tensor;
  const dtype = ctx.input(7).dtype;
  const attributes = readConvolutionAttributes(ctx, w.shape);
  const bias = ctx.has(8) ? asFloat(tf, ctx.input(8).tensor) : undefined;
  const accumulator = convolution(ctx, centered(tf, x, perTensor(ctx, 2, 'x_zero_point')), centered(tf, w, alongAxis(ctx, 5, w.shape, 0, 'w_zero_point')), bias, attributes);
  const channelShape = accumulator.shape.map((dim, axis) => (axis === 1 ? dim : 1));
  const perChannel = (index: number, what: string): TfTensor => alongAxis(ctx, index, channelShape, 1, what);
  // onnxruntime's multiplier: x_scale × w_scale[m] / y_scale, in float32.
  const multiplier = tf.div(tf.mul(perTensor(ctx, 1, 'x_scale'), perChannel(4, 'w_scale')), perTensor(ctx, 6, 'y_scale'));
  return { tensor: roundAndSaturate(ctx, tf.mul(accumulator, multiplier), perTensor(ctx, 7, 'y_zero_point'), dtype), dtype };
}

function convInteger(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0).tensor;
  const w = ctx.input(1).tensor;
  const attributes = readConvolutionAttributes(ctx, w.shape);
  const accumulator = convolution(ctx, centered(tf, x, optionalPerTensor(ctx, 2, 'x_zero_point')), centered(tf, w, optionalAlongAxis(ctx, 3, w.shape, 0, 'w_zero_point')), undefined, attributes);
  return { tensor: tf.cast(accumulator, 'int32'), dtype: 'int32' };
}

// ---------------------------------------------------------------------------------------------
// com.microsoft elementwise ops

/** A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point, zero points optional. */
function qlinearBinary(combine: (ctx: KernelContext, a: TfTensor, aScale: TfTensor, b: TfTensor, bScale: TfTensor, cScale: TfTensor) => TfTensor) {
  return (ctx: KernelContext): TfValue => {
    const tf = ctx.tf;
    const dtype = ctx.input(0).dtype;
    const a = centered(tf, ctx.input(0).tensor, optionalPerTensor(ctx, 2, 'A_zero_point'));
    const b = centered(tf, ctx.input(3).tensor, optionalPerTensor(ctx, 5, 'B_zero_point'));
    const scaled = combine(ctx, a, perTensor(ctx, 1, 'A_scale'), b, perTensor(ctx, 4, 'B_scale'), perTensor(ctx, 6, 'C_scale'));
    return { tensor: roundAndSaturate(ctx, scaled, optionalPerTensor(ctx, 7, 'C_zero_point'), zeroPointType(ctx, 7, dtype)), dtype };
  };
}

/** (A_scale·a + B_scale·b) / C_scale, as onnxruntime's reference kernel computes it. */
const qlinearAdd = qlinearBinary(({ tf }, a, aScale, b, bScale, cScale) => tf.div(tf.add(tf.mul(a, aScale), tf.mul(b, bScale)), cScale));

/** a·b × (A_scale·B_scale / C_scale). */
const qlinearMul = qlinearBinary(({ tf }, a, aScale, b, bScale, cScale) => tf.mul(tf.mul(a, b), tf.div(tf.mul(aScale, bScale), cScale)));

/** X, X_scale, X_zero_point, Y_scale, Y_zero_point: y = quantize(f(dequantize(x))). */
function qlinearUnary(apply: (ctx: KernelContext, x: TfTensor) => TfTensor) {
  return (ctx: KernelContext): TfValue => {
    const tf = ctx.tf;
    const x = ctx.input(0);
    const real = tf.mul(centered(tf, x.tensor, optionalPerTensor(ctx, 2, 'X_zero_point')), perTensor(ctx, 1, 'X_scale'));
    const result = tf.div(apply(ctx, real), perTensor(ctx, 3, 'Y_scale'));
    return { tensor: roundAndSaturate(ctx, result, optionalPerTensor(ctx, 4, 'Y_zero_point'), x.dtype), dtype: x.dtype };
  };
}

function qlinearConcat(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const dtype = ctx.input(1).dtype;
  const yScale = perTensor(ctx, 0, 'Y_scale');
  const parts: TfTensor[] = [];
  for (let position = 2; position < ctx.inputs.length; position += 3) {
    // Dequantized to float32 and quantized again with Y's parameters, as onnxruntime's lookup table does.
    const real = tf.mul(centered(tf, ctx.input(position).tensor, perTensor(ctx, position + 2, `zero point of tensor ${(position - 2) / 3}`)), perTensor(ctx, position + 1, `scale of tensor ${(position - 2) / 3}`));
    parts.push(real);
  }
  if (parts.length === 0) ctx.invalid('it needs at least one (tensor, scale, zero point) triple');
  const axis = normalizeAxis(ctx, ctx.int('axis', 0), parts[0]!.rank);
  const joined = parts.length === 1 ? parts[0]! : tf.concat(parts, axis);
  return { tensor: roundAndSaturate(ctx, tf.div(joined, yScale), perTensor(ctx, 1, 'Y_zero_point'), dtype), dtype };
}

// ---------------------------------------------------------------------------------------------
// Pooling

function qlinearGlobalAveragePool(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const rank = x.tensor.rank;
  if (rank < 3) ctx.invalid(`X must be at least [N, C, spatial...], not [${x.tensor.shape.join(', ')}]`);
  const channelsLast = ctx.int('channels_last', 0) !== 0;
  const spatialAxes = channelsLast ? Array.from({ length: rank - 2 }, (_, axis) => axis + 1) : Array.from({ length: rank - 2 }, (_, axis) => axis + 2);
  const imageSize = spatialAxes.reduce((product, axis) => product * x.tensor.shape[axis]!, 1);
  // Σ(x − x_zp) as onnxruntime's int32 accumulator (exact: image sizes below 2^16 for 8 bits).
  const sum = tf.sub(tf.sum(asFloat(tf, x.tensor), spatialAxes, true), tf.mul(perTensor(ctx, 2, 'x_zero_point'), imageSize));
  const multiplier = tf.div(perTensor(ctx, 1, 'x_scale'), tf.mul(perTensor(ctx, 3, 'y_scale'), imageSize));
  return { tensor: roundAndSaturate(ctx, tf.mul(sum, multiplier), perTensor(ctx, 4, 'y_zero_point'), x.dtype), dtype: x.dtype };
}

/**
 * com.microsoft QLinearAveragePool on 1-D or 2-D inputs: dequantize, average with tfjs's
 * avgPool (NHWC), quantize. As in onnxruntime's kernel, count_include_pad divides by the
 * kernel volume; otherwise by the number of input elements under the window.
 */
function qlinearAveragePool(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const rank = x.tensor.rank;
  if (rank !== 3 && rank !== 4) ctx.unsupported(`runs quantized average pooling on 1-D and 2-D inputs only, not [${x.tensor.shape.join(', ')}]`);
  const channelsLast = ctx.int('channels_last', 0) !== 0;
  const real = tf.mul(centered(tf, x.tensor, optionalPerTensor(ctx, 2, 'x_zero_point')), perTensor(ctx, 1, 'x_scale'));
  // To [N, H, W, C], a 1-D input as H = 1.
  let nhwc = channelsLast ? real : tf.transpose(real, rank === 3 ? [0, 2, 1] : [0, 2, 3, 1]);
  if (rank === 3) nhwc = tf.expandDims(nhwc, 1);
  const sizes = rank === 3 ? [nhwc.shape[2]!] : [nhwc.shape[1]!, nhwc.shape[2]!];
  const window = poolGeometry(ctx, sizes);
  if (window.dilations.some((dilation) => dilation !== 1)) ctx.unsupported(`does not support dilations [${window.dilations.join(', ')}] in quantized average pooling`);
  const two = (values: number[], fill: number): [number, number] => (rank === 3 ? [fill, values[0]!] : [values[0]!, values[1]!]);
  // Begin pads, and the end pads the last windows reach (ceil_mode).
  const [beginH, beginW] = two(window.begins, 0);
  const [endH, endW] = two(window.reach, 0);
  const kernel = two(window.kernel, 1);
  const strides = two(window.strides, 1);
  const padding: [number, number][] = [
    [0, 0],
    [beginH, endH],
    [beginW, endW],
    [0, 0],
  ];
  const padded = beginH + endH + beginW + endW > 0;
  let pooled = tf.avgPool((padded ? tf.pad(nhwc, padding) : nhwc) as never, kernel, strides, 'valid') as TfTensor;
  if (padded && ctx.int('count_include_pad', 0) === 0) {
    // avgPool divided by the kernel volume; the share of real elements under each window corrects it.
    const ones = tf.ones([1, nhwc.shape[1]!, nhwc.shape[2]!, 1]);
    const share = tf.avgPool(tf.pad(ones, padding) as never, kernel, strides, 'valid') as TfTensor;
    pooled = tf.div(pooled, share);
  }
  if (rank === 3) pooled = tf.squeeze(pooled, [1]);
  const layout = channelsLast ? pooled : tf.transpose(pooled, rank === 3 ? [0, 2, 1] : [0, 3, 1, 2]);
  const result = roundAndSaturate(ctx, tf.div(layout, perTensor(ctx, 3, 'y_scale')), optionalPerTensor(ctx, 4, 'y_zero_point'), x.dtype);
  return { tensor: result, dtype: x.dtype };
}

export const quantKernels: KernelTable = {
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  DynamicQuantizeLinear: dynamicQuantizeLinear,
  QLinearMatMul: qlinearMatMul,
  MatMulInteger: matMulInteger,
  QLinearConv: qlinearConv,
  ConvInteger: convInteger,
  [`${MICROSOFT}QLinearAdd`]: qlinearAdd,
  [`${MICROSOFT}QLinearMul`]: qlinearMul,
  [`${MICROSOFT}QLinearSigmoid`]: qlinearUnary(({ tf }, x) => tf.sigmoid(x)),
  [`${MICROSOFT}QLinearLeakyRelu`]: qlinearUnary((ctx, x) => ctx.tf.leakyRelu(x, ctx.float('alpha', 0.01))),
  [`${MICROSOFT}QLinearConcat`]: qlinearConcat,
  [`${MICROSOFT}QLinearGlobalAveragePool`]: qlinearGlobalAveragePool,
  [`${MICROSOFT}QLinearAveragePool`]: qlinearAveragePool,
  [`${MICROSOFT}QGemm`]: qgemm,
  [`${MICROSOFT}MatMulIntegerToFloat`]: matMulIntegerToFloat,
  [`${MICROSOFT}DynamicQuantizeMatMul`]: dynamicQuantizeMatMul,
};

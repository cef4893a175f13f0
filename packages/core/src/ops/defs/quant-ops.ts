import { ErrorCodes, fail } from '../../errors.js';
import { dtypeFromOnnx, isFloatDType, type DType } from '../../ir/dtype.js';
import { getInt, type TensorType } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import type { EvaluateContext, InferenceContext, OpDefinition } from '../registry.js';
import { fromFloat64, roundHalfToEven, toFloat64 } from './elementwise-kernels.js';
import { normalizeAxis, typeWith } from './rule-helpers.js';

const quantizedRanges: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
};

/**
 * Checks the scale/zero-point pair against x: per-tensor (a scalar or a 1-element
 * vector), per-axis (1-D with x.shape[axis] elements) or blocked (opset 21 block_size,
 * same rank as x). Returns the resolved axis for per-axis quantization.
 */
function checkScale(ctx: InferenceContext, x: TensorType, scaleIndex: number): void {
  const scale = ctx.requireInput(scaleIndex);
  if (!isFloatDType(scale.dtype)) ctx.fail(`scale (input ${scaleIndex}) is ${scale.dtype} but must be floating point`);
  if (ctx.hasInput(scaleIndex + 1)) {
    const zeroPoint = ctx.requireInput(scaleIndex + 1);
    if (scale.shape && zeroPoint.shape && (scale.shape.length !== zeroPoint.shape.length || scale.shape.some((dim, axis) => typeof dim === 'number' && typeof zeroPoint.shape![axis] === 'number' && dim !== zeroPoint.shape![axis]))) {
      ctx.fail(`scale has shape [${scale.shape.join(', ')}] but zero point has shape [${zeroPoint.shape.join(', ')}]; they must match`);
    }
  }
  if (scale.shape === undefined || x.shape === undefined) return;
  const blockSize = getInt(ctx.node, 'block_size', 0);
  if (blockSize > 0) {
    if (scale.shape.length !== x.shape.length) ctx.fail(`blocked quantization needs a scale of x's rank ${x.shape.length}, not [${scale.shape.join(', ')}]`);
    return;
  }
  const perTensor = scale.shape.length === 0 || (scale.shape.length === 1 && scale.shape[0] === 1);
  if (perTensor) return;
  if (scale.shape.length !== 1) ctx.fail(`scale has shape [${scale.shape.join(', ')}]; use a scalar (per tensor) or a 1-D vector (per axis)`);
  if (ctx.opset < 13) ctx.fail(`per-axis scales need opset 13; opset ${ctx.opset} takes a scalar scale`);
  const axis = normalizeAxis(ctx, getInt(ctx.node, 'axis', 1), x.shape.length);
  const channels = x.shape[axis];
  if (typeof channels === 'number' && typeof scale.shape[0] === 'number' && channels !== scale.shape[0]) {
    ctx.fail(`scale has ${scale.shape[0]} elements but x has ${channels} along axis ${axis}; per-axis scales need one per channel`);
  }
}

/** For each element of x, the index of its scale (0 for per-tensor). */
function scaleIndexer(x: Tensor, scale: Tensor, ctx: EvaluateContext): (index: number) => number {
  if (scale.size === 1) return () => 0;
  // Blocked scales (opset 21) are not folded: the value stays unknown, the type is still inferred.
  if (scale.rank !== 1) fail(ErrorCodes.UNSUPPORTED_OP, `node '${ctx.node.name}': only per-tensor and per-axis quantization is folded`);
  const axis = getInt(ctx.node, 'axis', 1);
  const resolved = axis < 0 ? axis + x.rank : axis;
  let inner = 1;
  for (let position = resolved + 1; position < x.rank; position++) inner *= x.shape[position]!;
  const channels = x.shape[resolved]!;
  return (index) => Math.floor(index / inner) % channels;
}

/**
 * QuantizeLinear: y = saturate(round(x / scale) + zero_point), of the zero point's type
 * (uint8 when absent, or output_dtype from opset 21).
 */
const quantizeLinear: OpDefinition = {
  opType: 'QuantizeLinear',
  infer(ctx) {
    const x = ctx.requireInput(0);
    if (!isFloatDType(x.dtype) && x.dtype !== 'int32') ctx.fail(`x (input 0) is ${x.dtype} but must be floating point or int32`);
    checkScale(ctx, x, 1);
    const outputDtypeCode = getInt(ctx.node, 'output_dtype', 0);
    let dtype: DType = 'uint8';
    if (ctx.hasInput(2)) dtype = ctx.requireInput(2).dtype;
    else if (outputDtypeCode !== 0) dtype = dtypeFromOnnx(outputDtypeCode, `node '${ctx.node.name}' attribute output_dtype`);
    if (ctx.hasInput(2) && outputDtypeCode !== 0 && dtypeFromOnnx(outputDtypeCode, 'output_dtype') !== dtype) {
      ctx.fail(`output_dtype says ${dtypeFromOnnx(outputDtypeCode, 'output_dtype')} but the zero point is ${dtype}; they must agree`);
    }
    if (quantizedRanges[dtype] === undefined || dtype === 'int32') ctx.fail(`quantizes to ${dtype}; use int8, uint8, int16 or uint16`);
    return { types: [typeWith(dtype, x.shape)] };
  },
  evaluate(ctx) {
    const x = ctx.inputs[0] ?? ctx.fail('input x is missing');
    const scale = ctx.inputs[1] ?? ctx.fail('input y_scale is missing');
    const zeroPoint = ctx.inputs[2];
    const outputDtypeCode = getInt(ctx.node, 'output_dtype', 0);
    const dtype = zeroPoint?.dtype ?? (outputDtypeCode === 0 ? 'uint8' : dtypeFromOnnx(outputDtypeCode, `node '${ctx.node.name}' attribute output_dtype`));
    const [low, high] = quantizedRanges[dtype] ?? ctx.fail(`cannot fold quantization to ${dtype}`);
    const values = toFloat64(x);
    const scales = toFloat64(scale);
    const zeroPoints = zeroPoint ? toFloat64(zeroPoint) : new Float64Array(scales.length);
    const channelOf = scaleIndexer(x, scale, ctx);
    const result = new Float64Array(values.length);
    for (let index = 0; index < values.length; index++) {
      const channel = channelOf(index);
      const quantized = roundHalfToEven(values[index]! / scales[channel]!) + zeroPoints[channel]!;
      result[index] = Math.min(high, Math.max(low, quantized));
    }
    return [fromFloat64(dtype, x.shape, result)];
  },
};

/**
 * DequantizeLinear: y = (x − zero_point) × scale, of the scale's type. x is int8, uint8,
 * int16, uint16 or int32 (int32 has no zero point, or a zero one).
 */
const dequantizeLinear: OpDefinition = {
  opType: 'DequantizeLinear',
  infer(ctx) {
    const x = ctx.requireInput(0);
    if (quantizedRanges[x.dtype] === undefined) ctx.fail(`x (input 0) is ${x.dtype} but must be int8, uint8, int16, uint16 or int32`);
    checkScale(ctx, x, 1);
    if (ctx.hasInput(2)) {
      const zeroPoint = ctx.requireInput(2);
      if (zeroPoint.dtype !== x.dtype) ctx.fail(`zero point (input 2) is ${zeroPoint.dtype} but x is ${x.dtype}; they must match`);
      const value = ctx.constant(2);
      if (x.dtype === 'int32' && value && value.toNumbers().some((entry) => entry !== 0)) {
        ctx.fail('an int32 x (a quantized bias) must have a zero point of 0');
      }
    }
    return { types: [typeWith(ctx.requireInput(1).dtype, x.shape)] };
  },
  evaluate(ctx) {
    const x = ctx.inputs[0] ?? ctx.fail('input x is missing');
    const scale = ctx.inputs[1] ?? ctx.fail('input x_scale is missing');
    const values = toFloat64(x);
    const scales = toFloat64(scale);
    const zeroPoints = ctx.inputs[2] ? toFloat64(ctx.inputs[2]) : new Float64Array(scales.length);
    const channelOf = scaleIndexer(x, scale, ctx);
    const result = new Float64Array(values.length);
    for (let index = 0; index < values.length; index++) {
      const channel = channelOf(index);
      result[index] = (values[index]! - zeroPoints[channel]!) * scales[channel]!;
    }
    return [fromFloat64(scale.dtype, x.shape, result)];
  },
};

/** QuantizeLinear and DequantizeLinear (QDQ). */
export const quantOps: OpDefinition[] = [quantizeLinear, dequantizeLinear];

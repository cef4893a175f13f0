/**
 * Integer (int8/uint8) operators of quantized ONNX models: the QOperator format's QLinearConv and
 * QLinearMatMul, ConvInteger, MatMulInteger and DynamicQuantizeLinear (default domain), and the
 * com.microsoft contrib ops onnxruntime uses in int8 graphs. Shapes follow the float op each one
 * quantizes (Conv, MatMul, Gemm, AveragePool, Concat, ...): the rules below check the
 * quantization parameters and then run the float op's own shape rule on the data inputs.
 */
import { ErrorCodes, fail } from '../../errors.js';
import type { DType } from '../../ir/dtype.js';
import { getFloat, getInt, type Dim, type Shape, type TensorType } from '../../ir/graph.js';
import type { CostContext, InferenceContext, InferenceResult, OpDefinition } from '../registry.js';
import { broadcastShapes, checkUnidirectionalBroadcast } from './broadcast.js';
import { convOps } from './conv-ops.js';
import { matrixOps } from './matrix-ops.js';
import { poolOps } from './pool-ops.js';
import { inputElements, outputElements, requireRank, staticDim, typeWith } from './rule-helpers.js';
import { shapeOps } from './shape-ops.js';

/** The domain of onnxruntime's contrib operators. */
export const MICROSOFT_DOMAIN = 'com.microsoft';

const EIGHT_BIT: ReadonlySet<DType> = new Set(['int8', 'uint8']);

function floatRule(definitions: readonly OpDefinition[], opType: string): OpDefinition {
  const found = definitions.find((definition) => definition.opType === opType);
  if (!found) fail(ErrorCodes.INVALID_STATE, `the ${opType} shape rule is missing from razor's op definitions`);
  return found;
}

const convRule = floatRule(convOps, 'Conv');
const matMulRule = floatRule(matrixOps, 'MatMul');
const gemmRule = floatRule(matrixOps, 'Gemm');
const averagePoolRule = floatRule(poolOps, 'AveragePool');
const globalAveragePoolRule = floatRule(poolOps, 'GlobalAveragePool');
const concatRule = floatRule(shapeOps, 'Concat');

/** The opset the float rules are run under (they read `ctx.opset` only for attribute-to-input moves older than this). */
const FLOAT_RULE_OPSET = 13;

/**
 * The node seen as its float counterpart: input `k` of the view is input `inputs[k]` of the
 * node (undefined: omitted), every type float32 (optionally reshaped by `reshape`), so the
 * float op's shape rule applies unchanged. Failures still name the real node.
 */
function viewAs(ctx: InferenceContext, inputs: readonly (number | undefined)[], reshape?: (shape: Shape) => Shape): InferenceContext {
  const asFloat = (type: TensorType | undefined): TensorType | undefined => {
    if (type === undefined) return undefined;
    if (type.shape === undefined) return { dtype: 'float32' };
    return { dtype: 'float32', shape: reshape ? reshape(type.shape) : type.shape };
  };
  const source = (index: number): number | undefined => {
    const position = inputs[index];
    return position !== undefined && ctx.hasInput(position) ? position : undefined;
  };
  let inputCount = inputs.length;
  while (inputCount > 0 && source(inputCount - 1) === undefined) inputCount--;
  return {
    node: ctx.node,
    opset: FLOAT_RULE_OPSET,
    inputCount,
    hasInput: (index) => source(index) !== undefined,
    inputType: (index) => {
      const position = source(index);
      return position === undefined ? undefined : asFloat(ctx.inputType(position));
    },
    requireInput: (index) => {
      const position = inputs[index];
      if (position === undefined) return ctx.fail(`input ${index} of the float rule has no counterpart`);
      return asFloat(ctx.requireInput(position))!;
    },
    constant: (index) => {
      const position = source(index);
      return position === undefined ? undefined : ctx.constant(position);
    },
    symbolicValue: () => undefined,
    freshDim: () => ctx.freshDim(),
    fail: (message) => ctx.fail(message),
  };
}

/** The cost context of the float counterpart (see `viewAs`). */
function costAs(ctx: CostContext, inputs: readonly (number | undefined)[]): CostContext {
  return {
    node: ctx.node,
    opset: FLOAT_RULE_OPSET,
    inputType: (index) => {
      const position = inputs[index];
      return position === undefined ? undefined : ctx.inputType(position);
    },
    outputType: (index) => ctx.outputType(index),
  };
}

/** The output shape the float rule infers (output 0), or undefined when unknown. */
function floatShape(result: InferenceResult): Shape | undefined {
  return result.types[0]?.shape;
}

/** Fails unless input `index` is int8 or uint8; returns its type. */
function requireEightBit(ctx: InferenceContext, index: number, what: string): TensorType {
  const type = ctx.requireInput(index);
  if (!EIGHT_BIT.has(type.dtype)) ctx.fail(`${what} (input ${index}) is ${type.dtype} but must be int8 or uint8`);
  return type;
}

interface QuantParamOptions {
  /** What the parameters quantize, for messages ("x", "w", "y"). */
  what: string;
  /** The quantized tensor's dtype the zero point must have; undefined: taken from the zero point. */
  dtype?: DType;
  /** Zero point may be left out (com.microsoft ops: 0 by default). */
  optionalZeroPoint?: boolean;
  /**
   * A 1-D scale of this many elements is allowed (per channel/column); otherwise the scale
   * must be a scalar or a 1-element vector. `true`: any 1-D length.
   */
  perChannel?: Dim | true;
}

/**
 * Checks a scale (float32, per tensor or per channel) and its zero point (the quantized
 * tensor's dtype, the scale's shape). Returns the zero point's dtype when present.
 */
function checkQuantParams(ctx: InferenceContext, scaleIndex: number, zeroPointIndex: number, options: QuantParamOptions): DType | undefined {
  const scale = ctx.requireInput(scaleIndex);
  if (scale.dtype !== 'float32') ctx.fail(`${options.what}'s scale (input ${scaleIndex}) is ${scale.dtype} but must be float32`);
  checkParamShape(ctx, scale.shape, `${options.what}'s scale (input ${scaleIndex})`, options.perChannel);
  if (!ctx.hasInput(zeroPointIndex)) {
    if (!options.optionalZeroPoint) ctx.requireInput(zeroPointIndex);
    return undefined;
  }
  const zeroPoint = ctx.requireInput(zeroPointIndex);
  if (!EIGHT_BIT.has(zeroPoint.dtype)) ctx.fail(`${options.what}'s zero point (input ${zeroPointIndex}) is ${zeroPoint.dtype} but must be int8 or uint8`);
  if (options.dtype !== undefined && zeroPoint.dtype !== options.dtype) {
    ctx.fail(`${options.what}'s zero point (input ${zeroPointIndex}) is ${zeroPoint.dtype} but ${options.what} is ${options.dtype}; they must match`);
  }
  checkParamShape(ctx, zeroPoint.shape, `${options.what}'s zero point (input ${zeroPointIndex})`, options.perChannel);
  const scaleSize = scale.shape?.length === 1 ? scale.shape[0] : scale.shape?.length === 0 ? 1 : undefined;
  const zeroSize = zeroPoint.shape?.length === 1 ? zeroPoint.shape[0] : zeroPoint.shape?.length === 0 ? 1 : undefined;
  if (typeof scaleSize === 'number' && typeof zeroSize === 'number' && scaleSize !== zeroSize) {
    ctx.fail(`${options.what}'s scale has ${scaleSize} element(s) but its zero point has ${zeroSize}; they must match`);
  }
  return zeroPoint.dtype;
}

function checkParamShape(ctx: InferenceContext, shape: Shape | undefined, what: string, perChannel: Dim | true | undefined): void {
  if (shape === undefined) return;
  const perTensor = shape.length === 0 || (shape.length === 1 && shape[0] === 1);
  if (perTensor) return;
  if (perChannel === undefined) ctx.fail(`${what} has shape [${shape.join(', ')}] but must be a scalar (per-tensor quantization)`);
  if (shape.length !== 1) ctx.fail(`${what} has shape [${shape.join(', ')}]; use a scalar (per tensor) or a 1-D vector (per channel)`);
  if (perChannel !== true && typeof perChannel === 'number' && typeof shape[0] === 'number' && shape[0] !== perChannel) {
    ctx.fail(`${what} has ${shape[0]} elements but there are ${perChannel} channels; per-channel parameters need one per channel`);
  }
}

/** Fails unless the optional int32 bias at `index` is a vector of `channels` elements. */
function checkInt32Bias(ctx: InferenceContext, index: number, channels: Dim | undefined, what: string): void {
  if (!ctx.hasInput(index)) return;
  const bias = ctx.requireInput(index);
  if (bias.dtype !== 'int32') ctx.fail(`${what} (input ${index}) is ${bias.dtype} but must be int32 (quantized with scale x_scale × w_scale, zero point 0)`);
  requireRank(ctx, bias.shape, `${what} (input ${index})`, (rank) => rank === 1, 'rank 1');
  const length = bias.shape?.[0];
  if (typeof length === 'number' && typeof channels === 'number' && length !== channels) {
    ctx.fail(`${what} (input ${index}) has ${length} elements but the output has ${channels} channels`);
  }
}

function convMacs(ctx: CostContext, weightIndex: number): number {
  const weight = ctx.inputType(weightIndex)?.shape;
  const perOutput = weight === undefined ? Number.NaN : weight.slice(1).reduce<number>((product, dim) => product * staticDim(dim), 1);
  return outputElements(ctx) * perOutput;
}

function matMulMacs(ctx: CostContext, leftIndex: number): number {
  const left = ctx.inputType(leftIndex)?.shape;
  return outputElements(ctx) * staticDim(left?.[left.length - 1]);
}

/**
 * QLinearConv (opset 10): x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
 * y_zero_point, B. Conv's shape on x and w; w may be quantized per output channel; the
 * optional bias is int32 [M]; the output has y_zero_point's type.
 */
const qlinearConv: OpDefinition = {
  opType: 'QLinearConv',
  parameterInputs: [3, 8],
  infer(ctx) {
    const x = requireEightBit(ctx, 0, 'x');
    const w = requireEightBit(ctx, 3, 'w');
    const channels = w.shape?.[0] ?? null;
    checkQuantParams(ctx, 1, 2, { what: 'x', dtype: x.dtype });
    checkQuantParams(ctx, 4, 5, { what: 'w', dtype: w.dtype, perChannel: channels });
    const dtype = checkQuantParams(ctx, 6, 7, { what: 'y' })!;
    checkInt32Bias(ctx, 8, channels, 'bias B');
    return { types: [typeWith(dtype, floatShape(convRule.infer(viewAs(ctx, [0, 3]))))] };
  },
  macs: (ctx) => convMacs(ctx, 3),
};

/**
 * QLinearMatMul (opset 10): a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
 * y_zero_point. MatMul's shape; b may be quantized per column; the output has
 * y_zero_point's type.
 */
const qlinearMatMul: OpDefinition = {
  opType: 'QLinearMatMul',
  parameterInputs: [3],
  infer(ctx) {
    const a = requireEightBit(ctx, 0, 'a');
    const b = requireEightBit(ctx, 3, 'b');
    checkQuantParams(ctx, 1, 2, { what: 'a', dtype: a.dtype, perChannel: true });
    checkQuantParams(ctx, 4, 5, { what: 'b', dtype: b.dtype, perChannel: true });
    const dtype = checkQuantParams(ctx, 6, 7, { what: 'y' })!;
    return { types: [typeWith(dtype, floatShape(matMulRule.infer(viewAs(ctx, [0, 3]))))] };
  },
  macs: (ctx) => matMulMacs(ctx, 0),
};

/** Checks an optional zero point of an integer op against its tensor's dtype. */
function checkZeroPoint(ctx: InferenceContext, index: number, dtype: DType, what: string): void {
  if (!ctx.hasInput(index)) return;
  const zeroPoint = ctx.requireInput(index);
  if (zeroPoint.dtype !== dtype) ctx.fail(`${what}'s zero point (input ${index}) is ${zeroPoint.dtype} but ${what} is ${dtype}; they must match`);
}

/** ConvInteger (opset 10): x, w, x_zero_point, w_zero_point to an int32 Conv result. */
const convInteger: OpDefinition = {
  opType: 'ConvInteger',
  parameterInputs: [1],
  infer(ctx) {
    const x = requireEightBit(ctx, 0, 'x');
    const w = requireEightBit(ctx, 1, 'w');
    checkZeroPoint(ctx, 2, x.dtype, 'x');
    checkZeroPoint(ctx, 3, w.dtype, 'w');
    return { types: [typeWith('int32', floatShape(convRule.infer(viewAs(ctx, [0, 1]))))] };
  },
  macs: (ctx) => convMacs(ctx, 1),
};

/** MatMulInteger (opset 10): A, B, a_zero_point, b_zero_point to an int32 MatMul result. */
const matMulInteger: OpDefinition = {
  opType: 'MatMulInteger',
  parameterInputs: [1],
  infer(ctx) {
    const a = requireEightBit(ctx, 0, 'A');
    const b = requireEightBit(ctx, 1, 'B');
    checkZeroPoint(ctx, 2, a.dtype, 'A');
    checkZeroPoint(ctx, 3, b.dtype, 'B');
    return { types: [typeWith('int32', floatShape(matMulRule.infer(viewAs(ctx, [0, 1]))))] };
  },
  macs: (ctx) => matMulMacs(ctx, 0),
};

/**
 * DynamicQuantizeLinear (opset 11): a float32 tensor to uint8 of the same shape, with the
 * scalar scale (float32) and zero point (uint8) computed from its range at run time.
 */
const dynamicQuantizeLinear: OpDefinition = {
  opType: 'DynamicQuantizeLinear',
  infer(ctx) {
    const x = ctx.requireInput(0);
    if (x.dtype !== 'float32') ctx.fail(`x (input 0) is ${x.dtype} but must be float32`);
    return { types: [typeWith('uint8', x.shape), { dtype: 'float32', shape: [] }, { dtype: 'uint8', shape: [] }] };
  },
};

/**
 * com.microsoft QLinearAdd and QLinearMul: A, A_scale, A_zero_point, B, B_scale,
 * B_zero_point, C_scale, C_zero_point, all per tensor, one 8-bit type; numpy broadcasting.
 */
function qlinearBinary(opType: string): OpDefinition {
  return {
    opType,
    domain: MICROSOFT_DOMAIN,
    infer(ctx) {
      const a = requireEightBit(ctx, 0, 'A');
      const b = requireEightBit(ctx, 3, 'B');
      if (b.dtype !== a.dtype) ctx.fail(`B (input 3) is ${b.dtype} but A is ${a.dtype}; both operands and the output share one 8-bit type`);
      checkQuantParams(ctx, 1, 2, { what: 'A', dtype: a.dtype, optionalZeroPoint: true });
      checkQuantParams(ctx, 4, 5, { what: 'B', dtype: a.dtype, optionalZeroPoint: true });
      checkQuantParams(ctx, 6, 7, { what: 'C', dtype: a.dtype, optionalZeroPoint: true });
      return { types: [typeWith(a.dtype, broadcastShapes(ctx, [a.shape, b.shape]))] };
    },
  };
}

/** Moves the last (channel) axis of a channels-last shape to position 1. */
function channelsFirst(shape: Shape): Shape {
  if (shape.length < 3) return shape;
  return [shape[0]!, shape[shape.length - 1]!, ...shape.slice(1, -1)];
}

/** The inverse of `channelsFirst`. */
function channelsLastOf(shape: Shape): Shape {
  if (shape.length < 3) return shape;
  return [shape[0]!, ...shape.slice(2), shape[1]!];
}

/** Checks the X/Y parameters of a unary com.microsoft op (X, X_scale, X_zero_point, Y_scale, Y_zero_point). */
function checkUnaryParams(ctx: InferenceContext, dtype: DType, optionalZeroPoint: boolean): void {
  checkQuantParams(ctx, 1, 2, { what: 'X', dtype, optionalZeroPoint });
  checkQuantParams(ctx, 3, 4, { what: 'Y', dtype, optionalZeroPoint });
}

/**
 * com.microsoft QLinearGlobalAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point;
 * [N, C, D1..Dn] to [N, C, 1..1], or [N, D1..Dn, C] to [N, 1..1, C] with channels_last.
 */
const qlinearGlobalAveragePool: OpDefinition = {
  opType: 'QLinearGlobalAveragePool',
  domain: MICROSOFT_DOMAIN,
  infer(ctx) {
    const x = requireEightBit(ctx, 0, 'X');
    checkUnaryParams(ctx, x.dtype, false);
    const channelsLast = getInt(ctx.node, 'channels_last', 0) !== 0;
    const shape = floatShape(globalAveragePoolRule.infer(viewAs(ctx, [0], channelsLast ? channelsFirst : undefined)));
    return { types: [typeWith(x.dtype, shape && channelsLast ? channelsLastOf(shape) : shape)] };
  },
  macs: (ctx) => inputElements(ctx),
};

/**
 * com.microsoft QLinearAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point with
 * AveragePool's attributes (and channels_last); AveragePool's shape.
 */
const qlinearAveragePool: OpDefinition = {
  opType: 'QLinearAveragePool',
  domain: MICROSOFT_DOMAIN,
  infer(ctx) {
    const x = requireEightBit(ctx, 0, 'X');
    checkUnaryParams(ctx, x.dtype, true);
    const channelsLast = getInt(ctx.node, 'channels_last', 0) !== 0;
    const shape = floatShape(averagePoolRule.infer(viewAs(ctx, [0], channelsLast ? channelsFirst : undefined)));
    return { types: [typeWith(x.dtype, shape && channelsLast ? channelsLastOf(shape) : shape)] };
  },
  macs(ctx) {
    const kernel = ctx.node.attributes.get('kernel_shape');
    const volume = kernel?.type === 'ints' ? kernel.value.reduce((product, size) => product * size, 1) : Number.NaN;
    return outputElements(ctx) * volume;
  },
};

/**
 * com.microsoft QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) for
 * each input; Concat's shape along the required `axis`; the output has Y_zero_point's type.
 */
const qlinearConcat: OpDefinition = {
  opType: 'QLinearConcat',
  domain: MICROSOFT_DOMAIN,
  infer(ctx) {
    const dtype = checkQuantParams(ctx, 0, 1, { what: 'Y' })!;
    const tensors = ctx.inputCount - 2;
    if (tensors < 3 || tensors % 3 !== 0) {
      ctx.fail(`has ${ctx.inputCount} inputs; QLinearConcat takes Y_scale, Y_zero_point, then one (tensor, scale, zero point) triple per input`);
    }
    if (getInt(ctx.node, 'axis') === undefined) ctx.fail("attribute 'axis' is required");
    const positions: number[] = [];
    for (let position = 2; position < ctx.inputCount; position += 3) {
      const x = requireEightBit(ctx, position, `tensor ${(position - 2) / 3}`);
      if (x.dtype !== dtype) ctx.fail(`tensor ${(position - 2) / 3} (input ${position}) is ${x.dtype} but Y_zero_point is ${dtype}; all tensors share one 8-bit type`);
      checkQuantParams(ctx, position + 1, position + 2, { what: `tensor ${(position - 2) / 3}`, dtype });
      positions.push(position);
    }
    return { types: [typeWith(dtype, floatShape(concatRule.infer(viewAs(ctx, positions))))] };
  },
};

/** com.microsoft QLinearSigmoid and QLinearLeakyRelu (attribute alpha): X's shape and type. */
function qlinearActivation(opType: string): OpDefinition {
  return {
    opType,
    domain: MICROSOFT_DOMAIN,
    infer(ctx) {
      const x = requireEightBit(ctx, 0, 'X');
      checkUnaryParams(ctx, x.dtype, true);
      // alpha must be a float attribute (getFloat fails naming the node otherwise).
      if (opType === 'QLinearLeakyRelu') getFloat(ctx.node, 'alpha', 0.01);
      return { types: [typeWith(x.dtype, x.shape)] };
    },
  };
}

/**
 * com.microsoft QGemm: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C, y_scale,
 * y_zero_point with Gemm's transA/transB/alpha. A is per tensor, B per tensor or per
 * column; C is int32 (scale alpha × a_scale × b_scale). With y_scale and y_zero_point the
 * output is quantized to y_zero_point's type, without them it is float32.
 */
const qgemm: OpDefinition = {
  opType: 'QGemm',
  domain: MICROSOFT_DOMAIN,
  parameterInputs: [3, 6],
  infer(ctx) {
    const a = requireEightBit(ctx, 0, 'A');
    const b = requireEightBit(ctx, 3, 'B');
    const transB = getInt(ctx.node, 'transB', 0) !== 0;
    checkQuantParams(ctx, 1, 2, { what: 'A', dtype: a.dtype });
    checkQuantParams(ctx, 4, 5, { what: 'B', dtype: b.dtype, perChannel: b.shape?.[transB ? 0 : 1] ?? true });
    let dtype: DType = 'float32';
    if (ctx.hasInput(7) || ctx.hasInput(8)) {
      if (!ctx.hasInput(7) || !ctx.hasInput(8)) ctx.fail('y_scale (input 7) and y_zero_point (input 8) come together: both for a quantized output, neither for float32');
      dtype = checkQuantParams(ctx, 7, 8, { what: 'Y' })!;
    }
    const shape = floatShape(gemmRule.infer(viewAs(ctx, [0, 3])));
    if (ctx.hasInput(6)) {
      const bias = ctx.requireInput(6);
      if (bias.dtype !== 'int32') ctx.fail(`C (input 6) is ${bias.dtype} but must be int32 (quantized with scale alpha × a_scale × b_scale, zero point 0)`);
      checkUnidirectionalBroadcast(ctx, bias.shape, shape, 'C (input 6)');
    }
    return { types: [typeWith(dtype, shape)] };
  },
  macs(ctx) {
    return gemmRule.macs!(costAs(ctx, [0, 3]));
  },
};

/** Checks a float32 bias of length N (the output's last dim) for the *ToFloat matmuls. */
function checkFloatBias(ctx: InferenceContext, index: number, shape: Shape | undefined): void {
  if (!ctx.hasInput(index)) return;
  const bias = ctx.requireInput(index);
  if (bias.dtype !== 'float32') ctx.fail(`bias (input ${index}) is ${bias.dtype} but must be float32`);
  requireRank(ctx, bias.shape, `bias (input ${index})`, (rank) => rank === 1, 'rank 1');
  const columns = shape?.[shape.length - 1];
  const length = bias.shape?.[0];
  if (typeof length === 'number' && typeof columns === 'number' && length !== columns) {
    ctx.fail(`bias (input ${index}) has ${length} elements but the product has ${columns} columns`);
  }
}

/**
 * com.microsoft MatMulIntegerToFloat: A, B, a_scale, b_scale, a_zero_point, b_zero_point,
 * bias; (A − a_zp)(B − b_zp) × a_scale × b_scale + bias as float32, MatMul's shape.
 */
const matMulIntegerToFloat: OpDefinition = {
  opType: 'MatMulIntegerToFloat',
  domain: MICROSOFT_DOMAIN,
  parameterInputs: [1, 6],
  infer(ctx) {
    const a = requireEightBit(ctx, 0, 'A');
    const b = requireEightBit(ctx, 1, 'B');
    checkQuantParams(ctx, 2, 4, { what: 'A', dtype: a.dtype, optionalZeroPoint: true, perChannel: true });
    checkQuantParams(ctx, 3, 5, { what: 'B', dtype: b.dtype, optionalZeroPoint: true, perChannel: b.shape?.[b.shape.length - 1] ?? true });
    const shape = floatShape(matMulRule.infer(viewAs(ctx, [0, 1])));
    checkFloatBias(ctx, 6, shape);
    return { types: [typeWith('float32', shape)] };
  },
  macs: (ctx) => matMulMacs(ctx, 0),
};

/**
 * com.microsoft DynamicQuantizeMatMul: A (float32, quantized to uint8 at run time), B
 * (int8/uint8), b_scale, b_zero_point, bias; float32 output of MatMul's shape.
 */
const dynamicQuantizeMatMul: OpDefinition = {
  opType: 'DynamicQuantizeMatMul',
  domain: MICROSOFT_DOMAIN,
  parameterInputs: [1, 4],
  infer(ctx) {
    const a = ctx.requireInput(0);
    if (a.dtype !== 'float32') ctx.fail(`A (input 0) is ${a.dtype} but must be float32`);
    const b = requireEightBit(ctx, 1, 'B');
    checkQuantParams(ctx, 2, 3, { what: 'B', dtype: b.dtype, optionalZeroPoint: true, perChannel: b.shape?.[b.shape.length - 1] ?? true });
    const shape = floatShape(matMulRule.infer(viewAs(ctx, [0, 1])));
    checkFloatBias(ctx, 4, shape);
    return { types: [typeWith('float32', shape)] };
  },
  macs: (ctx) => matMulMacs(ctx, 0),
};

/** The int8/uint8 operators: QOperator format, integer ops and onnxruntime's quantized contrib ops. */
export const quantLinearOps: OpDefinition[] = [
  qlinearConv,
  qlinearMatMul,
  convInteger,
  matMulInteger,
  dynamicQuantizeLinear,
  qlinearBinary('QLinearAdd'),
  qlinearBinary('QLinearMul'),
  qlinearGlobalAveragePool,
  qlinearAveragePool,
  qlinearConcat,
  qlinearActivation('QLinearSigmoid'),
  qlinearActivation('QLinearLeakyRelu'),
  qgemm,
  matMulIntegerToFloat,
  dynamicQuantizeMatMul,
];

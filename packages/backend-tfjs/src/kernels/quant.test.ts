import { Tensor, attr, type AttributeInput, type DType } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { expectMatchesOnnxruntime, seeded, singleOp, tfjsBackend, type OpInput } from '../__fixtures__/compare.js';

const MICROSOFT = 'com.microsoft';

/** Integer outputs must equal onnxruntime's exactly. */
const EXACT = { absolute: 0, relative: 0 };
/**
 * Where onnxruntime's kernels do not follow the float formula bit for bit, a value that lands
 * next to a .5 boundary may round the other way: its AVX2 QLinearAdd/QLinearMul requantize in
 * fixed point, it picks a fixed-point symmetric QLinearConv kernel on some CPUs, it approximates
 * the sigmoid with a polynomial, and it sums and divides average pools in another order. Those
 * ops allow one quantization step, and nothing more; every other integer output is exact.
 */
const ONE_STEP = { absolute: 1, relative: 0 };

/** Seeded integers in [low, high] (a small LCG, the same on every machine). */
function integers(dtype: DType, shape: readonly number[], seed: number, low: number, high: number): Tensor {
  let state = (seed * 2654435761) >>> 0 || 1;
  const size = shape.reduce((product, dim) => product * dim, 1);
  const values: number[] = [];
  for (let index = 0; index < size; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values.push(low + Math.floor((state / 4294967296) * (high - low + 1)));
  }
  return Tensor.from(dtype, shape, values);
}

const u8 = (shape: readonly number[], seed: number, low = 0, high = 255): Tensor => integers('uint8', shape, seed, low, high);
const i8 = (shape: readonly number[], seed: number, low = -128, high = 127): Tensor => integers('int8', shape, seed, low, high);
const scalar = (dtype: DType, value: number): { initializer: Tensor } => ({ initializer: Tensor.scalar(dtype, value) });
const scale = (value: number): { initializer: Tensor } => scalar('float32', value);
const vector = (dtype: DType, values: number[]): { initializer: Tensor } => ({ initializer: Tensor.from(dtype, [values.length], values) });

interface CheckOptions {
  attributes?: Record<string, AttributeInput>;
  opset?: number;
  domain?: string;
  outputs?: number;
  tolerance?: { absolute: number; relative: number };
}

async function check(opType: string, inputs: readonly OpInput[], options: CheckOptions = {}): Promise<Record<string, Tensor>> {
  const { graph, feeds } = singleOp(opType, inputs, options.attributes ?? {}, {
    ...(options.opset === undefined ? {} : { opset: options.opset }),
    ...(options.domain === undefined ? {} : { domain: options.domain }),
    ...(options.outputs === undefined ? {} : { outputs: options.outputs }),
  });
  return expectMatchesOnnxruntime(graph, feeds, { tolerance: options.tolerance ?? EXACT });
}

describe('QuantizeLinear and DequantizeLinear match onnxruntime', () => {
  const x = seeded([2, 3, 4], 11, 3);

  it('quantizes per tensor to uint8 and int8, saturating and rounding ties to even', async () => {
    // x / 0.5 lands on ±0.5, ±1.5, ±2.5 exactly; ±300 saturates.
    const ties = Tensor.float32([10], [0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 150, -150, 0.3, 1000]);
    const outputs = await check('QuantizeLinear', [ties, scale(0.5)], { opset: 10 });
    expect(outputs['y0']!.dtype).toBe('uint8');
    await check('QuantizeLinear', [ties, scale(0.5), scalar('int8', -3)]);
    await check('QuantizeLinear', [ties, scale(0.5), scalar('uint8', 128)], { opset: 19 });
    await check('QuantizeLinear', [x, scale(0.02), scalar('int8', 5)]);
    // A 1-element vector is per tensor too.
    await check('QuantizeLinear', [x, vector('float32', [0.03]), vector('uint8', [100])]);
  });

  it('quantizes per axis (opset 13), on the default and a negative axis', async () => {
    await check('QuantizeLinear', [x, vector('float32', [0.01, 0.02, 0.05]), vector('int8', [0, -10, 7])], { opset: 13 });
    await check('QuantizeLinear', [x, vector('float32', [0.01, 0.02, 0.05, 0.1]), vector('uint8', [128, 0, 255, 3])], { opset: 13, attributes: { axis: -1 } });
    await check('QuantizeLinear', [x, vector('float32', [0.02, 0.04])], { attributes: { axis: 0 } });
  });

  it('quantizes to int16 and uint16 and honours output_dtype (opset 21)', async () => {
    const wide = seeded([3, 4], 12, 500);
    await check('QuantizeLinear', [wide, scale(0.01), scalar('int16', -20)], { opset: 21 });
    await check('QuantizeLinear', [wide, vector('float32', [0.01, 0.02, 0.005, 0.1]), vector('uint16', [30000, 0, 65535, 7])], { opset: 21 });
    const outputs = await check('QuantizeLinear', [wide, scale(0.05)], { opset: 21, attributes: { output_dtype: 3 } });
    expect(outputs['y0']!.dtype).toBe('int8');
  });

  it('quantizes and dequantizes in blocks (opset 21 block_size)', async () => {
    const blocked = seeded([2, 5], 13, 4);
    const scales = { initializer: Tensor.float32([2, 3], [0.01, 0.02, 0.04, 0.03, 0.05, 0.08]) };
    await check('QuantizeLinear', [blocked, scales, { initializer: Tensor.from('int8', [2, 3], [0, 1, -2, 3, -4, 5]) }], { opset: 21, attributes: { axis: 1, block_size: 2 } });
    const codes = i8([2, 5], 14);
    await check('DequantizeLinear', [codes, scales, { initializer: Tensor.from('int8', [2, 3], [0, 1, -2, 3, -4, 5]) }], { opset: 21, attributes: { axis: 1, block_size: 2 } });
  });

  it('dequantizes 8-bit, 16-bit and int32 values per tensor and per axis', async () => {
    const codes = u8([2, 3, 4], 15);
    await check('DequantizeLinear', [codes, scale(0.07), scalar('uint8', 131)], { opset: 10 });
    await check('DequantizeLinear', [i8([2, 3, 4], 16), scale(0.5)]);
    await check('DequantizeLinear', [codes, vector('float32', [0.1, 0.2, 0.3]), vector('uint8', [0, 128, 255])], { opset: 13 });
    await check('DequantizeLinear', [i8([2, 3, 4], 17), vector('float32', [0.1, 0.2, 0.3, 0.4]), vector('int8', [0, -1, 2, -3])], { opset: 13, attributes: { axis: -1 } });
    const bias = Tensor.from('int32', [5], [-100000, -7, 0, 9, 2000000]);
    await check('DequantizeLinear', [bias, scale(0.0003)], { tolerance: { absolute: 0, relative: 1e-7 } });
    await check('DequantizeLinear', [integers('int16', [3, 4], 18, -32768, 32767), scale(0.001), scalar('int16', -5)], { opset: 21 });
    await check('DequantizeLinear', [integers('uint16', [3, 4], 19, 0, 65535), scale(0.001), scalar('uint16', 40000)], { opset: 21 });
  });

  it('dequantizes to float16 when the scale is float16 (opset 19)', async () => {
    const outputs = await check('DequantizeLinear', [u8([2, 4], 20), scalar('float16', 0.0625), scalar('uint8', 3)], { opset: 19 });
    expect(outputs['y0']!.dtype).toBe('float16');
  });
});

describe('DynamicQuantizeLinear matches onnxruntime', () => {
  it('computes scale and zero point from the range including zero', async () => {
    const cases = [
      seeded([3, 5], 21, 2),
      Tensor.float32([4], [0.5, 1, 2, 3]),
      Tensor.float32([4], [-0.5, -1, -2, -3]),
      Tensor.float32([3], [0, 0, 0]),
      Tensor.float32([6], [-1, 0, 1.5, 2.5, 0.25, -0.75]),
    ];
    for (const x of cases) {
      const outputs = await check('DynamicQuantizeLinear', [x], { outputs: 3, tolerance: { absolute: 0, relative: 1e-7 } });
      expect(outputs['y0']!.dtype).toBe('uint8');
      expect(outputs['y2']!.dtype).toBe('uint8');
    }
  });
});

describe('integer matrix products match onnxruntime', () => {
  // Activations uint8 and weights int8 kept to 7 bits: onnxruntime's u8s8 kernel on AVX2
  // without VNNI sums pairs of products in int16 and would saturate on full-range weights.
  const a = u8([2, 3, 6], 31);
  const b = i8([6, 4], 32, -64, 63);

  it('QLinearMatMul, per tensor, uint8 and int8, with batch broadcasting', async () => {
    await check('QLinearMatMul', [a, scale(0.02), scalar('uint8', 120), { initializer: b }, scale(0.01), scalar('int8', 0), scale(0.05), scalar('uint8', 128)]);
    await check('QLinearMatMul', [a, scale(0.02), scalar('uint8', 120), { initializer: u8([6, 4], 33) }, scale(0.01), scalar('uint8', 130), scale(0.08), scalar('uint8', 100)]);
    await check('QLinearMatMul', [i8([3, 6], 34), scale(0.02), scalar('int8', -3), { initializer: b }, scale(0.01), scalar('int8', 0), scale(0.03), scalar('int8', 4)]);
  });

  it('QLinearMatMul with per-column weight parameters', async () => {
    await check('QLinearMatMul', [a, scale(0.02), scalar('uint8', 120), { initializer: b }, vector('float32', [0.01, 0.02, 0.015, 0.03]), vector('int8', [0, 0, 0, 0]), scale(0.05), scalar('uint8', 128)]);
    await check('QLinearMatMul', [a, scale(0.02), scalar('uint8', 120), { initializer: u8([6, 4], 30) }, vector('float32', [0.01, 0.02, 0.015, 0.03]), vector('uint8', [120, 128, 0, 255]), scale(0.3), scalar('uint8', 128)]);
  });

  it('MatMulInteger with and without zero points, per-column and vector operands', async () => {
    await check('MatMulInteger', [a, { initializer: b }]);
    await check('MatMulInteger', [a, { initializer: b }, scalar('uint8', 128), scalar('int8', 3)]);
    await check('MatMulInteger', [a, { initializer: u8([6, 4], 35) }, scalar('uint8', 7), vector('uint8', [1, 2, 3, 4])]);
    await check('MatMulInteger', [u8([6], 36), { initializer: b }, scalar('uint8', 128)]);
  });

  it('com.microsoft MatMulIntegerToFloat and DynamicQuantizeMatMul', async () => {
    const bias = { initializer: seeded([4], 37, 1) };
    const float = { absolute: 1e-5, relative: 1e-5 };
    await check('MatMulIntegerToFloat', [a, { initializer: b }, scale(0.02), scale(0.01), scalar('uint8', 120), scalar('int8', 0), bias], { domain: MICROSOFT, tolerance: float });
    await check('MatMulIntegerToFloat', [a, { initializer: u8([6, 4], 38) }, scale(0.02), vector('float32', [0.01, 0.02, 0.03, 0.04]), undefined, vector('uint8', [120, 130, 125, 128])], { domain: MICROSOFT, tolerance: float });
    const x = seeded([3, 6], 39, 2);
    await check('DynamicQuantizeMatMul', [x, { initializer: b }, scale(0.01), scalar('int8', 0), bias], { domain: MICROSOFT, tolerance: float });
    await check('DynamicQuantizeMatMul', [x, { initializer: u8([6, 4], 40) }, scale(0.01), scalar('uint8', 128)], { domain: MICROSOFT, tolerance: float });
  });

  it('com.microsoft QGemm: transposes, alpha, int32 bias, per-column B, quantized and float outputs', async () => {
    const left = u8([3, 6], 41);
    const weights = i8([4, 6], 42, -64, 63);
    const bias = { initializer: Tensor.from('int32', [4], [100, -2000, 0, 35]) };
    const quantizedOutput = [scale(0.05), scalar('uint8', 128)] as const;
    await check('QGemm', [left, scale(0.02), scalar('uint8', 120), { initializer: weights }, scale(0.01), scalar('int8', 0), bias, ...quantizedOutput], { domain: MICROSOFT, attributes: { transB: 1 } });
    await check('QGemm', [u8([6, 3], 43), scale(0.02), scalar('uint8', 120), { initializer: i8([6, 4], 44, -64, 63) }, vector('float32', [0.01, 0.02, 0.03, 0.005]), vector('int8', [0, 0, 0, 0]), undefined, ...quantizedOutput], {
      domain: MICROSOFT,
      attributes: { transA: 1, alpha: 0.5 },
    });
    await check('QGemm', [left, scale(0.02), scalar('uint8', 120), { initializer: u8([4, 6], 45) }, vector('float32', [0.01, 0.02, 0.03, 0.005]), vector('uint8', [128, 0, 255, 100]), bias, ...quantizedOutput], {
      domain: MICROSOFT,
      attributes: { transB: 1 },
    });
    await check('QGemm', [left, scale(0.02), scalar('uint8', 120), { initializer: weights }, scale(0.01), scalar('int8', 0), { initializer: Tensor.from('int32', [3, 1], [5, -600, 7000]) }], {
      domain: MICROSOFT,
      attributes: { transB: 1, alpha: attr.float(2) },
      tolerance: { absolute: 1e-5, relative: 1e-6 },
    });
  });
});

describe('com.microsoft quantized elementwise, concat and pooling ops match onnxruntime', () => {
  const a = u8([2, 3, 4], 51);
  const b = u8([3, 1], 52);

  it('QLinearAdd and QLinearMul, uint8 and int8, with broadcasting and a default zero point', async () => {
    for (const op of ['QLinearAdd', 'QLinearMul']) {
      const outputScale = scale(op === 'QLinearAdd' ? 0.06 : 0.2);
      await check(op, [a, scale(0.03), scalar('uint8', 120), b, scale(0.05), scalar('uint8', 128), outputScale, scalar('uint8', 125)], { domain: MICROSOFT, tolerance: ONE_STEP });
      // onnxruntime's schema rejects an omitted zero point before a given input: omit the last one.
      await check(op, [i8([2, 3, 4], 53), scale(0.03), scalar('int8', -3), i8([2, 3, 4], 54), scale(0.05), scalar('int8', 6), outputScale], { domain: MICROSOFT, tolerance: ONE_STEP });
    }
  });

  // onnxruntime computes the sigmoid with a polynomial approximation: one step allowed there.
  it('QLinearSigmoid and QLinearLeakyRelu', async () => {
    await check('QLinearSigmoid', [a, scale(0.05), scalar('uint8', 128), scale(1 / 256), scalar('uint8', 0)], { domain: MICROSOFT, tolerance: ONE_STEP });
    await check('QLinearSigmoid', [i8([2, 3, 4], 55), scale(0.05), scalar('int8', 0), scale(1 / 256), scalar('int8', -128)], { domain: MICROSOFT, tolerance: ONE_STEP });
    await check('QLinearLeakyRelu', [a, scale(0.05), scalar('uint8', 128), scale(0.03), scalar('uint8', 60)], { domain: MICROSOFT, attributes: { alpha: 0.1 } });
    await check('QLinearLeakyRelu', [i8([2, 3, 4], 56), scale(0.05), scalar('int8', 10), scale(0.04), scalar('int8', -20)], { domain: MICROSOFT });
  });

  it('QLinearConcat requantizes each input to the output parameters', async () => {
    const first = u8([2, 2, 3], 57);
    const second = u8([2, 1, 3], 58);
    await check('QLinearConcat', [scale(0.05), scalar('uint8', 128), first, scale(0.05), scalar('uint8', 128), second, scale(0.08), scalar('uint8', 100)], { domain: MICROSOFT, attributes: { axis: 1 } });
    await check('QLinearConcat', [scale(0.05), scalar('int8', 0), i8([2, 3], 59), scale(0.02), scalar('int8', 1), i8([2, 2], 60), scale(0.1), scalar('int8', -5)], { domain: MICROSOFT, attributes: { axis: -1 } });
  });

  it('QLinearGlobalAveragePool, channels first and channels last', async () => {
    await check('QLinearGlobalAveragePool', [u8([2, 3, 4, 5], 61), scale(0.05), scalar('uint8', 128), scale(0.04), scalar('uint8', 120)], { domain: MICROSOFT });
    await check('QLinearGlobalAveragePool', [u8([2, 4, 5, 3], 62), scale(0.05), scalar('uint8', 128), scale(0.04), scalar('uint8', 120)], { domain: MICROSOFT, attributes: { channels_last: 1 } });
    await check('QLinearGlobalAveragePool', [i8([1, 2, 7], 63), scale(0.05), scalar('int8', 3), scale(0.02), scalar('int8', -4)], { domain: MICROSOFT });
  });

  it('QLinearAveragePool: strides, pads with and without count_include_pad, ceil_mode, auto_pad, 1-D, channels_last', async () => {
    const x = u8([1, 2, 5, 6], 64);
    const parameters = [scale(0.05), scalar('uint8', 128), scale(0.04), scalar('uint8', 120)] as const;
    const run = (input: Tensor, attributes: Record<string, AttributeInput>) => check('QLinearAveragePool', [input, ...parameters], { domain: MICROSOFT, attributes, tolerance: ONE_STEP });
    await run(x, { kernel_shape: [2, 2], strides: [2, 2] });
    await run(x, { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    await run(x, { kernel_shape: [3, 3], pads: [1, 0, 1, 2], count_include_pad: 1 });
    await run(x, { kernel_shape: [2, 3], strides: [2, 2], ceil_mode: 1 });
    await run(x, { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' });
    await run(u8([2, 3, 7], 65), { kernel_shape: [3], strides: [2], pads: [1, 1] });
    await run(u8([1, 5, 6, 2], 66), { kernel_shape: [3, 3], pads: [1, 1, 1, 1], channels_last: 1 });
  });
});

describe('quantized convolutions match onnxruntime', () => {
  const x = u8([1, 4, 6, 6], 71);
  const w = i8([3, 4, 3, 3], 72, -64, 63);

  it('QLinearConv: per-tensor and per-channel weights, bias, pads, strides, groups', async () => {
    const bias = { initializer: Tensor.from('int32', [3], [1000, -500, 20]) };
    const head = [x, scale(0.02), scalar('uint8', 120)] as const;
    await check('QLinearConv', [...head, { initializer: w }, scale(0.01), scalar('int8', 0), scale(0.2), scalar('uint8', 128), bias], { attributes: { pads: [1, 1, 1, 1] }, tolerance: ONE_STEP });
    await check('QLinearConv', [...head, { initializer: w }, vector('float32', [0.01, 0.02, 0.005]), vector('int8', [0, 0, 0]), scale(0.2), scalar('uint8', 128)], { attributes: { strides: [2, 2] }, tolerance: ONE_STEP });
    await check('QLinearConv', [...head, { initializer: u8([4, 2, 3, 3], 73) }, scale(0.01), scalar('uint8', 128), scale(0.3), scalar('uint8', 100)], { attributes: { group: 2, pads: [1, 1, 1, 1] }, tolerance: ONE_STEP });
    await check('QLinearConv', [i8([1, 4, 6, 6], 74), scale(0.02), scalar('int8', -2), { initializer: w }, scale(0.01), scalar('int8', 0), scale(0.1), scalar('int8', 3), bias], { attributes: { auto_pad: 'SAME_UPPER' }, tolerance: ONE_STEP });
  });

  it('ConvInteger with and without zero points', async () => {
    await check('ConvInteger', [x, { initializer: w }]);
    await check('ConvInteger', [x, { initializer: u8([3, 4, 3, 3], 75) }, scalar('uint8', 120), scalar('uint8', 128)], { attributes: { pads: [1, 1, 1, 1], strides: [2, 1] } });
  });
});

describe('forms onnxruntime does not run', () => {
  async function runOnTfjs(opType: string, inputs: readonly OpInput[], options: CheckOptions = {}): Promise<Record<string, Tensor>> {
    const { graph, feeds } = singleOp(opType, inputs, options.attributes ?? {}, {
      ...(options.opset === undefined ? {} : { opset: options.opset }),
      ...(options.domain === undefined ? {} : { domain: options.domain }),
    });
    const session = await tfjsBackend.createSession(graph, { executionProviders: ['cpu'] });
    try {
      return await session.run(feeds);
    } finally {
      await session.release();
    }
  }

  it('quantizes int32 x as the ONNX formula says', async () => {
    // round_half_even(x / 2) + 3, saturated to uint8: −3.5 → −4, 1.5 → 2, 2.5 → 2, 500 → 255.
    const outputs = await runOnTfjs('QuantizeLinear', [Tensor.from('int32', [5], [-7, 3, 5, 1000, -20]), scale(2), scalar('uint8', 3)]);
    expect(outputs['y0']!.dtype).toBe('uint8');
    expect(Array.from(outputs['y0']!.toFloat32())).toEqual([0, 5, 5, 255, 0]);
  });

  it('fails with RAZOR_UNSUPPORTED_OP on what the kernels do not support', async () => {
    const a = u8([2, 6], 81);
    const b = i8([6, 4], 82);
    await expect(runOnTfjs('MatMulIntegerToFloat', [a, { initializer: b }, vector('float32', [0.1, 0.2]), scale(0.01)], { domain: MICROSOFT })).rejects.toMatchObject({ code: 'RAZOR_UNSUPPORTED_OP' });
    const volume = u8([1, 1, 3, 3, 3], 83);
    await expect(
      runOnTfjs('QLinearAveragePool', [volume, scale(0.05), scalar('uint8', 128), scale(0.05), scalar('uint8', 128)], { domain: MICROSOFT, attributes: { kernel_shape: [2, 2, 2] } }),
    ).rejects.toMatchObject({ code: 'RAZOR_UNSUPPORTED_OP' });
  });
});

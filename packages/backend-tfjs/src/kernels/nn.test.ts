import { Tensor, attr, type AttributeInput } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { expectMatchesOnnxruntime, seeded, singleOp, tfjsBackend, type OpInput } from '../__fixtures__/compare.js';

const convTolerance = { tolerance: { absolute: 1e-4, relative: 1e-4 } };

/** Runs one op on onnxruntime and tfjs (cpu and wasm) and compares every output. */
async function check(
  opType: string,
  inputs: readonly OpInput[],
  attributes: Record<string, AttributeInput> = {},
  options: { outputs?: number; opset?: number; tolerance?: { absolute: number; relative: number } } = {},
): Promise<Record<string, Tensor>> {
  const { graph, feeds } = singleOp(opType, inputs, attributes, { outputs: options.outputs ?? 1, opset: options.opset ?? 17 });
  return expectMatchesOnnxruntime(graph, feeds, { tolerance: options.tolerance ?? convTolerance.tolerance });
}

/** One-hot window kernels [C·K, 1, kh, kw]: the grouped Conv autodiff uses to gather im2col patches. */
function oneHotWindows(channels: number, kernel: [number, number]): Tensor {
  const size = kernel[0] * kernel[1];
  const values = new Float32Array(channels * size * size);
  for (let channel = 0; channel < channels; channel++) for (let offset = 0; offset < size; offset++) values[(channel * size + offset) * size + offset] = 1;
  return Tensor.float32([channels * size, 1, ...kernel], values);
}

describe('Conv matches onnxruntime', () => {
  const x = seeded([2, 4, 7, 6], 1);
  const w = seeded([6, 4, 3, 3], 2, 0.5);
  const bias = seeded([6], 3);
  it('with bias, pads and unit strides', async () => {
    await check('Conv', [x, { initializer: w }, { initializer: bias }], { pads: [1, 1, 1, 1] });
  });
  it('with strides, asymmetric pads and no bias', async () => {
    await check('Conv', [x, { initializer: w }], { strides: [2, 2], pads: [0, 1, 2, 1] });
    await check('Conv', [x, { initializer: w }], { strides: [1, 2], pads: [2, 0, 0, 1], kernel_shape: [3, 3] });
  });
  it('with dilations, alone and with strides', async () => {
    await check('Conv', [x, { initializer: w }, { initializer: bias }], { dilations: [2, 2], pads: [2, 1, 2, 1] });
    await check('Conv', [x, { initializer: w }], { dilations: [2, 1], strides: [2, 2], pads: [1, 1, 1, 1] });
  });
  it('with auto_pad SAME_UPPER, SAME_LOWER and VALID', async () => {
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
      await check('Conv', [x, { initializer: w }, { initializer: bias }], { auto_pad: autoPad, strides: [2, 2] });
      await check('Conv', [x, { initializer: seeded([6, 4, 2, 2], 4) }], { auto_pad: autoPad });
    }
  });
  it('with weights fed at run time', async () => {
    await check('Conv', [x, w, bias], { pads: [1, 0, 1, 0] });
  });
  it('depthwise, with and without a channel multiplier', async () => {
    await check('Conv', [x, { initializer: seeded([4, 1, 3, 3], 5) }, { initializer: seeded([4], 6) }], { group: 4, pads: [1, 1, 1, 1] });
    await check('Conv', [x, { initializer: seeded([8, 1, 3, 3], 7) }, { initializer: seeded([8], 8) }], { group: 4, strides: [2, 1], dilations: [1, 1], pads: [1, 0, 0, 1] });
    await check('Conv', [x, { initializer: seeded([12, 1, 3, 2], 9) }], { group: 4, dilations: [2, 2], pads: [2, 1, 2, 1] });
  });
  it('grouped', async () => {
    await check('Conv', [x, { initializer: seeded([6, 2, 3, 3], 10) }, { initializer: bias }], { group: 2, pads: [1, 1, 1, 1], strides: [2, 1] });
  });
  it('with the one-hot window kernels of the weight gradient, and with filters shared by every channel', async () => {
    await check('Conv', [x, { initializer: oneHotWindows(4, [3, 3]) }], { group: 4, pads: [1, 1, 1, 1] });
    await check('Conv', [x, { initializer: oneHotWindows(4, [3, 3]) }], { group: 4, pads: [1, 1, 1, 1], strides: [2, 2] });
    await check('Conv', [x, { initializer: oneHotWindows(4, [2, 3]) }], { group: 4, dilations: [2, 1], pads: [0, 1, 1, 1] });
    await check('Conv', [x, { initializer: oneHotWindows(4, [2, 2]) }], { group: 4, dilations: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] });
    const filters = seeded([3, 1, 2, 2], 11).toFloat32();
    const shared = Tensor.float32([12, 1, 2, 2], Float32Array.from({ length: 48 }, (_, index) => filters[index % 12]!));
    await check('Conv', [x, { initializer: shared }, { initializer: seeded([12], 12) }], { group: 4, pads: [1, 0, 0, 1] });
  });
  it('1-D', async () => {
    const sequence = seeded([2, 3, 11], 13);
    await check('Conv', [sequence, { initializer: seeded([5, 3, 3], 14) }, { initializer: seeded([5], 15) }], { pads: [1, 2], strides: [2] });
    await check('Conv', [sequence, { initializer: seeded([6, 1, 3], 16) }], { group: 3, dilations: [2], pads: [2, 1] });
    await check('Conv', [sequence, { initializer: seeded([6, 1, 4], 16) }], { group: 3, auto_pad: 'SAME_LOWER', strides: [2] });
  });
  it('3-D', async () => {
    const volume = seeded([1, 2, 5, 4, 6], 17);
    await check('Conv', [volume, { initializer: seeded([3, 2, 3, 2, 3], 18) }, { initializer: seeded([3], 19) }], { pads: [1, 0, 1, 0, 1, 1], strides: [2, 1, 2] });
    await check('Conv', [volume, { initializer: seeded([4, 1, 2, 2, 2], 20) }], { group: 2, dilations: [2, 1, 2] });
  });
  it('rejects a channel count the weight does not fit', async () => {
    const { graph } = singleOp('Conv', [x, { initializer: w }]);
    graph.inputs[0]!.type = { dtype: 'float32', shape: [2, 'channels', 7, 6] };
    const session = await tfjsBackend.createSession(graph, { executionProviders: ['cpu'] });
    await expect(session.run({ x0: seeded([2, 5, 7, 6], 1) })).rejects.toThrow(/input X has 5 channels but weight W expects 4 per group × group 1/);
    await session.release();
  });
});

describe('ConvTranspose matches onnxruntime', () => {
  const x = seeded([2, 4, 4, 5], 21);
  const w = seeded([4, 3, 3, 3], 22, 0.5);
  const bias = seeded([3], 23);
  it('as the input gradient of a strided convolution (output_padding)', async () => {
    await check('ConvTranspose', [x, { initializer: w }, { initializer: bias }], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
    await check('ConvTranspose', [x, { initializer: seeded([4, 3, 1, 1], 24) }], { strides: [2, 2], output_padding: [1, 0] });
  });
  it('with unit strides, pads and weights fed at run time', async () => {
    await check('ConvTranspose', [x, w, bias], { pads: [1, 0, 2, 1] });
  });
  it('with pads larger than the kernel span, equal strides or not', async () => {
    await check('ConvTranspose', [x, { initializer: seeded([4, 3, 2, 2], 25) }], { strides: [3, 2], pads: [2, 3, 1, 2] });
    await check('ConvTranspose', [x, { initializer: seeded([4, 3, 2, 2], 25) }, { initializer: bias }], { strides: [2, 2], pads: [3, 2, 1, 0] });
    await check('ConvTranspose', [x, { initializer: seeded([4, 3, 4, 3], 35) }], { strides: [3, 3], pads: [2, 0, 1, 1], output_padding: [2, 1] });
  });
  it('grouped and depthwise', async () => {
    await check('ConvTranspose', [x, { initializer: seeded([4, 2, 3, 3], 26) }, { initializer: seeded([4], 27) }], { group: 2, strides: [2, 1], pads: [1, 1, 0, 1] });
    await check('ConvTranspose', [x, { initializer: seeded([4, 1, 3, 3], 28) }], { group: 4, strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
  });
  it('dilated', async () => {
    await check('ConvTranspose', [x, { initializer: w }, { initializer: bias }], { dilations: [2, 2], strides: [2, 1], pads: [1, 2, 0, 1] });
  });
  it('with output_shape and auto_pad', async () => {
    await check('ConvTranspose', [x, { initializer: w }], { strides: [2, 2], output_shape: [9, 10] });
    await check('ConvTranspose', [x, { initializer: w }], { strides: [2, 2], output_shape: [8, 11] });
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER']) await check('ConvTranspose', [x, { initializer: w }, { initializer: bias }], { strides: [2, 2], auto_pad: autoPad });
  });
  it("as AveragePool's gradient: N·C single-channel images and a kernel of ones", async () => {
    const ones = Tensor.float32([1, 1, 3, 3], new Float32Array(9).fill(1));
    await check('ConvTranspose', [seeded([8, 1, 3, 3], 29), { initializer: ones }], { strides: [2, 2], pads: [1, 1, 2, 2], output_padding: [1, 1] });
  });
  it('1-D and 3-D', async () => {
    await check('ConvTranspose', [seeded([2, 3, 6], 30), { initializer: seeded([3, 2, 3], 31) }, { initializer: seeded([2], 32) }], { strides: [2], pads: [1, 0], output_padding: [1] });
    await check('ConvTranspose', [seeded([1, 2, 3, 3, 2], 33), { initializer: seeded([2, 2, 2, 3, 2], 34) }], { strides: [2, 1, 2], pads: [0, 1, 1, 1, 0, 0] });
  });
});

describe('pooling matches onnxruntime', () => {
  const x = seeded([2, 3, 7, 8], 41);
  it('MaxPool with pads, strides, ceil_mode and dilations', async () => {
    await check('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    await check('MaxPool', [x], { kernel_shape: [2, 3], strides: [2, 2], pads: [0, 1, 1, 0], ceil_mode: 1 });
    await check('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 2], strides: [1, 2], pads: [1, 1, 0, 1] });
    await check('MaxPool', [x], { kernel_shape: [3, 2], auto_pad: 'SAME_UPPER', strides: [2, 3] });
    await check('MaxPool', [x], { kernel_shape: [3, 2], auto_pad: 'SAME_LOWER', strides: [2, 3] });
  });
  it('MaxPool Indices: flat NCHW positions, row- and column-major, first maximum on ties', async () => {
    await check('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { outputs: 2 });
    await check('MaxPool', [x], { kernel_shape: [2, 3], strides: [2, 2], pads: [0, 1, 1, 0], ceil_mode: 1, storage_order: 1 }, { outputs: 2 });
    await check('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 1], pads: [1, 0, 1, 1] }, { outputs: 2 });
    // Ties: small integers as floats, overlapping windows.
    const ties = Tensor.float32([1, 2, 5, 5], seeded([1, 2, 5, 5], 42, 2, 'int32').toFloat32());
    const result = await check('MaxPool', [ties], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }, { outputs: 2 });
    expect(result.y1!.dtype).toBe('int64');
  });
  it('MaxPool Indices in 1-D and 3-D', async () => {
    await check('MaxPool', [seeded([2, 3, 9], 43)], { kernel_shape: [3], strides: [2], pads: [1, 1] }, { outputs: 2 });
    await check('MaxPool', [seeded([1, 2, 4, 5, 3], 44)], { kernel_shape: [2, 2, 2], strides: [2, 1, 1], pads: [0, 1, 0, 0, 0, 1] }, { outputs: 2 });
  });
  it('MaxPool on int8 and uint8', async () => {
    await check('MaxPool', [seeded([1, 2, 5, 5], 45, 100, 'int8')], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, { opset: 12 });
    const bytes = Tensor.from('uint8', [1, 2, 4, 4], Array.from({ length: 32 }, (_, index) => (index * 37) % 256));
    await check('MaxPool', [bytes], { kernel_shape: [2, 2], pads: [1, 1, 0, 0] }, { opset: 12 });
  });
  it('AveragePool counting pads or not, with ceil_mode', async () => {
    for (const countIncludePad of [0, 1]) {
      await check('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: countIncludePad });
      await check('AveragePool', [x], { kernel_shape: [3, 2], strides: [2, 3], pads: [1, 0, 0, 1], ceil_mode: 1, count_include_pad: countIncludePad });
      await check('AveragePool', [seeded([2, 3, 9], 46)], { kernel_shape: [4], strides: [2], pads: [2, 1], ceil_mode: 1, count_include_pad: countIncludePad });
    }
    await check('AveragePool', [x], { kernel_shape: [2, 2], auto_pad: 'SAME_UPPER', strides: [2, 2] });
  });
  it('AveragePool with dilations and in 3-D', async () => {
    for (const countIncludePad of [0, 1]) {
      await check('AveragePool', [x], { kernel_shape: [2, 3], dilations: [2, 2], pads: [1, 1, 1, 0], count_include_pad: countIncludePad }, { opset: 19 });
      await check('AveragePool', [seeded([1, 2, 4, 5, 3], 47)], { kernel_shape: [2, 3, 2], strides: [2, 1, 1], pads: [1, 1, 0, 0, 1, 1], count_include_pad: countIncludePad });
    }
  });
  it('LpPool', async () => {
    await check('LpPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    await check('LpPool', [x], { kernel_shape: [2, 2], p: 3 });
    await check('LpPool', [x], { kernel_shape: [2, 2], p: 1, strides: [2, 2], ceil_mode: 1 }, { opset: 18 });
    await check('LpPool', [seeded([2, 3, 9], 48)], { kernel_shape: [3], strides: [2], pads: [1, 0] });
  });
  it('global pools', async () => {
    for (const op of ['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']) {
      await check(op, [x]);
      await check(op, [seeded([2, 3, 5], 49)]);
    }
    await check('GlobalLpPool', [x], { p: 3 });
  });
});

describe('normalization matches onnxruntime', () => {
  const x = seeded([3, 4, 5, 6], 51, 2);
  const scale = seeded([4], 52);
  const bias = seeded([4], 53);
  const mean = seeded([4], 54, 0.5);
  const variance = Tensor.float32([4], [0.5, 1.5, 2, 0.25]);
  const inputs = (input: Tensor = x): OpInput[] => [input, { initializer: scale }, { initializer: bias }, { initializer: mean }, { initializer: variance }];
  it('BatchNormalization, inference', async () => {
    await check('BatchNormalization', inputs(), { epsilon: 1e-3 });
    await check('BatchNormalization', inputs(seeded([5, 4], 55)), {});
    await check('BatchNormalization', [x, scale, bias, mean, variance], {});
  });
  it('BatchNormalization, training mode with running statistics (opsets 14 and 15)', async () => {
    await check('BatchNormalization', inputs(), { training_mode: 1, momentum: attr.float(0.8) }, { outputs: 3, opset: 15 });
    await check('BatchNormalization', inputs(), { training_mode: 1, momentum: attr.float(0) }, { outputs: 3, opset: 15 });
    await check('BatchNormalization', inputs(seeded([6, 4, 3], 56)), { training_mode: 1 }, { outputs: 3, opset: 14 });
  });
  it('BatchNormalization, training mode before opset 14 (saved mean and inverse standard deviation)', async () => {
    await check('BatchNormalization', inputs(), { momentum: attr.float(0.7) }, { outputs: 5, opset: 12 });
  });
  it('LayerNormalization with Mean and InvStdDev', async () => {
    await check('LayerNormalization', [x, { initializer: seeded([6], 57) }, { initializer: seeded([6], 58) }], {}, { outputs: 3 });
    await check('LayerNormalization', [x, { initializer: seeded([4, 5, 6], 59) }], { axis: 1, epsilon: 1e-3 }, { outputs: 3 });
    await check('LayerNormalization', [x, { initializer: seeded([5, 6], 60) }, { initializer: seeded([6], 61) }], { axis: -2 });
  });
  it('InstanceNormalization', async () => {
    await check('InstanceNormalization', [x, { initializer: scale }, { initializer: bias }], { epsilon: 1e-3 });
    await check('InstanceNormalization', [seeded([2, 4, 7], 62), { initializer: scale }, { initializer: bias }]);
  });
});

describe('matrix products match onnxruntime', () => {
  it('MatMul, 2-D and batched', async () => {
    await check('MatMul', [seeded([5, 7], 71), { initializer: seeded([7, 3], 72) }]);
    await check('MatMul', [seeded([2, 3, 5, 7], 73), seeded([2, 3, 7, 4], 74)]);
    await check('MatMul', [seeded([2, 3, 5, 7], 75), { initializer: seeded([7, 4], 76) }]);
  });
  it('MatMul with broadcast batch axes', async () => {
    await check('MatMul', [seeded([2, 1, 5, 7], 77), seeded([3, 7, 4], 78)]);
    await check('MatMul', [seeded([5, 7], 79), seeded([2, 7, 4], 80)]);
    await check('MatMul', [seeded([1, 2, 5, 7], 81), seeded([1, 1, 7, 4], 82)]);
  });
  it('MatMul with 1-D operands', async () => {
    await check('MatMul', [seeded([7], 83), seeded([7, 4], 84)]);
    await check('MatMul', [seeded([2, 5, 7], 85), seeded([7], 86)]);
    await check('MatMul', [seeded([7], 87), seeded([3, 7, 2], 88)]);
    await check('MatMul', [seeded([7], 89), seeded([7], 90)]);
  });
  it("MatMul in the weight gradient's shape: large batched products", async () => {
    // [N, 1, C·K, P] × [N, 1, P, M]: wasm runs these as a grouped GEMM.
    await check('MatMul', [seeded([8, 1, 36, 256], 91), seeded([8, 1, 256, 16], 92)], {}, { tolerance: { absolute: 1e-4, relative: 1e-4 } });
    await check('MatMul', [seeded([8, 1, 16, 256], 93), seeded([8, 1, 256, 36], 94)], {}, { tolerance: { absolute: 1e-4, relative: 1e-4 } });
  });
  it('MatMul on integers', async () => {
    await check('MatMul', [seeded([3, 4], 95, 10, 'int32'), seeded([4, 2], 96, 10, 'int32')]);
  });
  it('Gemm with transposes, alpha, beta and every C shape', async () => {
    const a = seeded([5, 7], 97);
    const aT = seeded([7, 5], 98);
    const b = seeded([7, 3], 99);
    const bT = seeded([3, 7], 100);
    await check('Gemm', [a, { initializer: b }]);
    await check('Gemm', [aT, { initializer: bT }, { initializer: seeded([3], 101) }], { transA: 1, transB: 1 });
    await check('Gemm', [a, { initializer: bT }, { initializer: seeded([1, 3], 102) }], { transB: 1 });
    await check('Gemm', [aT, b, seeded([5, 3], 103)], { transA: 1, alpha: 0.5, beta: attr.float(2) });
    await check('Gemm', [a, b, { initializer: seeded([5, 1], 104) }], { alpha: 1.5 });
    await check('Gemm', [a, b, { initializer: Tensor.float32([], [0.25]) }], { beta: attr.float(-1) });
    await check('Gemm', [a, b, { initializer: seeded([3], 105) }], { beta: attr.float(0) });
  });
});

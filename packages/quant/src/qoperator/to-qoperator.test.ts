import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { Graph, RazorError, Tensor, createRandom, estimateResources, type Backend, type Graph as GraphType } from '@razor/core';
import { afterAll, describe, expect, it } from 'vitest';
import { quantParamsFromRange } from '../quant-params.js';
import { activationRanges, branchyModel, randomTensor, smallCnn, toQdq, type QdqOptions } from './__fixtures__/qdq-models.js';
import { toQOperator } from './to-qoperator.js';

const backend: Backend = createOnnxruntimeBackend();
afterAll(async () => backend.release?.());

/** Runs a graph once with onnxruntime's graph optimizations off: the QDQ graph computes in float, the QOperator graph in integer kernels. */
async function run(graph: GraphType, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await backend.createSession(graph, { graphOptimizationLevel: 'disabled', threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function maxAbsDifference(left: Tensor, right: Tensor): number {
  expect(left.shape).toEqual(right.shape);
  const a = left.data as Float32Array;
  const b = right.data as Float32Array;
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

function opTypes(graph: GraphType): string[] {
  return graph.nodes.map((node) => (node.domain === '' ? node.opType : `${node.domain}::${node.opType}`));
}

function count(graph: GraphType, opType: string): number {
  return graph.nodes.filter((node) => node.opType === opType).length;
}

describe('toQOperator on a small CNN', () => {
  // 7-bit weights with uint8 activations: onnxruntime's advice for AVX2 CPUs without VNNI, where
  // full-range int8 weights saturate its U8S8 kernels (see the warnings test below).
  const variants: (QdqOptions & { name: string })[] = [
    { name: 'uint8 activations, per-tensor 7-bit weights, quantized logits', activations: 'uint8', perChannel: false, reduceRange: true },
    { name: 'int8 activations, per-channel weights, float logits', activations: 'int8', perChannel: true, quantizeOutputs: false },
  ];

  for (const variant of variants) {
    it(`${variant.name}: integer ops everywhere, outputs within quantization steps of the QDQ graph`, async () => {
      const float = smallCnn();
      const random = createRandom(11);
      const calibration = { input: randomTensor(random, [8, 3, 12, 12], 1) };
      const test = { input: randomTensor(random, [4, 3, 12, 12], 1) };
      const ranges = await activationRanges(backend, float, calibration);
      const qdq = toQdq(float, ranges, variant);
      const { graph: qop, summary } = toQOperator(qdq);

      // Every Conv and Gemm became an integer op; the shape-only ops run on integers.
      expect(count(qop, 'Conv') + count(qop, 'Gemm') + count(qop, 'MatMul')).toBe(0);
      expect(Object.fromEntries(summary.converted.map((entry) => [entry.node, entry.to]))).toEqual({
        conv1: 'QLinearConv',
        pool1: 'MaxPool',
        conv2: 'QLinearConv',
        add: 'com.microsoft::QLinearAdd',
        gap: 'com.microsoft::QLinearGlobalAveragePool',
        flatten: 'Flatten',
        fc: 'com.microsoft::QGemm',
      });
      expect(summary.kept).toEqual([]);
      expect(summary.warnings).toEqual([]);
      expect(qop.opsetImports.get('com.microsoft')).toBe(1);
      // One QuantizeLinear on the input, a DequantizeLinear on the logits when they were quantized.
      expect(count(qop, 'QuantizeLinear')).toBe(1);
      expect(count(qop, 'DequantizeLinear')).toBe(variant.quantizeOutputs === false ? 0 : 1);
      expect(summary.nodesAfter).toBeLessThan(summary.nodesBefore);
      expect(summary.nodesAfter).toBe(qop.nodes.length);
      expect(summary.nodesBefore).toBe(qdq.nodes.length);
      // No float weights are left: the integer ops read the int8 initializers.
      for (const [name, tensor] of qop.initializers) if (tensor.dtype === 'float32') expect(name).toMatch(/_scale$/);
      expect(qop.typeOf('logits')).toEqual({ dtype: 'float32', shape: ['N', 10] });

      const expected = (await run(qdq, test)).logits!;
      const actual = (await run(qop, test)).logits!;
      const reference = (await run(float, test)).logits!;
      // The integer kernels requantize with a fixed-point multiplier where the QDQ graph rounds a
      // float product, so a value exactly between two steps may round the other way: at most one
      // step of the logits (quantized), or one step of the Gemm input times the largest sum of
      // |weights| of an output (float logits).
      const step = (value: string): number => quantParamsFromRange(ranges.get(value)!, { type: variant.activations, symmetric: false }).scale[0]!;
      const weights = float.initializers.get('fc.weight')!.data as Float32Array;
      let rowNorm = 0;
      for (let row = 0; row < 10; row++) rowNorm = Math.max(rowNorm, weights.slice(row * 8, row * 8 + 8).reduce((sum, value) => sum + Math.abs(value), 0));
      const tolerance = variant.quantizeOutputs === false ? step('flat') * rowNorm : step('logits');
      expect(maxAbsDifference(actual, expected)).toBeLessThanOrEqual(tolerance);
      // onnxruntime's own graph optimizations (layout changes of the integer ops) keep the results.
      const optimized = await backend.createSession(qop, { graphOptimizationLevel: 'all', threads: 1 });
      expect(maxAbsDifference((await optimized.run(test)).logits!, actual)).toBeLessThanOrEqual(tolerance);
      await optimized.release();
      // Both are close to the float model (a loose check that the conversion kept the meaning).
      expect(maxAbsDifference(actual, reference)).toBeLessThan(0.1 * Math.max(...Array.from(reference.data as Float32Array, Math.abs)));
      // The resource estimator reads the int8 graph: the same MACs as the float model.
      expect(estimateResources(qop).macs).toBe(estimateResources(float).macs);
    });
  }
});

describe('toQOperator warnings', () => {
  it('flags uint8 activations with full-range int8 weights, which saturate on AVX2 CPUs without VNNI', async () => {
    const float = smallCnn();
    const ranges = await activationRanges(backend, float, { input: randomTensor(createRandom(4), [2, 3, 12, 12], 1) });
    const full = toQOperator(toQdq(float, ranges, { activations: 'uint8', perChannel: false }));
    expect(full.summary.warnings.map((warning) => warning.match(/^node '(\w+)'/)?.[1])).toEqual(['conv1', 'conv2', 'fc']);
    expect(full.summary.warnings[0]).toMatch(/up to ±127 can saturate on x86 CPUs with AVX2 but no VNNI.*reduceRange/);
    expect(toQOperator(toQdq(float, ranges, { activations: 'int8', perChannel: false })).summary.warnings).toEqual([]);
  });
});

describe('toQOperator on pooling, activations, Concat, shape-only ops and MatMul', () => {
  it('converts each group to its integer op and matches the QDQ graph', async () => {
    const float = branchyModel();
    const random = createRandom(5);
    const calibration = { input: randomTensor(random, [6, 4, 8, 8], 2) };
    const test = { input: randomTensor(random, [3, 4, 8, 8], 2) };
    const ranges = await activationRanges(backend, float, calibration);
    const qdq = toQdq(float, ranges, { activations: 'uint8', perChannel: true, reduceRange: true, quantizeOutputs: false });
    const { graph: qop, summary } = toQOperator(qdq);
    expect(Object.fromEntries(summary.converted.map((entry) => [entry.node, entry.to]))).toEqual({
      pool: 'com.microsoft::QLinearAveragePool',
      sigmoid: 'com.microsoft::QLinearSigmoid',
      leaky: 'com.microsoft::QLinearLeakyRelu',
      mul: 'com.microsoft::QLinearMul',
      concat: 'com.microsoft::QLinearConcat',
      transpose: 'Transpose',
      reshape: 'Reshape',
      unsqueeze: 'Unsqueeze',
      squeeze: 'Squeeze',
      proj: 'com.microsoft::MatMulIntegerToFloat',
    });
    expect(qop.node('leaky')?.attributes.get('alpha')).toEqual({ type: 'float', value: 0.2 });
    expect(count(qop, 'DequantizeLinear')).toBe(0);
    expect(opTypes(qop)).toHaveLength(11);

    const expected = (await run(qdq, test)).output!;
    const actual = (await run(qop, test)).output!;
    // The integer ops before the MatMul round as the QDQ graph does (ties aside: one step); the
    // MatMul's integer product then differs by at most one input step times the largest sum of
    // |weights| of an output column.
    const inputStep = quantParamsFromRange(ranges.get('squeezed')!, { type: 'uint8', symmetric: false }).scale[0]!;
    const weights = float.initializers.get('proj.weight')!.data as Float32Array;
    let columnNorm = 0;
    for (let column = 0; column < 6; column++) {
      let sum = 0;
      for (let row = 0; row < 128; row++) sum += Math.abs(weights[row * 6 + column]!);
      columnNorm = Math.max(columnNorm, sum);
    }
    expect(maxAbsDifference(actual, expected)).toBeLessThanOrEqual(inputStep * columnNorm);
  });
});

/** input → Q → DQ → op → Q → DQ → output, with the given parameters on each side. */
function oneOpQdq(opType: string, options: { inputZero?: number; outputScale?: number; outputZero?: number; attributes?: Record<string, number | number[]>; extraInputs?: Record<string, Tensor> } = {}): Graph {
  const graph = new Graph(`${opType}-qdq`);
  graph.opsetImports.set('', 13);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 4, 4] } });
  const scale = graph.addInitializer('x_scale', Tensor.float32([], [0.05]));
  const zero = graph.addInitializer('x_zero', Tensor.from('uint8', [], [options.inputZero ?? 0]));
  const outScale = graph.addInitializer('y_scale', Tensor.float32([], [options.outputScale ?? 0.05]));
  const outZero = graph.addInitializer('y_zero', Tensor.from('uint8', [], [options.outputZero ?? options.inputZero ?? 0]));
  graph.addNode({ opType: 'QuantizeLinear', inputs: ['x', scale, zero], outputs: ['xq'], name: 'quantize_x' });
  graph.addNode({ opType: 'DequantizeLinear', inputs: ['xq', scale, zero], outputs: ['xd'], name: 'dequantize_x' });
  const extra = Object.entries(options.extraInputs ?? {}).map(([name, tensor]) => graph.addInitializer(name, tensor));
  graph.addNode({ opType, inputs: ['xd', ...extra], outputs: ['y'], attributes: options.attributes ?? {}, name: 'op' });
  graph.addNode({ opType: 'QuantizeLinear', inputs: ['y', outScale, outZero], outputs: ['yq'], name: 'quantize_y' });
  graph.addNode({ opType: 'DequantizeLinear', inputs: ['yq', outScale, outZero], outputs: ['output'], name: 'dequantize_y' });
  graph.outputs.push({ name: 'output', type: { dtype: 'float32' } });
  return graph;
}

describe('toQOperator on single groups', () => {
  const feeds = { x: randomTensor(createRandom(3), [2, 3, 4, 4], 4) };

  it('runs Relu on a non-negative input as the identity, exactly as the QDQ graph computes', async () => {
    const qdq = oneOpQdq('Relu', { inputZero: 0 });
    const { graph, summary } = toQOperator(qdq);
    expect(summary.converted).toEqual([{ node: 'op', from: 'Relu', to: 'Identity' }]);
    expect(opTypes(graph)).toEqual(['QuantizeLinear', 'DequantizeLinear']);
    expect(Array.from((await run(graph, feeds)).output!.data as Float32Array)).toEqual(Array.from((await run(qdq, feeds)).output!.data as Float32Array));
  });

  it('runs Slice and Pad on the integers, padding with the quantized zero', async () => {
    const sliced = oneOpQdq('Slice', { inputZero: 128, extraInputs: { starts: Tensor.int64([1, 0]), ends: Tensor.int64([3, 3]), axes: Tensor.int64([2, 3]) } });
    const padded = oneOpQdq('Pad', { inputZero: 128, extraInputs: { pads: Tensor.int64([0, 0, 1, 2, 0, 0, 2, 1]) } });
    const reflected = oneOpQdq('Pad', { inputZero: 128, extraInputs: { pads: Tensor.int64([0, 0, 1, 1, 0, 0, 1, 1]) } });
    reflected.node('op')!.attributes.set('mode', { type: 'string', value: 'reflect' });
    for (const qdq of [sliced, padded, reflected]) {
      const { graph, summary } = toQOperator(qdq);
      expect(summary.converted).toEqual([{ node: 'op', from: qdq.node('op')!.opType, to: qdq.node('op')!.opType }]);
      expect(opTypes(graph)).toEqual(['QuantizeLinear', qdq.node('op')!.opType, 'DequantizeLinear']);
      // Moving integers is exact: the same numbers as the float op between Q and DQ.
      expect(Array.from((await run(graph, feeds)).output!.data as Float32Array)).toEqual(Array.from((await run(qdq, feeds)).output!.data as Float32Array));
    }
    // Padding with 0.0 means padding with the zero point (128) on the integers.
    const { graph: integerPad } = toQOperator(padded);
    expect(integerPad.initializers.get(integerPad.node('op')!.inputs[2]!)?.toNumbers()).toEqual([128]);
  });

  it('keeps float ops that no integer op can take, with the reason', () => {
    const relu = toQOperator(oneOpQdq('Relu', { inputZero: 128 }));
    expect(relu.summary.kept).toEqual([{ node: 'op', opType: 'Relu', reason: expect.stringMatching(/input can be negative/) }]);
    expect(opTypes(relu.graph)).toEqual(opTypes(oneOpQdq('Relu', { inputZero: 128 })));
    const reshape = toQOperator(oneOpQdq('Reshape', { outputScale: 0.1, extraInputs: { shape: Tensor.int64([2, -1]) } }));
    expect(reshape.summary.kept[0]?.reason).toMatch(/different scales, zero points or types/);
    const softmax = toQOperator(oneOpQdq('Softmax'));
    expect(softmax.summary.kept[0]?.reason).toMatch(/no integer op stands for Softmax/);
    expect(softmax.summary.converted).toEqual([]);
  });

  it('keeps a Conv with int8 activations and uint8 weights, which onnxruntime has no kernel for', () => {
    const graph = new Graph('mixed');
    graph.opsetImports.set('', 13);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 2, 4, 4] } });
    const scale = graph.addInitializer('s', Tensor.float32([], [0.1]));
    const zero = graph.addInitializer('z', Tensor.from('int8', [], [0]));
    graph.addNode({ opType: 'QuantizeLinear', inputs: ['x', scale, zero], outputs: ['xq'] });
    graph.addNode({ opType: 'DequantizeLinear', inputs: ['xq', scale, zero], outputs: ['xd'] });
    const weight = graph.addInitializer('w', Tensor.from('uint8', [2, 2, 1, 1], [1, 2, 3, 4]));
    const weightZero = graph.addInitializer('wz', Tensor.from('uint8', [], [128]));
    graph.addNode({ opType: 'DequantizeLinear', inputs: [weight, scale, weightZero], outputs: ['wd'] });
    graph.addNode({ opType: 'Conv', inputs: ['xd', 'wd'], outputs: ['y'], name: 'conv' });
    graph.addNode({ opType: 'QuantizeLinear', inputs: ['y', scale, zero], outputs: ['yq'] });
    graph.addNode({ opType: 'DequantizeLinear', inputs: ['yq', scale, zero], outputs: ['output'] });
    graph.outputs.push({ name: 'output' });
    const { summary } = toQOperator(graph);
    expect(summary.kept).toEqual([{ node: 'conv', opType: 'Conv', reason: expect.stringMatching(/int8 activations with uint8 weights/) }]);
  });

  it('fails on a graph without DequantizeLinear', () => {
    let error: unknown;
    try {
      toQOperator(smallCnn());
    } catch (caught) {
      error = caught;
    }
    expect(RazorError.isInstance(error)).toBe(true);
    expect((error as RazorError).code).toBe('RAZOR_INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(/graph 'small-cnn' has no DequantizeLinear node; .*quantize the model to QDQ first/);
  });
});

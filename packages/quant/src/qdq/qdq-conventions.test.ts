import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, Tensor, getInt, loadOnnx, type Backend, type Node } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axisGraph, calibrateMinMax, countOps, maxAbsDifference, randomTensor, relativeError, runGraph, smallCnn } from '../__fixtures__/qdq/helpers.js';
import type { QuantScheme, TensorRange } from '../types.js';
import { planQuantization, type PlanOptions } from './plan.js';
import { quantizeQdq } from './quantize-qdq.js';

const backend: Backend = createOnnxruntimeBackend();
const uint8: QuantScheme = { type: 'uint8', symmetric: false };
const int8: QuantScheme = { type: 'int8', symmetric: true };
const int8Reduced: QuantScheme = { type: 'int8', symmetric: true, reduceRange: true };
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'razor-qdq-conventions-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

function feeds(graph: Graph, seed: number): Record<string, Tensor> {
  const input = graph.inputs[0]!;
  return { [input.name]: randomTensor(input.type!.shape as number[], seed) };
}

async function quantizeCalibrated(graph: Graph, options: Required<Pick<PlanOptions, 'activations' | 'weights' | 'perChannel'>> & PlanOptions) {
  const plan = planQuantization(graph, options);
  const calibration = [feeds(graph, 100), feeds(graph, 101)];
  const ranges = await calibrateMinMax(backend, graph, plan.activationsToCalibrate, calibration);
  return { ...quantizeQdq(graph, { ...options, ranges }), ranges, calibration };
}

/** onnxruntime's asymmetric uint8 parameters, written out: the range widened to 0, 255 steps. */
function uint8Params(range: TensorRange): { scale: number; zeroPoint: number } {
  const low = Math.min(range.min[0]!, 0);
  const high = Math.max(range.max[0]!, 0);
  const scale = Math.fround((high - low) / 255);
  return { scale, zeroPoint: Math.round(-low / scale) + 0 };
}

function producerOf(graph: Graph, value: string): Node {
  const node = graph.producer(value);
  if (!node) throw new Error(`'${value}' has no producer`);
  return node;
}

/** The DequantizeLinear feeding input `position` of node `name`. */
function dequantizeFeeding(graph: Graph, name: string, position: number): Node {
  const node = graph.node(name)!;
  const producer = producerOf(graph, node.inputs[position]!);
  expect(producer.opType).toBe('DequantizeLinear');
  return producer;
}

function maxAbs(tensor: Tensor): number {
  return Math.max(...(tensor.data as Float32Array).map(Math.abs));
}

describe('quantizeQdq: onnxruntime conventions', () => {
  it('stores conv weights as int8 with a scalar scale and the default zero point 0, biases as int32 at input scale × weight scale without a zero point', async () => {
    const graph = smallCnn();
    const { graph: quantized, ranges, summary } = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: false });

    const weight = dequantizeFeeding(quantized, 'c1', 1);
    // Symmetric int8: the all-zero zero point is left to the ONNX default.
    expect(weight.inputs).toEqual(['w1_quantized', 'w1_scale']);
    expect(weight.attributes.has('axis')).toBe(false);
    const integer = quantized.initializers.get('w1_quantized')!;
    expect(integer.dtype).toBe('int8');
    expect(integer.shape).toEqual([4, 3, 3, 3]);
    const scale = quantized.initializers.get('w1_scale')!;
    expect(scale.dtype).toBe('float32');
    expect(scale.shape).toEqual([]);
    const w1 = graph.initializers.get('w1')!;
    expect(scale.numberAt(0)).toBeCloseTo(maxAbs(w1) / 127, 9);
    expect(quantized.initializers.has('w1_zero_point')).toBe(false);
    const weights = w1.data as Float32Array;
    for (let index = 0; index < weights.length; index++) expect(integer.numberAt(index)).toBe(Math.round(weights[index]! / scale.numberAt(0)));
    // The float weight is gone.
    expect(quantized.initializers.has('w1')).toBe(false);

    // Bias: int32, scale = input scale × weight scale, DequantizeLinear with two inputs.
    const bias = dequantizeFeeding(quantized, 'c1', 2);
    expect(bias.inputs).toEqual(['b1_quantized', 'b1_quantized_scale']);
    const inputScale = uint8Params(ranges.get('x')!).scale;
    expect(quantized.initializers.get('x_scale')!.numberAt(0)).toBe(inputScale);
    expect(quantized.initializers.get('x_zero_point')!.numberAt(0)).toBe(uint8Params(ranges.get('x')!).zeroPoint);
    const biasScale = quantized.initializers.get('b1_quantized_scale')!.numberAt(0);
    expect(biasScale).toBe(Math.fround(inputScale * scale.numberAt(0)));
    const biasInteger = quantized.initializers.get('b1_quantized')!;
    expect(biasInteger.dtype).toBe('int32');
    const b1 = graph.initializers.get('b1')!.data as Float32Array;
    for (let index = 0; index < b1.length; index++) expect(biasInteger.numberAt(index)).toBe(Math.round(b1[index]! / biasScale));

    // Full-range int8 weights under uint8 activations come with the U8S8 saturation note.
    expect(summary.notes.some((note) => note.includes('reduceRange'))).toBe(true);

    // A bias-free Conv gets an all-zero int32 bias so onnxruntime can fuse it.
    expect(summary.addedZeroBiases).toEqual(['c2']);
    const zeroBias = dequantizeFeeding(quantized, 'c2', 2);
    const zeros = quantized.initializers.get(zeroBias.inputs[0]!)!;
    expect(zeros.dtype).toBe('int32');
    expect(zeros.shape).toEqual([6]);
    expect(zeros.toNumbers().every((value) => value === 0)).toBe(true);
  });

  it('removes Relu under asymmetric activations, shares the scale through Reshape, and keeps graph output names', async () => {
    const graph = smallCnn();
    const { graph: quantized, plan, ranges } = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: false });
    expect(countOps(quantized).get('Relu') ?? 0).toBe(0);
    expect(plan.nodes.find((node) => node.name === 'r1')!.action).toBe('remove');
    // The Conv writes the Relu's output, quantized with the Relu output's range: the clipping at 0 is the zero point.
    expect(quantized.node('c1')!.outputs).toEqual(['r1']);
    expect(plan.activationsToCalibrate).toContain('r1');
    expect(plan.activationsToCalibrate).not.toContain('c1');
    expect(uint8Params(ranges.get('r1')!).zeroPoint).toBe(0);

    // Reshape: the Q on its output uses the very scale and zero point of the Q on its input.
    const reshape = quantized.node('reshape')!;
    const before = producerOf(quantized, producerOf(quantized, reshape.inputs[0]!).inputs[0]!);
    expect(before.opType).toBe('QuantizeLinear');
    const after = quantized.consumers(reshape.outputs[0]!);
    expect(after.map((node) => node.opType)).toEqual(['QuantizeLinear']);
    expect(after[0]!.inputs.slice(1)).toEqual(before.inputs.slice(1));
    expect(plan.activationsToCalibrate).not.toContain('flat');

    // The graph output keeps its name, now written by a DequantizeLinear.
    expect(quantized.outputs.map((output) => output.name)).toEqual(['y']);
    expect(producerOf(quantized, 'y').opType).toBe('DequantizeLinear');
  });

  it('puts per-channel weights on the output-channel axis of each op and raises no opset at 17', async () => {
    const graph = axisGraph();
    const { graph: quantized, summary, ranges } = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: true });
    const expected: [string, string, number, number][] = [
      ['convtranspose', 'wt', 1, 3],
      ['conv', 'wc', 0, 6],
      ['gemm_n', 'wn', 1, 7],
      ['gemm_t', 'wt2', 0, 8],
      ['matmul', 'wm', 1, 5],
    ];
    for (const [node, weight, axis, channels] of expected) {
      const dequantize = dequantizeFeeding(quantized, node, 1);
      expect(getInt(dequantize, 'axis'), node).toBe(axis);
      const scale = quantized.initializers.get(`${weight}_scale`)!;
      expect(scale.shape, node).toEqual([channels]);
      // Conv filters leave their all-zero zero points out; the others keep one per channel.
      if (node === 'conv') expect(dequantize.inputs, node).toHaveLength(2);
      else expect(quantized.initializers.get(`${weight}_zero_point`)!.shape, node).toEqual([channels]);
      // Each channel's scale is its own max |w| / 127.
      const tensor = graph.initializers.get(weight)!;
      const data = tensor.data as Float32Array;
      const inner = tensor.shape.slice(axis + 1).reduce((product, dim) => product * dim, 1);
      for (let channel = 0; channel < channels; channel++) {
        let largest = 0;
        for (let index = 0; index < data.length; index++) if (Math.floor(index / inner) % channels === channel) largest = Math.max(largest, Math.abs(data[index]!));
        expect(scale.numberAt(channel)).toBeCloseTo(largest / 127, 9);
      }
    }
    // Per-channel biases: a vector scale on axis 0, input scale × each channel's weight scale.
    const bias = dequantizeFeeding(quantized, 'conv', 2);
    expect(getInt(bias, 'axis')).toBe(0);
    const biasScale = quantized.initializers.get(bias.inputs[1]!)!;
    const inputScale = quantized.initializers.get(`${graph.node('conv')!.inputs[0]}_scale`)!.numberAt(0);
    expect(inputScale).toBe(uint8Params(ranges.get('t')!).scale);
    const weightScale = quantized.initializers.get('wc_scale')!;
    for (let channel = 0; channel < 6; channel++) expect(biasScale.numberAt(channel)).toBe(Math.fround(inputScale * weightScale.numberAt(channel)));
    expect(summary.perChannelWeights).toBe(5);
    expect(summary.opset).toEqual({ before: 17, after: 17 });
  });

  it('stores uint8 weights with their zero point (U8U8)', async () => {
    const graph = smallCnn();
    const { graph: quantized } = await quantizeCalibrated(graph, { activations: uint8, weights: { type: 'uint8', symmetric: false }, perChannel: false });
    const w1 = graph.initializers.get('w1')!.data as Float32Array;
    const low = Math.min(0, ...w1);
    const high = Math.max(0, ...w1);
    const scale = Math.fround((high - low) / 255);
    expect(quantized.initializers.get('w1_quantized')!.dtype).toBe('uint8');
    expect(quantized.initializers.get('w1_scale')!.numberAt(0)).toBe(scale);
    expect(quantized.initializers.get('w1_zero_point')!.dtype).toBe('uint8');
    expect(quantized.initializers.get('w1_zero_point')!.numberAt(0)).toBe(Math.round(-low / scale));
  });

  it('leaves excluded nodes and unselected op types float', async () => {
    const graph = smallCnn();
    const byName = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: false, exclude: { nodes: ['c2'] } });
    const c2 = byName.graph.node('c2')!;
    expect(c2.inputs[1]).toBe('w2');
    expect(byName.graph.initializers.get('w2')!.dtype).toBe('float32');
    expect(c2.inputs.length).toBe(2);
    expect(byName.plan.nodes.find((node) => node.name === 'c2')).toMatchObject({ action: 'float', reason: 'excluded by name' });
    expect(byName.summary.floatNodes).toEqual([
      { node: 'c2', opType: 'Conv', reason: 'excluded by name' },
      { node: 'r2', opType: 'Relu', reason: 'input not quantized' },
      { node: 'reshape', opType: 'Reshape', reason: 'input not quantized' },
    ]);
    expect(byName.summary.notes.some((note) => note.includes(`'c2'`) && note.includes('basic'))).toBe(true);
    // r2 follows a float Conv: its input is not quantized, so it stays too.
    expect(byName.graph.node('r2')).toBeDefined();
    expect(byName.graph.node('c1')!.inputs[1]).not.toBe('w1');

    const byOpType = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: false, exclude: { opTypes: ['Gemm'] } });
    expect(byOpType.graph.node('g1')!.inputs.slice(1)).toEqual(['wg', 'bg']);
    expect(byOpType.plan.nodes.find((node) => node.name === 'g1')!.reason).toBe('excluded by op type');
    expect(byOpType.graph.node('m1')!.inputs[1]).not.toBe('wm');

    const onlyConv = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: false, opTypes: ['Conv'] });
    expect(onlyConv.summary.quantizedByOpType).toEqual({ Conv: 2 });
    expect(onlyConv.graph.node('m1')!.inputs[1]).toBe('wm');
    expect(onlyConv.plan.nodes.find((node) => node.name === 'g1')!.reason).toBe('op type not selected');

    // Each still computes the float model's function. ('basic': at 'extended' and above,
    // onnxruntime's WeightBiasQuantization re-quantizes a float Conv/Gemm that reads a
    // DequantizeLinear and feeds a QuantizeLinear, with its own int8 weights.)
    for (const { graph: partial, calibration } of [byName, byOpType, onlyConv]) {
      const [reference] = await runGraph(backend, graph, calibration.slice(0, 1));
      const [result] = await runGraph(backend, partial, calibration.slice(0, 1), { graphOptimizationLevel: 'basic' });
      expect(relativeError(result!, reference!)).toBeLessThan(0.05);
    }
  });

  it('folds Gemm alpha and beta into weight and bias', async () => {
    const graph = smallCnn();
    const gemm = graph.node('g1')!;
    gemm.attributes.set('alpha', { type: 'float', value: 0.5 });
    gemm.attributes.set('beta', { type: 'float', value: 3 });
    const { graph: quantized, calibration, summary } = await quantizeCalibrated(graph, { activations: uint8, weights: int8Reduced, perChannel: false });
    expect(summary.notes).toEqual([]);
    const folded = quantized.node('g1')!;
    expect(folded.attributes.get('alpha')).toEqual({ type: 'float', value: 1 });
    expect(folded.attributes.get('beta')).toEqual({ type: 'float', value: 1 });
    expect(quantized.initializers.get(dequantizeFeeding(quantized, 'g1', 1).inputs[1]!)!.numberAt(0)).toBeCloseTo((0.5 * maxAbs(graph.initializers.get('wg')!)) / 64, 9);
    const [reference] = await runGraph(backend, graph, calibration.slice(0, 1));
    const [fused] = await runGraph(backend, quantized, calibration.slice(0, 1));
    const [emulated] = await runGraph(backend, quantized, calibration.slice(0, 1), { graphOptimizationLevel: 'disabled' });
    expect(relativeError(fused!, reference!)).toBeLessThan(0.05);
    expect(relativeError(emulated!, reference!)).toBeLessThan(0.05);
  });

  it('widens a weight scale whose bias would not fit int32', async () => {
    const graph = new Graph('tiny_weights');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 2, 4, 4] } });
    graph.initializers.set('w', randomTensor([3, 2, 1, 1], 7, 1e-7));
    graph.initializers.set('b', Tensor.float32([3], [5, -4.5, 2]));
    graph.addNode({ opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], name: 'conv' });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [1, 3, 4, 4] } });
    const { graph: quantized, summary, calibration } = await quantizeCalibrated(graph, { activations: uint8, weights: int8, perChannel: false });
    expect(summary.clippedBiases).toEqual([]);
    const biasScale = quantized.initializers.get('b_quantized_scale')!.numberAt(0);
    // The smallest scale that holds ±5 in int32.
    expect(biasScale).toBeGreaterThanOrEqual((2 * 5) / (2 ** 32 - 2));
    const integers = quantized.initializers.get('b_quantized')!.toNumbers();
    expect(integers[0]).toBe(Math.round(5 / biasScale));
    const [reference] = await runGraph(backend, graph, calibration.slice(0, 1));
    const [result] = await runGraph(backend, quantized, calibration.slice(0, 1));
    expect(maxAbsDifference(result!, reference!)).toBeLessThan(0.05);
  });
});

describe('quantizeQdq: fusion in onnxruntime-node', () => {
  async function optimized(graph: Graph, name: string): Promise<Graph> {
    const path = join(directory, `${name}.onnx`);
    const session = await backend.createSession(graph, { threads: 2, graphOptimizationLevel: 'all', optimizedModelPath: path });
    await session.release();
    return loadOnnx(path);
  }

  it('turns Conv (with and without bias), Gemm and MatMul into QLinearConv, QGemm and QLinearMatMul', async () => {
    const { graph: quantized } = await quantizeCalibrated(smallCnn(), { activations: uint8, weights: int8, perChannel: false });
    const counts = countOps(await optimized(quantized, 'small_cnn'));
    expect(counts.get('QLinearConv')).toBe(2);
    expect(counts.get('QGemm')).toBe(1);
    expect(counts.get('QLinearMatMul')).toBe(1);
    for (const opType of ['Conv', 'FusedConv', 'Gemm', 'MatMul', 'Relu']) expect(counts.get(opType) ?? 0, opType).toBe(0);
    // Only the output's DequantizeLinear is left.
    expect(counts.get('DequantizeLinear')).toBe(1);
  });

  it('fuses per-channel Conv, GlobalAveragePool, Gemm and MatMul', async () => {
    const { graph: quantized } = await quantizeCalibrated(axisGraph(), { activations: uint8, weights: int8Reduced, perChannel: true });
    const result = await optimized(quantized, 'axes');
    const counts = countOps(result);
    expect(counts.get('QLinearConv')).toBe(1);
    expect(counts.get('QLinearGlobalAveragePool')).toBe(1);
    expect(counts.get('QGemm')).toBe(2);
    expect(counts.get('QLinearMatMul')).toBe(1);
    // onnxruntime's CPU provider has no integer ConvTranspose: it stays float between Q/DQ pairs.
    expect(counts.get('ConvTranspose')).toBe(1);
    for (const node of result.nodes) {
      if (node.opType !== 'QLinearConv' && node.opType !== 'Conv') continue;
      expect(result.producer(node.inputs[0]!)?.opType ?? '').not.toBe('DequantizeLinear');
    }
  });

  it('turns the activation ops into their QLinear kernels and drops Q/DQ around MaxPool and Transpose', async () => {
    const graph = new Graph('activations');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 8, 8] } });
    graph.initializers.set('w', randomTensor([8, 3, 3, 3], 21, 0.5));
    graph.initializers.set('b', randomTensor([8], 22, 0.1));
    graph.initializers.set('k', randomTensor([1, 16, 1, 1], 23, 1, 1));
    graph.addNode({ opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], name: 'conv', attributes: { pads: [1, 1, 1, 1] } });
    graph.addNode({ opType: 'Sigmoid', inputs: ['c'], outputs: ['s'], name: 'sigmoid' });
    graph.addNode({ opType: 'LeakyRelu', inputs: ['c'], outputs: ['l'], name: 'leaky', attributes: { alpha: 0.1 } });
    graph.addNode({ opType: 'Concat', inputs: ['s', 'l'], outputs: ['cat'], name: 'concat', attributes: { axis: 1 } });
    graph.addNode({ opType: 'Mul', inputs: ['cat', 'k'], outputs: ['m'], name: 'mul' });
    graph.addNode({ opType: 'AveragePool', inputs: ['m'], outputs: ['ap'], name: 'avgpool', attributes: { kernel_shape: [2, 2], strides: [2, 2] } });
    graph.addNode({ opType: 'MaxPool', inputs: ['m'], outputs: ['mp'], name: 'maxpool', attributes: { kernel_shape: [2, 2], strides: [2, 2] } });
    graph.addNode({ opType: 'Add', inputs: ['ap', 'mp'], outputs: ['a'], name: 'add' });
    graph.addNode({ opType: 'Transpose', inputs: ['a'], outputs: ['t'], name: 'transpose', attributes: { perm: [0, 2, 3, 1] } });
    graph.addNode({ opType: 'Softmax', inputs: ['t'], outputs: ['y'], name: 'softmax', attributes: { axis: -1 } });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2, 4, 4, 16] } });
    const { graph: quantized, plan, calibration } = await quantizeCalibrated(graph, { activations: uint8, weights: int8Reduced, perChannel: false });
    expect(plan.nodes.map((node) => `${node.name}:${node.action}`)).toEqual([
      'conv:quantize', 'sigmoid:quantize', 'leaky:quantize', 'concat:quantize', 'mul:quantize', 'avgpool:quantize',
      'maxpool:share', 'add:quantize', 'transpose:share', 'softmax:quantize',
    ]);
    // Mul's constant operand is quantized in the activation type.
    expect(quantized.initializers.get('k_quantized')!.dtype).toBe('uint8');
    const counts = countOps(await optimized(quantized, 'activations'));
    for (const opType of ['QLinearConv', 'QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearConcat', 'QLinearMul', 'QLinearAveragePool', 'QLinearAdd', 'QLinearSoftmax']) {
      expect(counts.get(opType), opType).toBe(1);
    }
    for (const opType of ['Conv', 'Sigmoid', 'LeakyRelu', 'Concat', 'Mul', 'AveragePool', 'Add', 'Softmax', 'MaxPool']) expect(counts.get(opType) ?? 0, opType).toBe(0);
    expect(counts.get('DequantizeLinear')).toBe(1);
    const [reference] = await runGraph(backend, graph, calibration.slice(0, 1));
    const [fused] = await runGraph(backend, quantized, calibration.slice(0, 1));
    const [emulated] = await runGraph(backend, quantized, calibration.slice(0, 1), { graphOptimizationLevel: 'disabled' });
    const outputScale = quantized.initializers.get('y_scale')!.numberAt(0);
    expect(maxAbsDifference(fused!, reference!)).toBeLessThan(6 * outputScale);
    expect(maxAbsDifference(fused!, emulated!)).toBeLessThanOrEqual(outputScale * 1.0001);
  });
});

describe('quantizeQdq: opsets and 16-bit types', () => {
  it('raises opset 11 to 13 for per-channel weights and runs', async () => {
    const graph = smallCnn(11);
    const { graph: quantized, summary, calibration } = await quantizeCalibrated(graph, { activations: uint8, weights: int8Reduced, perChannel: true });
    expect(summary.opset).toEqual({ before: 11, after: 13 });
    expect(quantized.opset()).toBe(13);
    expect(quantized.model.irVersion).toBeGreaterThanOrEqual(7);
    expect(graph.opset()).toBe(11);
    const [reference] = await runGraph(backend, graph, calibration.slice(0, 1));
    const [result] = await runGraph(backend, quantized, calibration.slice(0, 1));
    expect(relativeError(result!, reference!)).toBeLessThan(0.05);
  });

  it('keeps opset 11 for per-tensor weights', async () => {
    const { graph: quantized } = await quantizeCalibrated(smallCnn(11), { activations: uint8, weights: int8, perChannel: false });
    expect(quantized.opset()).toBe(11);
  });

  it('quantizes to uint16 activations and int16 weights at opset 21, within 0.1% of the float model', async () => {
    const graph = smallCnn();
    const { graph: quantized, summary, calibration } = await quantizeCalibrated(graph, { activations: { type: 'uint16', symmetric: false }, weights: { type: 'int16', symmetric: true }, perChannel: false });
    expect(summary.opset).toEqual({ before: 17, after: 21 });
    expect(quantized.initializers.get('x_zero_point')!.dtype).toBe('uint16');
    expect(quantized.initializers.get('w1_quantized')!.dtype).toBe('int16');
    const [reference] = await runGraph(backend, graph, calibration.slice(0, 1));
    const [result] = await runGraph(backend, quantized, calibration.slice(0, 1));
    expect(relativeError(result!, reference!)).toBeLessThan(0.001);
  });
});

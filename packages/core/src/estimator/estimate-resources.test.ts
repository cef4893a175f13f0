import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { readOnnx } from '../onnx/onnx-reader.js';
import { estimateResources } from './estimate-resources.js';
import { randomInputs, resolveInputShapes } from './random-inputs.js';

function loadGzip(url: URL): Graph {
  return readOnnx(new Uint8Array(gunzipSync(readFileSync(url))));
}

const models = new URL('../__fixtures__/models/', import.meta.url);
const millions = (value: number): string => (value / 1e6).toFixed(2);
const billions = (value: number): string => (value / 1e9).toFixed(2);

describe('estimateResources on published architectures', () => {
  it('reproduces torchvision ResNet-18: 11.69M parameters, 1.82G MACs at 224x224', () => {
    const estimate = estimateResources(loadGzip(new URL('torchvision-resnet18-zeros.onnx.gz', models)));
    expect(estimate.params).toBe(11_689_512);
    expect(millions(estimate.params)).toBe('11.69');
    expect(billions(estimate.macs)).toBe('1.82');
    // Convolutions: 1,813,561,344; fc: 512,000; the 3x3 max pool: 64 x 56 x 56 x 9; global pool: 512 x 7 x 7.
    expect(estimate.byOpType.Conv?.macs).toBe(1_813_561_344);
    expect(estimate.byOpType.Gemm?.macs).toBe(512_000);
    expect(estimate.byOpType.MaxPool?.macs).toBe(64 * 56 * 56 * 9);
    expect(estimate.byOpType.GlobalAveragePool?.macs).toBe(512 * 49);
    expect(estimate.macs).toBe(1_813_561_344 + 512_000 + 64 * 56 * 56 * 9 + 512 * 49);
    expect(estimate.byOpType.BatchNormalization).toEqual({ count: 20, macs: 0, params: 9_600 });
    expect(estimate.unknownCostNodes).toEqual([]);
    expect(estimate.unknownOps).toEqual([]);
    const stem = estimate.perNode.find((entry) => entry.opType === 'Conv')!;
    expect(stem).toMatchObject({ macs: 118_013_952, params: 9_408, outputShapes: [[1, 64, 112, 112]] });
  });

  it('reproduces torchvision MobileNetV2: 3.50M parameters, 0.30G MACs', () => {
    const estimate = estimateResources(loadGzip(new URL('torchvision-mobilenet_v2-zeros.onnx.gz', models)));
    expect(estimate.params).toBe(3_504_872);
    expect(millions(estimate.params)).toBe('3.50');
    expect(billions(estimate.macs)).toBe('0.30');
    expect(estimate.byOpType.Conv!.macs + estimate.byOpType.Gemm!.macs).toBe(300_774_272);
    expect(estimate.macs).toBe(300_774_272 + 1280 * 49);
  });

  it('reproduces CIFAR ResNet-20: 0.27M parameters, 0.04G MACs at 32x32', () => {
    const estimate = estimateResources(loadGzip(new URL('./__fixtures__/cifar-resnet20-zeros.onnx.gz', import.meta.url)));
    expect(estimate.params).toBe(269_722);
    expect(millions(estimate.params)).toBe('0.27');
    expect(billions(estimate.macs)).toBe('0.04');
    expect(estimate.byOpType.Conv?.macs).toBe(40_550_400);
    expect(estimate.byOpType.Gemm?.macs).toBe(640);
    expect(estimate.macs).toBe(40_550_400 + 640 + 64 * 8 * 8);
    // Option A shortcuts (Slice + Pad) carry no parameters; BatchNormalization scale and bias do.
    expect(estimate.byOpType.BatchNormalization?.params).toBe(2 * (16 + 6 * 16 + 6 * 32 + 6 * 64));
  });
});

function tinyGraph(): Graph {
  const graph = new Graph('tiny');
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 2, 4, 4] } });
  const weight = Tensor.float32([3, 2, 3, 3], new Float32Array(54).fill(0.5));
  graph.initializers.set('w', weight);
  graph.initializers.set('slope', Tensor.float32([3, 1, 1], [0.1, 0.2, 0.3]));
  graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['a'], attributes: { pads: [1, 1, 1, 1] }, name: 'conv_a' });
  graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['b'], attributes: { pads: [1, 1, 1, 1] }, name: 'conv_b' });
  graph.addNode({ opType: 'Add', inputs: ['a', 'b'], outputs: ['c'], name: 'add' });
  graph.addNode({ opType: 'PRelu', inputs: ['c', 'slope'], outputs: ['y'], name: 'prelu' });
  graph.outputs.push({ name: 'y' });
  return graph;
}

describe('estimateResources on a hand-built graph', () => {
  it('counts a shared weight once and reports batch 1 for a symbolic batch', () => {
    const estimate = estimateResources(tinyGraph());
    expect(estimate.assumedDims).toEqual({ batch: 1 });
    expect(estimate.inputShapes).toEqual({ x: [1, 2, 4, 4] });
    expect(estimate.params).toBe(54 + 3);
    expect(estimate.perNode.map((entry) => [entry.node, entry.params])).toEqual([
      ['conv_a', 54],
      ['conv_b', 0],
      ['add', 0],
      ['prelu', 3],
    ]);
    // Each conv: 3 x 4 x 4 outputs x 2 x 3 x 3 products.
    expect(estimate.macs).toBe(2 * 3 * 16 * 18);
    // a, b, c, y of 48 floats each; peak: x with a and b alive, or a, b and c.
    expect(estimate.activationBytes).toBe(4 * 48 * 4);
    expect(estimate.peakActivationBytes).toBe(3 * 48 * 4);
  });

  it('scales with inputShapes and named dims', () => {
    expect(estimateResources(tinyGraph(), { dims: { batch: 8 } }).macs).toBe(8 * 2 * 3 * 16 * 18);
    expect(estimateResources(tinyGraph(), { inputShapes: { x: [2, 2, 4, 4] } }).macs).toBe(2 * 2 * 3 * 16 * 18);
    expect(() => estimateResources(tinyGraph(), { inputShapes: { x: [2, 2, 8, 8] } })).toThrow(/dimension 2 = 8/);
    expect(() => estimateResources(tinyGraph(), { inputShapes: { image: [1, 2, 4, 4] } })).toThrow(/'image', which is not an input/);
  });
});

describe('estimateResources on quantized weights', () => {
  it('counts an int8 weight behind DequantizeLinear as parameters', () => {
    const graph = new Graph('qdq');
    graph.opsetImports.set('', 13);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 2, 4, 4] } });
    graph.initializers.set('w_q', Tensor.from('int8', [3, 2, 3, 3], new Array(54).fill(1)));
    graph.initializers.set('w_scale', Tensor.scalar('float32', 0.1));
    graph.initializers.set('w_zero', Tensor.scalar('int8', 0));
    graph.addNode({ opType: 'DequantizeLinear', inputs: ['w_q', 'w_scale', 'w_zero'], outputs: ['w'], name: 'dequantize' });
    graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: 'conv' });
    graph.outputs.push({ name: 'y' });
    const estimate = estimateResources(graph);
    expect(estimate.params).toBe(54);
    expect(estimate.macs).toBe(3 * 2 * 2 * 2 * 9);
  });
});

describe('randomInputs', () => {
  it('is seeded and follows the declared dtypes and resolved shapes', () => {
    const graph = new Graph('feeds');
    graph.inputs.push({ name: 'image', type: { dtype: 'float32', shape: ['N', 3, 2, 2] } });
    graph.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: ['N'] } });
    graph.inputs.push({ name: 'mask', type: { dtype: 'bool', shape: [5] } });
    const first = randomInputs(graph, { dims: { N: 4 }, seed: 3 });
    const again = randomInputs(graph, { dims: { N: 4 }, seed: 3 });
    const other = randomInputs(graph, { dims: { N: 4 }, seed: 4 });
    expect(first.image!.shape).toEqual([4, 3, 2, 2]);
    expect(first.labels).toMatchObject({ dtype: 'int64', shape: [4] });
    expect(first.mask!.dtype).toBe('bool');
    expect(first.image!.data).toEqual(again.image!.data);
    expect(first.image!.data).not.toEqual(other.image!.data);
    const values = first.image!.toNumbers();
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(first.labels!.toNumbers().every((value) => value === 0 || value === 1)).toBe(true);
    expect(resolveInputShapes(graph).assumedDims).toEqual({ N: 1 });
  });
});

/**
 * Helpers of the QDQ tests: small float graphs, min/max calibration on onnxruntime, runs and
 * error measures.
 */
import { Graph, Tensor, createRandom, type Backend, type SessionOptions } from '@razor/core';
import { tensorRange } from '../../quant-params.js';
import type { TensorRange } from '../../types.js';

/** Uniform values in [offset − spread, offset + spread], seeded. */
export function randomTensor(shape: readonly number[], seed: number, spread = 1, offset = 0): Tensor<'float32'> {
  const random = createRandom(seed);
  const size = shape.reduce((product, dim) => product * dim, 1);
  return new Tensor('float32', shape, Float32Array.from({ length: size }, () => (random() * 2 - 1) * spread + offset));
}

/**
 * Min/max of every value over the batches (graph inputs and node outputs), from one float
 * session with the values as extra outputs.
 */
export async function calibrateMinMax(backend: Backend, graph: Graph, values: readonly string[], batches: readonly Record<string, Tensor>[]): Promise<Map<string, TensorRange>> {
  const probe = graph.clone();
  for (const value of values) if (!probe.isOutput(value) && !probe.isInput(value)) probe.outputs.push({ name: value, type: { dtype: 'float32' } });
  const session = await backend.createSession(probe, { threads: 2 });
  const ranges = new Map<string, TensorRange>();
  try {
    for (const feeds of batches) {
      const outputs = await session.run(feeds);
      for (const value of values) {
        const range = tensorRange(feeds[value] ?? outputs[value]!);
        const previous = ranges.get(value);
        ranges.set(value, previous ? { min: Float32Array.of(Math.min(previous.min[0]!, range.min[0]!)), max: Float32Array.of(Math.max(previous.max[0]!, range.max[0]!)) } : range);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/** The first output of `graph` for each batch of feeds. */
export async function runGraph(backend: Backend, graph: Graph, batches: readonly Record<string, Tensor>[], options: SessionOptions = {}): Promise<Float32Array[]> {
  const session = await backend.createSession(graph, { threads: 2, ...options });
  try {
    const results: Float32Array[] = [];
    for (const feeds of batches) results.push((await session.run(feeds))[graph.outputs[0]!.name]!.data as Float32Array);
    return results;
  } finally {
    await session.release();
  }
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let difference = 0;
  let reference = 0;
  for (let index = 0; index < b.length; index++) {
    difference += (a[index]! - b[index]!) ** 2;
    reference += b[index]! ** 2;
  }
  return Math.sqrt(difference / reference);
}

/** max |a − b|. */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  for (let index = 0; index < b.length; index++) largest = Math.max(largest, Math.abs(a[index]! - b[index]!));
  return largest;
}

/** Node counts by op type. */
export function countOps(graph: Graph): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of graph.nodes) counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  return counts;
}

/**
 * x [2, 3, 8, 8] → Conv c1 (bias) → Relu r1 → Conv c2 (no bias) → Relu r2 → Reshape → Gemm g1
 * (transB) → MatMul m1 → y [2, 5]: the layers of a small CNN classifier.
 */
export function smallCnn(opset = 17): Graph {
  const graph = new Graph('small_cnn');
  graph.opsetImports.set('', opset);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 8, 8] } });
  graph.initializers.set('w1', randomTensor([4, 3, 3, 3], 1, 0.4));
  graph.initializers.set('b1', randomTensor([4], 2, 0.2));
  graph.initializers.set('w2', randomTensor([6, 4, 1, 1], 3, 0.5));
  graph.initializers.set('shape', Tensor.int64([2, -1]));
  graph.initializers.set('wg', randomTensor([10, 384], 4, 0.1));
  graph.initializers.set('bg', randomTensor([10], 5, 0.1));
  graph.initializers.set('wm', randomTensor([10, 5], 6, 0.5));
  graph.addNode({ opType: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], name: 'c1', attributes: { pads: [1, 1, 1, 1] } });
  graph.addNode({ opType: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'r1' });
  graph.addNode({ opType: 'Conv', inputs: ['r1', 'w2'], outputs: ['c2'], name: 'c2' });
  graph.addNode({ opType: 'Relu', inputs: ['c2'], outputs: ['r2'], name: 'r2' });
  graph.addNode({ opType: 'Reshape', inputs: ['r2', 'shape'], outputs: ['flat'], name: 'reshape' });
  graph.addNode({ opType: 'Gemm', inputs: ['flat', 'wg', 'bg'], outputs: ['g1'], name: 'g1', attributes: { transB: 1 } });
  graph.addNode({ opType: 'MatMul', inputs: ['g1', 'wm'], outputs: ['y'], name: 'm1' });
  graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2, 5] } });
  return graph;
}

/**
 * One weighted op of each per-channel axis: x [2, 4, 4, 4] → ConvTranspose (axis 1) → Conv
 * (axis 0) → GlobalAveragePool → Flatten → Gemm without transB (axis 1) → Gemm with transB
 * (axis 0) → MatMul (axis 1) → y [2, 5].
 */
export function axisGraph(opset = 17): Graph {
  const graph = new Graph('axes');
  graph.opsetImports.set('', opset);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 4, 4, 4] } });
  graph.initializers.set('wt', randomTensor([4, 3, 2, 2], 11, 0.5));
  graph.initializers.set('bt', randomTensor([3], 12, 0.1));
  graph.initializers.set('wc', randomTensor([6, 3, 3, 3], 13, 0.3));
  graph.initializers.set('bc', randomTensor([6], 14, 0.1));
  graph.initializers.set('wn', randomTensor([6, 7], 15, 0.5));
  graph.initializers.set('bn', randomTensor([7], 16, 0.1));
  graph.initializers.set('wt2', randomTensor([8, 7], 17, 0.5));
  graph.initializers.set('bt2', randomTensor([8], 18, 0.1));
  graph.initializers.set('wm', randomTensor([8, 5], 19, 0.5));
  graph.addNode({ opType: 'ConvTranspose', inputs: ['x', 'wt', 'bt'], outputs: ['t'], name: 'convtranspose', attributes: { strides: [2, 2] } });
  graph.addNode({ opType: 'Conv', inputs: ['t', 'wc', 'bc'], outputs: ['c'], name: 'conv', attributes: { pads: [1, 1, 1, 1] } });
  graph.addNode({ opType: 'GlobalAveragePool', inputs: ['c'], outputs: ['p'], name: 'gap' });
  graph.addNode({ opType: 'Flatten', inputs: ['p'], outputs: ['f'], name: 'flatten' });
  graph.addNode({ opType: 'Gemm', inputs: ['f', 'wn', 'bn'], outputs: ['gn'], name: 'gemm_n' });
  graph.addNode({ opType: 'Gemm', inputs: ['gn', 'wt2', 'bt2'], outputs: ['gt'], name: 'gemm_t', attributes: { transB: 1 } });
  graph.addNode({ opType: 'MatMul', inputs: ['gt', 'wm'], outputs: ['y'], name: 'matmul' });
  graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2, 5] } });
  return graph;
}

import { Graph, Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { axisGraph, randomTensor, smallCnn } from '../__fixtures__/qdq/helpers.js';
import type { QuantScheme } from '../types.js';
import { planQuantization, QDQ_OP_RULES } from './plan.js';

const uint8: QuantScheme = { type: 'uint8', symmetric: false };
const int8: QuantScheme = { type: 'int8', symmetric: true };

function actions(plan: ReturnType<typeof planQuantization>): Record<string, string> {
  return Object.fromEntries(plan.nodes.map((node) => [node.name, node.reason && node.action === 'float' ? `float: ${node.reason}` : node.action]));
}

/** x [1, 4, 6, 6] → Conv → `activation` → Conv → y. */
function convActivationConv(activation: (graph: Graph, input: string, output: string) => void): Graph {
  const graph = new Graph('activation');
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 4, 6, 6] } });
  graph.initializers.set('w1', randomTensor([4, 4, 1, 1], 1));
  graph.initializers.set('w2', randomTensor([4, 4, 1, 1], 2));
  graph.addNode({ opType: 'Conv', inputs: ['x', 'w1'], outputs: ['c1'], name: 'conv1' });
  activation(graph, 'c1', 'a');
  graph.addNode({ opType: 'Conv', inputs: ['a', 'w2'], outputs: ['y'], name: 'conv2' });
  graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [1, 4, 6, 6] } });
  return graph;
}

function clip(low: number, high: number) {
  return (graph: Graph, input: string, output: string): void => {
    graph.initializers.set('low', Tensor.scalar('float32', low));
    graph.initializers.set('high', Tensor.scalar('float32', high));
    graph.addNode({ opType: 'Clip', inputs: [input, 'low', 'high'], outputs: [output], name: 'clip' });
  };
}

describe('planQuantization', () => {
  it('plans a small CNN in onnxruntime’s way, as plain data', () => {
    const graph = smallCnn();
    const plan = planQuantization(graph, { activations: uint8, weights: int8, perChannel: false });
    expect(actions(plan)).toEqual({ c1: 'quantize', r1: 'remove', c2: 'quantize', r2: 'remove', reshape: 'share', g1: 'quantize', m1: 'quantize' });
    expect(plan.nodes.find((node) => node.name === 'r1')!.reason).toContain(`'c1'`);
    expect(plan.activationsToCalibrate).toEqual(['x', 'r1', 'r2', 'g1', 'y']);
    expect(plan.quantizedActivations.find((entry) => entry.value === 'flat')).toEqual({ value: 'flat', params: 'shared', sharesWith: 'r2' });
    expect(plan.quantizedInitializers).toEqual([
      { node: 'c1', input: 1, initializer: 'w1', role: 'weight' },
      { node: 'c1', input: 2, initializer: 'b1', role: 'bias' },
      { node: 'c2', input: 1, initializer: 'w2', role: 'weight' },
      { node: 'c2', input: 2, role: 'bias' },
      { node: 'g1', input: 1, initializer: 'wg', role: 'weight' },
      { node: 'g1', input: 2, initializer: 'bg', role: 'bias' },
      { node: 'm1', input: 1, initializer: 'wm', role: 'weight' },
    ]);
    expect(plan.requiredOpset).toBe(17);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('uses defaults of uint8 asymmetric activations, int8 symmetric weights, per tensor', () => {
    const plan = planQuantization(smallCnn());
    expect(plan.activations).toEqual(uint8);
    expect(plan.weights).toEqual(int8);
    expect(plan.perChannel).toBe(false);
    expect(Object.keys(QDQ_OP_RULES)).toContain('GlobalAveragePool');
  });

  it('keeps Relu, with its own ranges, when activations are symmetric', () => {
    const plan = planQuantization(smallCnn(), { activations: { type: 'int8', symmetric: true }, weights: int8 });
    expect(plan.nodes.filter((node) => node.opType === 'Relu').map((node) => node.action)).toEqual(['quantize', 'quantize']);
    expect(plan.activationsToCalibrate).toEqual(['x', 'c1', 'r1', 'c2', 'r2', 'g1', 'y']);
  });

  it('removes a Clip only when its bounds straddle 0 and its input feeds nothing else', () => {
    const relu6 = planQuantization(convActivationConv(clip(0, 6)));
    expect(relu6.nodes.find((node) => node.name === 'clip')!.action).toBe('remove');
    expect(relu6.activationsToCalibrate).toEqual(['x', 'a', 'y']);

    const positive = planQuantization(convActivationConv(clip(0.5, 6)));
    expect(positive.nodes.find((node) => node.name === 'clip')!.action).toBe('quantize');
    expect(positive.activationsToCalibrate).toEqual(['x', 'c1', 'a', 'y']);

    const branching = convActivationConv((graph, input, output) => {
      graph.addNode({ opType: 'Relu', inputs: [input], outputs: [output], name: 'relu' });
      graph.addNode({ opType: 'Sigmoid', inputs: [input], outputs: ['side'], name: 'side' });
      graph.outputs.push({ name: 'side', type: { dtype: 'float32', shape: [1, 4, 6, 6] } });
    });
    const plan = planQuantization(branching);
    expect(plan.nodes.find((node) => node.name === 'relu')!.action).toBe('quantize');
    expect(plan.activationsToCalibrate).toEqual(['x', 'c1', 'a', 'side', 'y']);
  });

  it('shares scales through chains of reshape-like ops and Gather of a constant table', () => {
    const graph = new Graph('chain');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 4, 6, 6] } });
    graph.inputs.push({ name: 'ids', type: { dtype: 'int64', shape: [3] } });
    graph.inputs.push({ name: 'z', type: { dtype: 'float32', shape: [1, 4, 6, 6] } });
    graph.initializers.set('w', randomTensor([4, 4, 1, 1], 1));
    graph.initializers.set('table', randomTensor([10, 16], 2));
    graph.initializers.set('pads', Tensor.int64([0, 0, 1, 1, 0, 0, 1, 1]));
    graph.initializers.set('fill', Tensor.scalar('float32', 2));
    graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv' });
    graph.addNode({ opType: 'MaxPool', inputs: ['c'], outputs: ['m'], name: 'maxpool', attributes: { kernel_shape: [2, 2], strides: [2, 2] } });
    graph.addNode({ opType: 'Pad', inputs: ['m', 'pads'], outputs: ['p'], name: 'pad_zero' });
    graph.addNode({ opType: 'Pad', inputs: ['m', 'pads', 'fill'], outputs: ['q'], name: 'pad_two' });
    graph.addNode({ opType: 'Add', inputs: ['p', 'q'], outputs: ['s'], name: 'add' });
    graph.addNode({ opType: 'Flatten', inputs: ['s'], outputs: ['f'], name: 'flatten' });
    graph.addNode({ opType: 'Gather', inputs: ['table', 'ids'], outputs: ['g'], name: 'gather' });
    graph.addNode({ opType: 'MaxPool', inputs: ['z'], outputs: ['raw'], name: 'maxpool_input', attributes: { kernel_shape: [2, 2] } });
    graph.outputs.push({ name: 'f', type: { dtype: 'float32', shape: [1, 100] } });
    graph.outputs.push({ name: 'g', type: { dtype: 'float32', shape: [3, 16] } });
    graph.outputs.push({ name: 'raw', type: { dtype: 'float32', shape: [1, 4, 5, 5] } });
    const plan = planQuantization(graph);
    expect(actions(plan)).toEqual({
      conv: 'quantize',
      maxpool: 'share',
      pad_zero: 'share',
      pad_two: 'quantize',
      add: 'quantize',
      flatten: 'share',
      gather: 'share',
      maxpool_input: 'float: input not quantized',
    });
    const shared = Object.fromEntries(plan.quantizedActivations.map((entry) => [entry.value, entry.sharesWith ?? entry.params]));
    // A zero pad keeps the input's range; a pad with 2 may widen it, so its output is calibrated.
    expect(shared).toEqual({ x: 'calibrated', c: 'calibrated', m: 'c', p: 'c', q: 'calibrated', s: 'calibrated', f: 's', g: 'table' });
    expect(plan.quantizedInitializers.filter((entry) => entry.role === 'constant')).toEqual([{ node: 'gather', input: 0, initializer: 'table', role: 'constant' }]);
  });

  it('leaves nodes with non-float data float, saying why', () => {
    const graph = new Graph('shapes');
    graph.inputs.push({ name: 'a', type: { dtype: 'int64', shape: [2] } });
    graph.initializers.set('b', Tensor.int64([1, 1]));
    graph.addNode({ opType: 'Add', inputs: ['a', 'b'], outputs: ['y'], name: 'add' });
    graph.outputs.push({ name: 'y', type: { dtype: 'int64', shape: [2] } });
    const plan = planQuantization(graph);
    expect(plan.nodes[0]).toEqual({ name: 'add', opType: 'Add', action: 'float', reason: `'a' is int64, not float32` });
    expect(plan.activationsToCalibrate).toEqual([]);
  });

  it('records per-channel axes and the opset they need', () => {
    const plan = planQuantization(axisGraph(11), { perChannel: true });
    expect(plan.requiredOpset).toBe(13);
    expect(Object.fromEntries(plan.quantizedInitializers.filter((entry) => entry.role === 'weight').map((entry) => [entry.node, entry.axis]))).toEqual({
      convtranspose: 1,
      conv: 0,
      gemm_n: 1,
      gemm_t: 0,
      matmul: 1,
    });
    expect(plan.quantizedInitializers.filter((entry) => entry.role === 'bias').every((entry) => entry.axis === 0)).toBe(true);
    expect(planQuantization(axisGraph(11)).requiredOpset).toBe(11);
    expect(planQuantization(axisGraph(11), { activations: { type: 'uint16', symmetric: false } }).requiredOpset).toBe(21);
  });
});

import { Graph, Tensor } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { describe, expect, it } from 'vitest';
import { maxAbsDifference, randomTensor, runGraph } from '../__fixtures__/qdq/helpers.js';
import { prepareForQuantization } from './prepare.js';

describe('prepareForQuantization', () => {
  it('folds BatchNormalization and constants, drops dead nodes, types every value, and computes the same function', async () => {
    const graph = new Graph('bn');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 6, 6] } });
    graph.initializers.set('w', randomTensor([4, 3, 3, 3], 1, 0.5));
    graph.initializers.set('gamma', randomTensor([4], 2, 0.5, 1));
    graph.initializers.set('beta', randomTensor([4], 3, 0.5));
    graph.initializers.set('mean', randomTensor([4], 4, 0.5));
    graph.initializers.set('var', randomTensor([4], 5, 0.5, 1));
    graph.initializers.set('half', Tensor.scalar('float32', 0.5));
    graph.initializers.set('two', Tensor.scalar('float32', 2));
    graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv' });
    graph.addNode({ opType: 'BatchNormalization', inputs: ['c', 'gamma', 'beta', 'mean', 'var'], outputs: ['n'], name: 'bn' });
    graph.addNode({ opType: 'Relu', inputs: ['n'], outputs: ['r'], name: 'relu' });
    graph.addNode({ opType: 'Mul', inputs: ['half', 'two'], outputs: ['one'], name: 'constant_mul' });
    graph.addNode({ opType: 'Mul', inputs: ['r', 'one'], outputs: ['y'], name: 'scale' });
    graph.addNode({ opType: 'Sigmoid', inputs: ['r'], outputs: ['unused'], name: 'dead' });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32' } });

    const { graph: prepared, summary } = prepareForQuantization(graph);
    expect(summary).toMatchObject({ foldedBatchNorms: 1, foldedConstants: 1, removedNodes: 1, nodesBefore: 6, nodesAfter: 3, unknownOps: [] });
    expect(prepared.nodes.map((node) => node.opType)).toEqual(['Conv', 'Relu', 'Mul']);
    expect(prepared.node('conv')!.inputs).toHaveLength(3);
    for (const node of prepared.nodes) for (const output of node.outputs) expect(prepared.typeOf(output)?.shape, output).toEqual([2, 4, 4, 4]);
    // The input graph is untouched.
    expect(graph.nodes).toHaveLength(6);

    const backend = createOnnxruntimeBackend();
    const feeds = [{ x: randomTensor([2, 3, 6, 6], 9) }];
    const [reference] = await runGraph(backend, graph, feeds);
    const [result] = await runGraph(backend, prepared, feeds);
    expect(maxAbsDifference(result!, reference!)).toBeLessThan(1e-5);
  });

  it('removes global pools over a 1×1 feature map (the identity), and keeps the others', async () => {
    const graph = new Graph('pools');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 2, 2] } });
    graph.initializers.set('w', randomTensor([5, 3, 2, 2], 1, 0.5));
    graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv' });
    graph.addNode({ opType: 'GlobalAveragePool', inputs: ['c'], outputs: ['p'], name: 'unit_pool' });
    graph.addNode({ opType: 'Flatten', inputs: ['p'], outputs: ['y'], name: 'flatten' });
    graph.addNode({ opType: 'GlobalMaxPool', inputs: ['x'], outputs: ['m'], name: 'real_pool' });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32' } }, { name: 'm', type: { dtype: 'float32' } });
    const { graph: prepared, summary } = prepareForQuantization(graph);
    expect(summary.removedUnitPools).toBe(1);
    expect(prepared.nodes.map((node) => node.name)).toEqual(['conv', 'flatten', 'real_pool']);
    expect(prepared.node('flatten')!.inputs).toEqual(['c']);
    const backend = createOnnxruntimeBackend();
    const feeds = [{ x: randomTensor([2, 3, 2, 2], 4) }];
    const reference = await runGraph(backend, graph, feeds);
    const result = await runGraph(backend, prepared, feeds);
    expect(maxAbsDifference(result[0]!, reference[0]!)).toBeLessThan(1e-6);
  });
});

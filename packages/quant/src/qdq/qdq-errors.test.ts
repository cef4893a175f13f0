import { ErrorCodes, Graph, Tensor } from '@razor/core';
import { catchRazorError } from '@razor/core/testing';
import { describe, expect, it } from 'vitest';
import { randomTensor, smallCnn } from '../__fixtures__/qdq/helpers.js';
import type { QuantScheme, TensorRange } from '../types.js';
import { planQuantization } from './plan.js';
import { quantizeQdq, type QuantizeQdqOptions } from './quantize-qdq.js';

const uint8: QuantScheme = { type: 'uint8', symmetric: false };
const int8: QuantScheme = { type: 'int8', symmetric: true };

/** A range for every value the plan asks for (their values do not matter here). */
function rangesFor(graph: Graph, options: Omit<QuantizeQdqOptions, 'ranges'>): Map<string, TensorRange> {
  return new Map(planQuantization(graph, options).activationsToCalibrate.map((value) => [value, { min: Float32Array.of(-1), max: Float32Array.of(1) }]));
}

function softmaxGraph(opset: number): Graph {
  const graph = new Graph('softmax_head');
  graph.opsetImports.set('', opset);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 4, 4] } });
  graph.initializers.set('w', randomTensor([5, 3, 3, 3], 1, 0.3));
  graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv' });
  graph.addNode({ opType: 'Softmax', inputs: ['c'], outputs: ['y'], name: 'head/Softmax', attributes: { axis: 1 } });
  graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2, 5, 2, 2] } });
  return graph;
}

describe('quantizeQdq errors', () => {
  it('names the activation whose range is missing', () => {
    const graph = smallCnn();
    const options = { activations: uint8, weights: int8, perChannel: false };
    const ranges = rangesFor(graph, options);
    ranges.delete('r1');
    const error = catchRazorError(() => quantizeQdq(graph, { ...options, ranges }));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain(`'r1'`);
    expect(error.message).toContain('activationsToCalibrate');
  });

  it('rejects a per-channel activation range', () => {
    const graph = smallCnn();
    const options = { activations: uint8, weights: int8, perChannel: false };
    const ranges = rangesFor(graph, options);
    ranges.set('x', { min: Float32Array.of(-1, -2, -3), max: Float32Array.of(1, 2, 3), axis: 1 });
    const error = catchRazorError(() => quantizeQdq(graph, { ...options, ranges }));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain(`'x'`);
    expect(error.message).toContain('per tensor');
  });

  it('fails when a newer opset is needed and an op of the graph changed in between', () => {
    // Per-channel weights need opset 13, where Softmax stopped flattening its input to 2-D.
    const graph = softmaxGraph(11);
    const options = { activations: uint8, weights: int8, perChannel: true };
    const error = catchRazorError(() => quantizeQdq(graph, { ...options, ranges: rangesFor(graph, options) }));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_OP);
    expect(error.message).toContain(`'head/Softmax'`);
    expect(error.message).toContain('opset 13');
    expect(error.message).toContain('per-channel');
    expect(graph.opset()).toBe(11);
    // Per tensor it needs no newer opset.
    const perTensor = { ...options, perChannel: false };
    expect(quantizeQdq(graph, { ...perTensor, ranges: rangesFor(graph, perTensor) }).graph.opset()).toBe(11);

    // 16-bit types need opset 21; ReduceMean took its axes as an input at 18.
    const reduce = softmaxGraph(17);
    reduce.node('head/Softmax')!.opType = 'ReduceMean';
    reduce.node('head/Softmax')!.attributes = new Map([['axes', { type: 'ints', value: [1] }]]);
    reduce.outputs[0]!.type = { dtype: 'float32', shape: [2, 1, 2, 2] };
    const wide = { activations: { type: 'uint16', symmetric: false } as QuantScheme, weights: int8, perChannel: false };
    const wideError = catchRazorError(() => quantizeQdq(reduce, { ...wide, ranges: rangesFor(reduce, wide) }));
    expect(wideError.code).toBe(ErrorCodes.UNSUPPORTED_OP);
    expect(wideError.message).toContain('ReduceMean');
    expect(wideError.message).toContain('opset 21');
  });

  it('rejects bad options with a message naming the option', () => {
    const graph = smallCnn();
    const good = { activations: uint8, weights: int8, perChannel: false };
    const ranges = rangesFor(graph, good);
    const cases: [Record<string, unknown>, string][] = [
      [{ activations: { type: 'int8', symmetric: false }, weights: { type: 'uint8', symmetric: false } }, 'uint8 weights'],
      [{ weights: { type: 'int4', symmetric: true } }, 'weights.type'],
      [{ activations: { type: 'uint8' } }, 'activations.symmetric'],
      [{ activations: undefined }, `'activations' is required`],
      [{ weights: { type: 'int8', symmetric: true, reduceRange: 'yes' } }, 'weights.reduceRange'],
      [{ perChannel: 'yes' }, 'perChannel'],
      [{ ranges: { x: { min: [0], max: [1] } } }, 'ranges must be a Map'],
      [{ exclude: { nodes: ['conv9'] } }, `'conv9'`],
      [{ exclude: { opTypes: ['Conv2d'] } }, `'Conv2d'`],
      [{ opTypes: ['Dense'] }, `'Dense'`],
      [{ opTypes: 'Conv' }, 'opTypes must be an array'],
    ];
    for (const [change, fragment] of cases) {
      const error = catchRazorError(() => quantizeQdq(graph, { ...good, ranges, ...change } as unknown as QuantizeQdqOptions));
      expect(error.code, fragment).toBe(ErrorCodes.INVALID_ARGUMENT);
      expect(error.message, fragment).toContain(fragment);
    }
  });

  it('does not change the input graph', () => {
    const graph = smallCnn();
    const before = { nodes: graph.nodes.map((node) => [node.name, node.opType, [...node.inputs], [...node.outputs]]), initializers: [...graph.initializers.keys()] };
    const w1 = Tensor.float32([4, 3, 3, 3], graph.initializers.get('w1')!.data as Float32Array).clone();
    const options = { activations: uint8, weights: int8, perChannel: true };
    quantizeQdq(graph, { ...options, ranges: rangesFor(graph, options) });
    expect({ nodes: graph.nodes.map((node) => [node.name, node.opType, [...node.inputs], [...node.outputs]]), initializers: [...graph.initializers.keys()] }).toEqual(before);
    expect(graph.initializers.get('w1')!.data).toEqual(w1.data);
    expect(graph.opset()).toBe(17);
  });
});

import { describe, expect, it } from 'vitest';

import { buildGradients } from '../autodiff/gradients.js';
import { ErrorCodes } from '../errors.js';
import { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { createSegment } from './segment.js';

/** Conv(3×3, pad 1) → Tanh over [batch, 2, 5, 5], weights filled with `fill`. */
function convTanh(fill = 0.5, kernel = 3): Graph {
  const graph = new Graph('conv_tanh');
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 2, 5, 5] } });
  graph.initializers.set('weight', Tensor.float32([2, 2, kernel, kernel], new Float32Array(4 * kernel * kernel).fill(fill)));
  graph.initializers.set('bias', Tensor.float32([2], [0.1, -0.1]));
  const pad = (kernel - 1) / 2;
  graph.addNode({ opType: 'Conv', inputs: ['x', 'weight', 'bias'], outputs: ['z'], attributes: { kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad] }, name: 'conv' });
  graph.addNode({ opType: 'Tanh', inputs: ['z'], outputs: ['y'], name: 'tanh' });
  graph.outputs.push({ name: 'y' });
  return graph;
}

describe('buildGradients seeds', () => {
  it('adds each missing seed as an input typed like the value it seeds', () => {
    const graph = convTanh();
    graph.inputs[0]!.type = { dtype: 'float32', shape: [3, 2, 5, 5] };
    const { graph: built, gradients } = buildGradients(graph, { seeds: { y: 'y_seed' }, wrt: ['x', 'weight'] });
    expect(built.inputs.find((input) => input.name === 'y_seed')?.type).toEqual({ dtype: 'float32', shape: [3, 2, 5, 5] });
    expect(built.typeOf(gradients.weight!)?.shape).toEqual([2, 2, 3, 3]);
    expect(built.typeOf(gradients.x!)?.shape).toEqual([3, 2, 5, 5]);
    // No ones are seeded when there is no loss.
    expect([...built.initializers.keys()].some((name) => name.includes('grad_seed'))).toBe(false);
  });

  it('needs a loss or a seed, and a float value to seed', () => {
    expect(catchRazorError(() => buildGradients(convTanh(), { wrt: ['weight'] })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    const missing = catchRazorError(() => buildGradients(convTanh(), { seeds: { nothing: 'seed' }, wrt: ['weight'] }));
    expect(missing.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(missing.message).toContain("'nothing'");
  });
});

describe('createSegment', () => {
  it('keys segments by structure: parameter values do not count, constants and attributes do', () => {
    const base = createSegment(convTanh(0.5));
    expect(createSegment(convTanh(0.25)).key).toBe(base.key);
    expect(createSegment(convTanh(0.5, 5)).key).not.toBe(base.key);
    // As a constant rather than a parameter, the weight's values are part of the structure.
    const constant = createSegment(convTanh(0.5), { params: ['bias'] });
    expect(constant.key).not.toBe(base.key);
    expect(createSegment(convTanh(0.25), { params: ['bias'] }).key).not.toBe(constant.key);
    expect(base.parameterNames).toEqual(['weight', 'bias']);
  });

  it('compiles a forward graph saving what the backward reads, and one backward per choice of inputs', () => {
    const segment = createSegment(convTanh());
    const compiled = segment.compile([[4, 2, 5, 5]]);
    expect(segment.compile([[4, 2, 5, 5]])).toBe(compiled);
    expect(segment.compile([[1, 2, 5, 5]])).not.toBe(compiled);
    expect(compiled.forward.inputs.map((input) => input.name)).toEqual(['x', 'weight', 'bias']);
    expect(compiled.forward.outputs.map((output) => output.name)).toEqual(['y', ...compiled.saved.filter((name) => name !== 'y')]);
    expect(compiled.inference.outputs.map((output) => output.name)).toEqual(['y']);
    // Tanh's gradient reads its output; the convolution's reads x and the weight, which are fed, not saved.
    expect(compiled.saved).toContain('y');
    expect(compiled.saved).not.toContain('x');
    expect(compiled.forward.initializers.size).toBe(0);

    const full = compiled.backward(['x']);
    expect(Object.keys(full.inputGradients)).toEqual(['x']);
    expect(Object.keys(full.parameterGradients)).toEqual(['weight', 'bias']);
    expect(full.graph.outputs).toHaveLength(3);
    const parametersOnly = compiled.backward([]);
    expect(parametersOnly.key).not.toBe(full.key);
    expect(parametersOnly.graph.outputs).toHaveLength(2);
    expect(compiled.backward([])).toBe(parametersOnly);
    const fed = new Set([...Object.values(full.seeds), ...compiled.saved, 'x', 'weight', 'bias']);
    for (const input of full.graph.inputs) expect(fed.has(input.name), input.name).toBe(true);
    // The backward graph holds only gradient nodes: no forward convolution is recomputed.
    expect(full.graph.nodes.filter((node) => node.opType === 'Tanh')).toHaveLength(0);
  });

  it('fails naming the segment for an unknown op, a missing output and a non-float input gradient', () => {
    const unknown = convTanh();
    unknown.nodes[1]!.opType = 'Swoosh';
    const error = catchRazorError(() => createSegment(unknown, { name: 'cell.swoosh' }));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_OP);
    expect(error.message).toContain("segment 'cell.swoosh'");

    const dangling = convTanh();
    dangling.outputs.push({ name: 'nowhere' });
    const danglingError = catchRazorError(() => createSegment(dangling, { name: 'cell' }));
    expect(danglingError.code).toBe(ErrorCodes.INVALID_GRAPH);
    expect(danglingError.message).toContain("output 'nowhere'");

    const segment = createSegment(convTanh(), { name: 'cell' });
    expect(catchRazorError(() => segment.compile([[1, 2, 5, 5]]).backward(['weight'])).message).toContain("segment 'cell'");
    expect(catchRazorError(() => segment.setParameter('weight', Tensor.float32([2]))).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });

  it('checks feeds against the declared inputs, one size per named dim', () => {
    const graph = new Graph('pair');
    graph.inputs.push({ name: 'a', type: { dtype: 'float32', shape: ['batch', 3] } }, { name: 'b', type: { dtype: 'float32', shape: ['batch', 3] } });
    graph.addNode({ opType: 'Add', inputs: ['a', 'b'], outputs: ['sum'], name: 'add' });
    graph.outputs.push({ name: 'sum' });
    const segment = createSegment(graph);
    expect(segment.checkFeeds({ a: Tensor.float32([2, 3]), b: Tensor.float32([2, 3]) })).toEqual([
      [2, 3],
      [2, 3],
    ]);
    const error = catchRazorError(() => segment.checkFeeds({ a: Tensor.float32([2, 3]), b: Tensor.float32([4, 3]) }));
    expect(error.code).toBe(ErrorCodes.INVALID_FEED);
    expect(error.message).toContain("dim 'batch' is 2 in input 'a' but 4 in input 'b'");
  });
});

import { describe, expect, it } from 'vitest';
import { Graph, Tensor, attr, checkGradients, type AttributeInput, type GradientCheckResult } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';

const backend = createOnnxruntimeBackend();

/** float32 central differences with h = 1e-2·max(1, |x|): the largest relative error measured is 4e-4 (Div). */
const TOLERANCE = 2e-3;

interface OperandSpec {
  name: string;
  shape: number[];
  /** Initializer (a parameter) rather than a graph input. */
  initializer?: boolean;
  /** Seeded values instead of uniform [-1, 1]: e.g. positive for Log and Sqrt. */
  values?: Float32Array;
}

function seededValues(shape: readonly number[], seed: number, transform: (value: number) => number = (value) => value): Float32Array {
  const size = shape.reduce((product, dim) => product * dim, 1);
  const data = new Float32Array(size);
  let state = seed >>> 0;
  for (let index = 0; index < size; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[index] = transform((state / 4294967296) * 2 - 1);
  }
  return data;
}

/** A graph with one node of `opType` over the operands; extra inputs (shapes, axes) as int64 initializers. */
function singleOp(
  opType: string,
  operands: OperandSpec[],
  attributes: Record<string, AttributeInput> = {},
  constants: Record<string, number[]> = {},
  opset = 17,
): { graph: Graph; feeds: Record<string, Tensor> } {
  const graph = new Graph(opType);
  graph.opsetImports.set('', opset);
  const feeds: Record<string, Tensor> = {};
  operands.forEach((operand, index) => {
    const tensor = new Tensor('float32', operand.shape, operand.values ?? seededValues(operand.shape, 17 + index * 31));
    if (operand.initializer) graph.initializers.set(operand.name, tensor);
    else {
      graph.inputs.push({ name: operand.name, type: { dtype: 'float32', shape: operand.shape } });
      feeds[operand.name] = tensor;
    }
  });
  for (const [name, values] of Object.entries(constants)) graph.initializers.set(name, Tensor.int64(values));
  const inputs = [...operands.map((operand) => operand.name), ...Object.keys(constants)];
  graph.addNode({ opType, inputs, outputs: ['y'], attributes, name: opType.toLowerCase() });
  graph.outputs.push({ name: 'y', type: { dtype: 'float32' } });
  return { graph, feeds };
}

async function check(
  opType: string,
  operands: OperandSpec[],
  attributes: Record<string, AttributeInput> = {},
  constants: Record<string, number[]> = {},
  opset = 17,
): Promise<GradientCheckResult> {
  const { graph, feeds } = singleOp(opType, operands, attributes, constants, opset);
  const result = await checkGradients(graph, { backend, wrt: operands.map((operand) => operand.name), feeds });
  for (const value of result.values) {
    expect(value.analytic.length).toBe(value.numeric.length);
    // A vanishing gradient would pass any tolerance: each one checked here is substantial.
    expect(Math.max(...value.numeric.map(Math.abs))).toBeGreaterThan(1e-2);
  }
  expect(result.maxRelativeError).toBeLessThan(TOLERANCE);
  return result;
}

const positive = (value: number): number => 0.5 + Math.abs(value);
/** Keeps Relu's inputs away from the kink so the finite differences stay on one side. */
const awayFromZero = (value: number): number => (value >= 0 ? 0.1 + value : value - 0.1);

describe('gradient rules against finite differences', () => {
  it('Add, Sub, Mul and Div, with broadcasting on both sides', async () => {
    for (const opType of ['Add', 'Sub', 'Mul', 'Div']) {
      const right = (shape: number[]): OperandSpec => ({ name: 'b', shape, ...(opType === 'Div' ? { values: seededValues(shape, 5, positive) } : {}) });
      await check(opType, [{ name: 'a', shape: [2, 3, 4] }, right([2, 3, 4])]);
      await check(opType, [{ name: 'a', shape: [2, 3, 4] }, right([4])]);
      await check(opType, [{ name: 'a', shape: [2, 1, 4] }, right([3, 1])]);
      await check(opType, [{ name: 'a', shape: [1, 3, 1], initializer: true }, right([2, 3, 4])]);
    }
  });

  it('Sum of three inputs with broadcasting', async () => {
    await check('Sum', [
      { name: 'a', shape: [2, 3] },
      { name: 'b', shape: [3] },
      { name: 'c', shape: [2, 1] },
    ]);
  });

  it('Neg, Relu, Sigmoid, Tanh, Exp, Log, Sqrt and Identity', async () => {
    for (const opType of ['Neg', 'Sigmoid', 'Tanh', 'Exp', 'Identity']) await check(opType, [{ name: 'x', shape: [3, 5] }]);
    await check('Relu', [{ name: 'x', shape: [3, 5], values: seededValues([3, 5], 3, awayFromZero) }]);
    for (const opType of ['Log', 'Sqrt']) await check(opType, [{ name: 'x', shape: [3, 5], values: seededValues([3, 5], 3, positive) }]);
  });

  it('MatMul: 2-D, batched, and batched against a broadcast 2-D weight', async () => {
    await check('MatMul', [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [4, 5], initializer: true }]);
    await check('MatMul', [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [2, 4, 5] }]);
    await check('MatMul', [{ name: 'a', shape: [2, 2, 3, 4] }, { name: 'b', shape: [4, 5], initializer: true }]);
    await check('MatMul', [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [2, 4, 5] }]);
  });

  it('Gemm with every transpose flag, alpha, beta and a broadcast C', async () => {
    for (const transA of [0, 1]) {
      for (const transB of [0, 1]) {
        const a = transA ? [4, 3] : [3, 4];
        const b = transB ? [5, 4] : [4, 5];
        await check(
          'Gemm',
          [{ name: 'a', shape: a }, { name: 'b', shape: b, initializer: true }, { name: 'c', shape: [5], initializer: true }],
          { transA, transB, alpha: attr.float(0.7), beta: attr.float(1.3) },
        );
      }
    }
    await check('Gemm', [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [4, 5] }, { name: 'c', shape: [3, 1] }]);
  });

  it('Reshape, Flatten, Squeeze, Unsqueeze and Transpose', async () => {
    await check('Reshape', [{ name: 'x', shape: [2, 3, 4] }], {}, { shape: [4, -1] });
    await check('Flatten', [{ name: 'x', shape: [2, 3, 4] }], { axis: 2 });
    await check('Squeeze', [{ name: 'x', shape: [2, 1, 4] }], {}, { axes: [1] });
    await check('Unsqueeze', [{ name: 'x', shape: [2, 4] }], {}, { axes: [0, 2] });
    await check('Transpose', [{ name: 'x', shape: [2, 3, 4] }], { perm: [2, 0, 1] });
    await check('Transpose', [{ name: 'x', shape: [2, 3, 4] }]);
  });

  it('ReduceSum and ReduceMean, with and without keepdims, axes as input and as attribute', async () => {
    await check('ReduceSum', [{ name: 'x', shape: [2, 3, 4] }], { keepdims: 0 }, { axes: [1] });
    await check('ReduceSum', [{ name: 'x', shape: [2, 3, 4] }], { keepdims: 1 }, { axes: [0, -1] });
    await check('ReduceSum', [{ name: 'x', shape: [2, 3, 4] }], { keepdims: 0 });
    await check('ReduceMean', [{ name: 'x', shape: [2, 3, 4] }], { axes: [2], keepdims: 0 });
    await check('ReduceMean', [{ name: 'x', shape: [2, 3, 4] }], { axes: [0, 1] });
    await check('ReduceMean', [{ name: 'x', shape: [2, 3, 4] }], { keepdims: 0 }, { axes: [1] }, 18);
  });

  it('Softmax and LogSoftmax on the last axis, an inner axis, and the opset-11 flattened form', async () => {
    for (const opType of ['Softmax', 'LogSoftmax']) {
      await check(opType, [{ name: 'x', shape: [3, 5] }]);
      await check(opType, [{ name: 'x', shape: [2, 3, 4] }], { axis: 1 });
      await check(opType, [{ name: 'x', shape: [2, 3, 4] }], { axis: 1 }, {}, 11);
    }
  });

  it('GlobalAveragePool', async () => {
    await check('GlobalAveragePool', [{ name: 'x', shape: [2, 3, 4, 5] }]);
  });
});

describe('Conv gradients against finite differences', () => {
  const conv = (input: number[], weight: number[], attributes: Record<string, AttributeInput>, bias = true): Promise<GradientCheckResult> =>
    check(
      'Conv',
      [
        { name: 'x', shape: input },
        { name: 'w', shape: weight, initializer: true },
        ...(bias ? [{ name: 'bias', shape: [weight[0]!], initializer: true }] : []),
      ],
      attributes,
    );

  it('plain 3x3 with bias', async () => {
    await conv([2, 3, 6, 6], [4, 3, 3, 3], {});
  });

  it('stride 2 with padding, on sizes where the last row and column are never reached', async () => {
    await conv([1, 2, 7, 8], [3, 2, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] });
    await conv([1, 2, 8, 8], [3, 2, 3, 3], { strides: [2, 2], pads: [0, 1, 1, 0] }, false);
  });

  it('dilation 2 and asymmetric kernel', async () => {
    await conv([1, 2, 8, 9], [3, 2, 3, 2], { dilations: [2, 2], pads: [2, 1, 2, 1] });
  });

  it('groups 2, and depthwise with stride 2', async () => {
    await conv([2, 4, 6, 6], [6, 2, 3, 3], { group: 2, pads: [1, 1, 1, 1] });
    await conv([1, 4, 7, 7], [4, 1, 3, 3], { group: 4, strides: [2, 2], pads: [1, 1, 1, 1] });
    await conv([1, 4, 7, 7], [8, 1, 3, 3], { group: 4, dilations: [2, 2], strides: [2, 1] }, false);
  });

  it('auto_pad SAME_UPPER with stride 2, and a 1-D convolution', async () => {
    await conv([1, 2, 7, 7], [3, 2, 3, 3], { auto_pad: 'SAME_UPPER', strides: [2, 2] });
    await conv([2, 3, 9], [4, 3, 3], { strides: [2], pads: [1, 0] });
  });
});

describe('a small network', () => {
  it('Conv → Relu → GlobalAveragePool → Flatten → Gemm → mean of squares matches finite differences for every parameter', async () => {
    const graph = new Graph('small-net');
    const add = (name: string, shape: number[], seed: number, scale = 1): void => {
      graph.initializers.set(name, new Tensor('float32', shape, seededValues(shape, seed, (value) => value * scale)));
    };
    graph.inputs.push({ name: 'images', type: { dtype: 'float32', shape: [2, 3, 6, 6] } });
    add('conv.weight', [4, 3, 3, 3], 11, 0.5);
    add('conv.bias', [4], 12, 0.1);
    add('fc.weight', [5, 4], 13);
    add('fc.bias', [5], 14);
    add('target', [2, 5], 15);
    graph.addNode({ opType: 'Conv', inputs: ['images', 'conv.weight', 'conv.bias'], outputs: ['conv'], attributes: { pads: [1, 1, 1, 1], strides: [2, 2] } });
    graph.addNode({ opType: 'Relu', inputs: ['conv'], outputs: ['relu'] });
    graph.addNode({ opType: 'GlobalAveragePool', inputs: ['relu'], outputs: ['pool'] });
    graph.addNode({ opType: 'Flatten', inputs: ['pool'], outputs: ['features'] });
    graph.addNode({ opType: 'Gemm', inputs: ['features', 'fc.weight', 'fc.bias'], outputs: ['logits'], attributes: { transB: 1 } });
    graph.addNode({ opType: 'Sub', inputs: ['logits', 'target'], outputs: ['error'] });
    // The error is read twice, so its gradient is the sum of two contributions.
    graph.addNode({ opType: 'Mul', inputs: ['error', 'error'], outputs: ['squares'] });
    graph.addNode({ opType: 'ReduceMean', inputs: ['squares'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });

    const result = await checkGradients(graph, {
      backend,
      loss: 'loss',
      wrt: ['conv.weight', 'conv.bias', 'fc.weight', 'fc.bias'],
      feeds: { images: new Tensor('float32', [2, 3, 6, 6], seededValues([2, 3, 6, 6], 21)) },
      epsilon: 1e-2,
    });
    for (const value of result.values) expect(Math.max(...value.numeric.map(Math.abs))).toBeGreaterThan(1e-3);
    expect(result.maxRelativeError).toBeLessThan(TOLERANCE);
  });
});

import { describe, expect, it } from 'vitest';
import { Graph, Tensor, attr, buildGradients, checkGradients, type AttributeInput, type GradientCheckResult } from '@razor/core';
import { catchRazorError } from '@razor/core/testing';
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
  /**
   * A fixed initializer of any dtype that takes no gradient (a condition, bounds, running
   * statistics); it keeps its place among the operands.
   */
  fixed?: Tensor;
}

/** Less common settings of a single-op check. */
interface CheckExtras {
  /** Output names of the node; the first is projected to the loss (default ['y']). */
  outputs?: string[];
  tolerance?: number;
  /** Relative finite-difference step (checkGradients' default 1e-2). */
  epsilon?: number;
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
  outputs: readonly string[] = ['y'],
): { graph: Graph; feeds: Record<string, Tensor> } {
  const graph = new Graph(opType);
  graph.opsetImports.set('', opset);
  const feeds: Record<string, Tensor> = {};
  operands.forEach((operand, index) => {
    if (operand.fixed) {
      graph.initializers.set(operand.name, operand.fixed);
      return;
    }
    const tensor = new Tensor('float32', operand.shape, operand.values ?? seededValues(operand.shape, 17 + index * 31));
    if (operand.initializer) graph.initializers.set(operand.name, tensor);
    else {
      graph.inputs.push({ name: operand.name, type: { dtype: 'float32', shape: operand.shape } });
      feeds[operand.name] = tensor;
    }
  });
  for (const [name, values] of Object.entries(constants)) graph.initializers.set(name, Tensor.int64(values));
  const inputs = [...operands.map((operand) => operand.name), ...Object.keys(constants)];
  graph.addNode({ opType, inputs, outputs: [...outputs], attributes, name: opType.toLowerCase() });
  graph.outputs.push({ name: outputs[0]!, type: { dtype: 'float32' } });
  return { graph, feeds };
}

async function check(
  opType: string,
  operands: OperandSpec[],
  attributes: Record<string, AttributeInput> = {},
  constants: Record<string, number[]> = {},
  opset = 17,
  extras: CheckExtras = {},
): Promise<GradientCheckResult> {
  const { graph, feeds } = singleOp(opType, operands, attributes, constants, opset, extras.outputs);
  const wrt = operands.filter((operand) => operand.fixed === undefined).map((operand) => operand.name);
  const result = await checkGradients(graph, { backend, wrt, feeds, ...(extras.epsilon ? { epsilon: extras.epsilon } : {}) });
  for (const value of result.values) {
    expect(value.analytic.length).toBe(value.numeric.length);
    // A vanishing gradient would pass any tolerance: each one checked here is substantial.
    expect(Math.max(...value.numeric.map(Math.abs))).toBeGreaterThan(1e-2);
  }
  expect(result.maxRelativeError).toBeLessThan(extras.tolerance ?? TOLERANCE);
  return result;
}

/**
 * A seeded permutation of evenly spaced values in [-1, 1]: no two elements within 2/size, so a
 * maximum never changes place under a finite-difference step of 1e-3.
 */
function distinctValues(shape: readonly number[], seed: number): Float32Array {
  const size = shape.reduce((product, dim) => product * dim, 1);
  const order = Array.from(seededValues([size], seed)).map((key, index) => ({ key, index }));
  order.sort((a, b) => a.key - b.key);
  const data = new Float32Array(size);
  order.forEach(({ index }, rank) => {
    data[index] = -1 + (2 * rank) / Math.max(1, size - 1);
  });
  return data;
}

/** Scales uniform [-1, 1] values by `scale` and moves any within 0.1 of a kink away from it. */
const avoiding =
  (scale: number, kinks: readonly number[]) =>
  (value: number): number => {
    let scaled = value * scale;
    for (const kink of kinks) if (Math.abs(scaled - kink) < 0.1) scaled = kink + (scaled >= kink ? 0.1 : -0.1);
    return scaled;
  };

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

  it('1x1 kernels: unit stride (X is its own window matrix), more outputs than window rows, stride 2, and pads wider than the kernel', async () => {
    await conv([2, 3, 5, 5], [8, 3, 1, 1], {});
    await conv([1, 4, 6, 6], [6, 4, 1, 1], { strides: [2, 2] }, false);
    await conv([1, 2, 4, 4], [3, 2, 1, 1], { pads: [1, 1, 1, 1] });
  });

  it('auto_pad SAME_UPPER with stride 2, and a 1-D convolution', async () => {
    await conv([1, 2, 7, 7], [3, 2, 3, 3], { auto_pad: 'SAME_UPPER', strides: [2, 2] });
    await conv([2, 3, 9], [4, 3, 3], { strides: [2], pads: [1, 0] });
  });
});

describe('BatchNormalization gradients against finite differences', () => {
  const channels = (seed: number, transform?: (value: number) => number): Float32Array => seededValues([3], seed, transform);
  const parameters = (fixedStatistics: boolean): OperandSpec[] => [
    { name: 'scale', shape: [3], initializer: true, values: channels(41, positive) },
    { name: 'bias', shape: [3], initializer: true },
    fixedStatistics
      ? { name: 'mean', shape: [3], fixed: new Tensor('float32', [3], channels(43, (value) => value * 0.3)) }
      : { name: 'mean', shape: [3], initializer: true, values: channels(43, (value) => value * 0.3) },
    fixedStatistics
      ? { name: 'var', shape: [3], fixed: new Tensor('float32', [3], channels(47, positive)) }
      : { name: 'var', shape: [3], initializer: true, values: channels(47, positive) },
  ];

  it('training mode (batch statistics) on [N, C, H, W] and [N, C], running statistics as outputs', async () => {
    const attributes = { training_mode: 1, epsilon: attr.float(1e-3), momentum: attr.float(0.9) };
    const outputs = ['y', 'running_mean', 'running_var'];
    for (const opset of [14, 15]) {
      await check('BatchNormalization', [{ name: 'x', shape: [2, 3, 3, 4] }, ...parameters(true)], attributes, {}, opset, { outputs });
    }
    await check('BatchNormalization', [{ name: 'x', shape: [5, 3] }, ...parameters(true)], attributes, {}, 15, { outputs });
  });

  it('training mode with momentum 0: the rule reads the batch statistics from outputs 1 and 2', async () => {
    const attributes = { training_mode: 1, epsilon: attr.float(1e-3), momentum: attr.float(0) };
    const outputs = ['y', 'batch_mean', 'batch_var'];
    await check('BatchNormalization', [{ name: 'x', shape: [2, 3, 3, 4] }, ...parameters(true)], attributes, {}, 15, { outputs });
    const graph = new Graph('bn');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3, 4] } });
    for (const [name, values] of [['scale', [1, 2, 3]], ['bias', [0, 0, 0]], ['mean', [0, 0, 0]], ['var', [1, 1, 1]]] as const) graph.addInitializer(name, Tensor.from('float32', [3], [...values]));
    graph.addNode({ opType: 'BatchNormalization', inputs: ['x', 'scale', 'bias', 'mean', 'var'], outputs, attributes, name: 'bn' });
    graph.addNode({ opType: 'ReduceSum', inputs: ['y'], outputs: ['loss'], attributes: { keepdims: 0 }, name: 'sum' });
    graph.outputs = [{ name: 'loss' }];
    const { graph: backward } = buildGradients(graph, { loss: 'loss', wrt: ['scale'] });
    expect(backward.nodes.filter((node) => node.opType === 'ReduceMean')).toEqual([]);
  });

  it('inference mode: X, scale, B and the statistics inputs', async () => {
    await check('BatchNormalization', [{ name: 'x', shape: [2, 3, 3, 4] }, ...parameters(false)], { epsilon: attr.float(1e-3) });
    await check('BatchNormalization', [{ name: 'x', shape: [2, 3, 5] }, ...parameters(false)], {}, {}, 11);
  });
});

describe('pooling gradients against finite differences', () => {
  const pool = (opType: string, shape: number[], attributes: Record<string, AttributeInput>, opset = 17): Promise<GradientCheckResult> =>
    check(opType, [{ name: 'x', shape, values: distinctValues(shape, 7) }], attributes, {}, opset, { epsilon: 1e-3 });

  it('MaxPool: overlapping windows with padding, ceil_mode, dilations, storage_order, 1-D, and opset 11 without overlap', async () => {
    await pool('MaxPool', [2, 2, 5, 5], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    await pool('MaxPool', [1, 2, 7, 6], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
    await pool('MaxPool', [1, 2, 6, 7], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1, storage_order: 1 });
    await pool('MaxPool', [1, 1, 7, 7], { kernel_shape: [2, 3], dilations: [2, 2], pads: [1, 0, 0, 1] });
    await pool('MaxPool', [2, 2, 9], { kernel_shape: [3], strides: [2], pads: [1, 1] });
    await pool('MaxPool', [1, 2, 6, 6], { kernel_shape: [2, 2], strides: [2, 2] }, 11);
    await pool('MaxPool', [1, 2, 6, 5], { auto_pad: 'SAME_UPPER', kernel_shape: [3, 3], strides: [2, 2] });
  });

  it('AveragePool: count_include_pad both ways, strides, ceil_mode windows past the end, 1-D', async () => {
    for (const count_include_pad of [0, 1]) {
      await pool('AveragePool', [2, 2, 5, 5], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad });
      await pool('AveragePool', [1, 2, 6, 7], { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 1, 1], count_include_pad });
      await pool('AveragePool', [1, 2, 6, 6], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad });
      await pool('AveragePool', [1, 1, 8, 7], { kernel_shape: [2, 2], strides: [3, 3], ceil_mode: 1, count_include_pad });
      await pool('AveragePool', [2, 2, 9], { kernel_shape: [4], strides: [2], pads: [2, 1], count_include_pad });
    }
  });

  it('GlobalMaxPool', async () => {
    await pool('GlobalMaxPool', [2, 3, 4, 5], {});
  });
});

describe('activation, selection and shape gradients against finite differences', () => {
  const scalar = (value: number): Tensor => new Tensor('float32', [], new Float32Array([value]));

  it('Clip with bounds as inputs (and their gradients), one bound omitted, and as opset-10 attributes', async () => {
    const values = seededValues([4, 5], 3, avoiding(1, [-0.3, 0.4]));
    await check('Clip', [{ name: 'x', shape: [4, 5], values }, { name: 'low', shape: [], values: new Float32Array([-0.3]) }, { name: 'high', shape: [], values: new Float32Array([0.4]) }]);
    await check('Clip', [{ name: 'x', shape: [4, 5], values }, { name: 'low', shape: [], fixed: scalar(-0.3) }]);
    await check('Clip', [{ name: 'x', shape: [4, 5], values }], { min: attr.float(-0.3), max: attr.float(0.4) }, {}, 10);
  });

  it('LeakyRelu, HardSigmoid and HardSwish on both sides of every kink', async () => {
    await check('LeakyRelu', [{ name: 'x', shape: [3, 5], values: seededValues([3, 5], 3, awayFromZero) }], { alpha: attr.float(0.2) });
    await check('HardSigmoid', [{ name: 'x', shape: [4, 6], values: seededValues([4, 6], 3, avoiding(3, [-2, 2])) }], { alpha: attr.float(0.25), beta: attr.float(0.5) });
    await check('HardSigmoid', [{ name: 'x', shape: [4, 6], values: seededValues([4, 6], 5, avoiding(4, [-2.5, 2.5])) }]);
    await check('HardSwish', [{ name: 'x', shape: [4, 6], values: seededValues([4, 6], 3, avoiding(5, [-3, 3])) }]);
  });

  it('Where with broadcasting data inputs', async () => {
    const condition = Tensor.from('bool', [2, 1, 4], [true, false, false, true, false, true, true, false]);
    await check('Where', [{ name: 'condition', shape: [2, 1, 4], fixed: condition }, { name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [3, 1] }]);
  });

  it('Expand, Concat and Split (one output unused)', async () => {
    await check('Expand', [{ name: 'x', shape: [3, 1] }], {}, { shape: [2, 3, 4] });
    await check('Concat', [{ name: 'a', shape: [2, 1, 3] }, { name: 'b', shape: [2, 4, 3] }, { name: 'c', shape: [2, 2, 3], initializer: true }], { axis: 1 });
    await check('Concat', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [2, 2] }], { axis: -1 }, {}, 11);
    await check('Split', [{ name: 'x', shape: [2, 6] }], { axis: -1 }, { split: [2, 1, 3] }, 17, { outputs: ['y', 'unused', 'z'] });
    await check('Split', [{ name: 'x', shape: [4, 3] }], { axis: 0, split: [1, 3] }, {}, 11, { outputs: ['y', 'rest'] });
  });

  it('Slice with steps, negative steps and indices, and opset-9 attributes', async () => {
    await check('Slice', [{ name: 'x', shape: [4, 5, 6] }], {}, { starts: [1, -2], ends: [100, 0], axes: [2, 0], steps: [2, -1] });
    await check('Slice', [{ name: 'x', shape: [4, 5, 6] }], {}, { starts: [-4, 1], ends: [-1, 4], axes: [-1, 1] });
    // Positive steps (spread and padded): a ResNet option-A shortcut x[:, :, ::2, ::2] on odd
    // and even sizes, two stepped axes with offsets, and a step that overruns the end.
    await check('Slice', [{ name: 'x', shape: [2, 3, 5, 4] }], {}, { starts: [0, 0], ends: [100, 100], axes: [2, 3], steps: [2, 2] });
    await check('Slice', [{ name: 'x', shape: [5, 7, 6] }], {}, { starts: [1, 1], ends: [5, 6], axes: [0, 2], steps: [3, 2] });
    await check('Slice', [{ name: 'x', shape: [3, 8] }], {}, { starts: [2], ends: [7], axes: [1], steps: [4] });
    await check('Slice', [{ name: 'x', shape: [4, 5] }], { starts: [1], ends: [-1], axes: [1] }, {}, 9);
  });

  it('Pad in constant mode with the pad value differentiated, with axes (opset 18) and as opset-10 attributes', async () => {
    await check('Pad', [{ name: 'x', shape: [2, 3, 4] }, { name: 'pads', shape: [6], fixed: Tensor.int64([0, 1, 2, 1, 0, 3]) }, { name: 'value', shape: [], values: new Float32Array([0.3]) }]);
    await check('Pad', [{ name: 'x', shape: [2, 3, 4] }, { name: 'pads', shape: [4], fixed: Tensor.int64([2, 1, 0, 2]) }, { name: 'value', shape: [], fixed: scalar(0.5) }, { name: 'axes', shape: [2], fixed: Tensor.int64([-1, 0]) }], {}, {}, 18);
    await check('Pad', [{ name: 'x', shape: [2, 3] }], { pads: [1, 0, 0, 2], value: attr.float(1.5) }, {}, 10);
  });

  it('Gather: repeated and negative indices, a 2-D index on an inner axis, and unique indices at opset 13', async () => {
    await check('Gather', [{ name: 'x', shape: [5, 3] }], {}, { indices: [4, 0, -1, 2, 4] });
    await check('Gather', [{ name: 'x', shape: [2, 4, 3] }], { axis: 1 }, { indices: [3, 1, 1, 0, 3, 2] }, 17);
    await check('Gather', [{ name: 'x', shape: [2, 4, 3] }], { axis: -1 }, { indices: [2, 0] }, 13);
  });

  it('ReduceMax and GlobalMaxPool-style maxima: axes as attribute and as input, keepdims both ways', async () => {
    const x = { name: 'x', shape: [3, 4, 5], values: distinctValues([3, 4, 5], 9) };
    const extras = { epsilon: 1e-3 };
    await check('ReduceMax', [x], { axes: [1], keepdims: 0 }, {}, 13, extras);
    await check('ReduceMax', [x], { axes: [0, -1] }, {}, 13, extras);
    await check('ReduceMax', [x], { keepdims: 0 }, { axes: [2] }, 18, extras);
    await check('ReduceMax', [x], { keepdims: 0 }, {}, 13, extras);
  });

  it('Dropout: identity in inference mode', async () => {
    await check('Dropout', [{ name: 'x', shape: [3, 4] }, { name: 'ratio', shape: [], fixed: scalar(0.3) }, { name: 'training', shape: [], fixed: Tensor.from('bool', [], [false]) }], {}, {}, 13);
    await check('Dropout', [{ name: 'x', shape: [3, 4] }], { ratio: attr.float(0.3) }, {}, 11);
  });

  it('Dropout in training mode: the gradient is dY · mask / (1 − ratio) with the mask of the same run', async () => {
    // A training-mode mask is random per run, so finite differences cannot see it; the gradient
    // is checked against the mask the same run produced.
    const graph = new Graph('dropout');
    graph.opsetImports.set('', 17);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [8, 16] } }, { name: 'r', type: { dtype: 'float32', shape: [8, 16] } });
    graph.initializers.set('ratio', scalar(0.25));
    graph.initializers.set('training', Tensor.from('bool', [], [true]));
    graph.addNode({ opType: 'Dropout', inputs: ['x', 'ratio', 'training'], outputs: ['y', 'mask'] });
    graph.addNode({ opType: 'Mul', inputs: ['y', 'r'], outputs: ['weighted'] });
    graph.addNode({ opType: 'ReduceSum', inputs: ['weighted'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } }, { name: 'mask', type: { dtype: 'bool', shape: [8, 16] } });
    const built = buildGradients(graph, { loss: 'loss', wrt: ['x'] });
    const session = await backend.createSession(built.graph);
    const r = seededValues([8, 16], 5);
    const result = await session.run({ x: new Tensor('float32', [8, 16], seededValues([8, 16], 3)), r: new Tensor('float32', [8, 16], r) }, ['mask', built.gradients.x!]);
    await session.release();
    const mask = result.mask!.toNumbers();
    const gradient = result[built.gradients.x!]!.toFloat32();
    const kept = mask.filter((value) => value !== 0).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(mask.length);
    gradient.forEach((value, index) => expect(value).toBeCloseTo(mask[index] ? r[index]! / 0.75 : 0, 5));
  });

  it('Dropout in training mode without a mask output gets one (imported graphs, zoo models)', async () => {
    const graph = new Graph('dropout-no-mask');
    graph.opsetImports.set('', 17);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [8, 16] } }, { name: 'r', type: { dtype: 'float32', shape: [8, 16] } });
    graph.initializers.set('ratio', scalar(0.25));
    graph.initializers.set('training', Tensor.from('bool', [], [true]));
    graph.addNode({ opType: 'Dropout', inputs: ['x', 'ratio', 'training'], outputs: ['y'] });
    graph.addNode({ opType: 'Mul', inputs: ['y', 'r'], outputs: ['weighted'] });
    graph.addNode({ opType: 'ReduceSum', inputs: ['weighted'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } }, { name: 'y', type: { dtype: 'float32', shape: [8, 16] } });
    const built = buildGradients(graph, { loss: 'loss', wrt: ['x'] });
    expect(graph.nodes[0]!.outputs).toEqual(['y']);
    const session = await backend.createSession(built.graph);
    const r = seededValues([8, 16], 5);
    const x = seededValues([8, 16], 3).map((value) => value + (value >= 0 ? 0.1 : -0.1));
    const result = await session.run({ x: new Tensor('float32', [8, 16], x), r: new Tensor('float32', [8, 16], r) }, ['y', built.gradients.x!]);
    await session.release();
    const y = result.y!.toFloat32();
    const gradient = result[built.gradients.x!]!.toFloat32();
    const kept = y.filter((value) => value !== 0).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(y.length);
    gradient.forEach((value, index) => expect(value).toBeCloseTo(y[index] !== 0 ? r[index]! / 0.75 : 0, 5));
  });

  it('Cast between float widths', async () => {
    const graph = new Graph('cast');
    graph.opsetImports.set('', 17);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [3, 4] } });
    graph.addNode({ opType: 'Cast', inputs: ['x'], outputs: ['wide'], attributes: { to: 11 } });
    graph.addNode({ opType: 'Mul', inputs: ['wide', 'wide'], outputs: ['square'] });
    graph.addNode({ opType: 'Cast', inputs: ['square'], outputs: ['y'], attributes: { to: 1 } });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [3, 4] } });
    const result = await checkGradients(graph, { backend, wrt: ['x'] });
    expect(Math.max(...result.values[0]!.numeric.map(Math.abs))).toBeGreaterThan(1e-2);
    expect(result.maxRelativeError).toBeLessThan(TOLERANCE);
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

describe('smooth activations and elementwise math against finite differences', () => {
  it('Elu, Selu, Softplus, Softsign, Erf and Gelu (exact and tanh)', async () => {
    const x = (seed = 3): OperandSpec => ({ name: 'x', shape: [3, 5], values: seededValues([3, 5], seed, avoiding(3, [0])) });
    await check('Elu', [x()], { alpha: attr.float(0.7) });
    await check('Selu', [x()]);
    await check('Selu', [x(5)], { alpha: attr.float(1.2), gamma: attr.float(0.8) });
    for (const opType of ['Softplus', 'Softsign', 'Erf']) await check(opType, [x()]);
    await check('Gelu', [x()], {}, {}, 20);
    await check('Gelu', [x(7)], { approximate: 'tanh' }, {}, 20);
  });

  it('PRelu with a per-channel slope, a broadcast scalar slope, both differentiated', async () => {
    const values = seededValues([2, 3, 4], 3, awayFromZero);
    await check('PRelu', [{ name: 'x', shape: [2, 3, 4], values }, { name: 'slope', shape: [3, 1], initializer: true, values: seededValues([3, 1], 9, positive) }]);
    await check('PRelu', [{ name: 'x', shape: [2, 3, 4], values }, { name: 'slope', shape: [1], values: new Float32Array([0.25]) }]);
  });

  it('Abs, Sin, Cos and Reciprocal', async () => {
    await check('Abs', [{ name: 'x', shape: [3, 5], values: seededValues([3, 5], 3, awayFromZero) }]);
    for (const opType of ['Sin', 'Cos']) await check(opType, [{ name: 'x', shape: [3, 5], values: seededValues([3, 5], 4, (value) => value * 3) }]);
    await check('Reciprocal', [{ name: 'x', shape: [3, 5], values: seededValues([3, 5], 3, positive) }]);
  });

  it('Pow: both operands differentiated with broadcasting, and a constant integer exponent on negative bases', async () => {
    await check('Pow', [{ name: 'a', shape: [2, 3], values: seededValues([2, 3], 3, positive) }, { name: 'b', shape: [3], values: seededValues([3], 5, (value) => value * 2) }]);
    await check('Pow', [{ name: 'a', shape: [2, 3], values: seededValues([2, 3], 3, awayFromZero) }, { name: 'b', shape: [], fixed: Tensor.from('int64', [], [3]) }]);
  });

  it('Max, Min and Mean of three broadcasting inputs', async () => {
    const operands = (): OperandSpec[] => [
      { name: 'a', shape: [2, 3, 4], values: distinctValues([2, 3, 4], 3) },
      { name: 'b', shape: [3, 1], values: distinctValues([3, 1], 5).map((value) => value * 0.9 + 0.013) },
      { name: 'c', shape: [4], initializer: true, values: distinctValues([4], 7).map((value) => value * 0.8 - 0.021) },
    ];
    for (const opType of ['Max', 'Min']) await check(opType, operands(), {}, {}, 17, { epsilon: 1e-3 });
    await check('Mean', operands());
  });
});

describe('more reductions against finite differences', () => {
  const x = (transform?: (value: number) => number): OperandSpec => ({ name: 'x', shape: [3, 4, 5], values: transform ? seededValues([3, 4, 5], 9, transform) : distinctValues([3, 4, 5], 9) });

  it('ReduceMin, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum and ReduceLogSumExp, axes as attribute and input', async () => {
    await check('ReduceMin', [x()], { axes: [1], keepdims: 0 }, {}, 13, { epsilon: 1e-3 });
    await check('ReduceMin', [x()], { keepdims: 1 }, { axes: [0, 2] }, 18, { epsilon: 1e-3 });
    await check('ReduceL1', [x(awayFromZero)], { axes: [2] }, {}, 13);
    await check('ReduceL2', [x()], { axes: [0, 1], keepdims: 0 }, {}, 13);
    await check('ReduceSumSquare', [x()], { keepdims: 0 }, { axes: [-1] }, 18);
    await check('ReduceLogSum', [x(positive)], { axes: [1] }, {}, 13);
    await check('ReduceLogSumExp', [x((value) => value * 3)], { keepdims: 0 }, {}, 13);
  });

  it('ReduceProd, with a slice holding one zero and one holding two', async () => {
    await check('ReduceProd', [x(positive)], { axes: [2], keepdims: 0 }, {}, 13);
    const values = seededValues([3, 4], 11, positive);
    values[1] = 0;
    values[4] = 0;
    values[6] = 0;
    await check('ReduceProd', [{ name: 'x', shape: [3, 4], values }], { axes: [1] }, {}, 13);
  });

  it('Conv, training BatchNormalization, AveragePool, GlobalAveragePool and ReduceMean over a symbolic batch: counts come from Shape at run time', async () => {
    const graph = new Graph('symbolic-batch');
    graph.opsetImports.set('', 17);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['N', 2, 4, 5] } });
    graph.initializers.set('conv', new Tensor('float32', [3, 2, 3, 3], seededValues([3, 2, 3, 3], 5, (value) => value * 0.5)));
    graph.initializers.set('scale', new Tensor('float32', [3], seededValues([3], 7, positive)));
    graph.initializers.set('bias', new Tensor('float32', [3], seededValues([3], 8)));
    graph.initializers.set('mean', Tensor.float32([3], [0, 0, 0]));
    graph.initializers.set('var', Tensor.float32([3], [1, 1, 1]));
    graph.initializers.set('w', new Tensor('float32', [3, 1, 1], seededValues([3, 1, 1], 9, positive)));
    graph.addNode({ opType: 'Conv', inputs: ['x', 'conv'], outputs: ['features'], attributes: { pads: [1, 1, 1, 1] } });
    graph.addNode({
      opType: 'BatchNormalization',
      inputs: ['features', 'scale', 'bias', 'mean', 'var'],
      outputs: ['normalized', 'running_mean', 'running_var'],
      attributes: { training_mode: 1, epsilon: attr.float(1e-3) },
    });
    graph.addNode({ opType: 'AveragePool', inputs: ['normalized'], outputs: ['pooled'], attributes: { kernel_shape: [2, 2], pads: [1, 1, 1, 1], strides: [2, 2] } });
    graph.addNode({ opType: 'Mul', inputs: ['pooled', 'w'], outputs: ['scaled'] });
    graph.addNode({ opType: 'GlobalAveragePool', inputs: ['scaled'], outputs: ['summary'] });
    graph.addNode({ opType: 'Mul', inputs: ['summary', 'summary'], outputs: ['squares'] });
    graph.addNode({ opType: 'ReduceMean', inputs: ['squares'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });
    const wrt = ['conv', 'scale', 'bias', 'w', 'x'];
    const built = buildGradients(graph, { loss: 'loss', wrt });
    expect(built.graph.typeOf(built.gradients.x!)?.shape).toEqual(['N', 2, 4, 5]);
    expect(built.graph.nodes.some((node) => node.opType === 'Shape')).toBe(true);
    for (const batch of [2, 3]) {
      const x = new Tensor('float32', [batch, 2, 4, 5], seededValues([batch, 2, 4, 5], 21 + batch));
      const result = await checkGradients(graph, { backend, loss: 'loss', wrt, feeds: { x } });
      for (const value of result.values) expect(Math.max(...value.numeric.map(Math.abs)), value.name).toBeGreaterThan(1e-3);
      expect(result.maxRelativeError).toBeLessThan(TOLERANCE);
    }
  });
});

describe('ConvTranspose gradients against finite differences', () => {
  const convTranspose = (input: number[], weight: number[], attributes: Record<string, AttributeInput>, bias = true): Promise<GradientCheckResult> =>
    check(
      'ConvTranspose',
      [
        { name: 'x', shape: input },
        { name: 'w', shape: weight, initializer: true },
        ...(bias ? [{ name: 'bias', shape: [weight[1]! * ((attributes.group as number | undefined) ?? 1)], initializer: true }] : []),
      ],
      attributes,
    );

  it('plain 3x3 with bias, and stride 2 with pads and output_padding', async () => {
    await convTranspose([2, 3, 4, 4], [3, 2, 3, 3], {});
    await convTranspose([1, 2, 4, 5], [2, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 0] });
    await convTranspose([1, 2, 3, 3], [2, 2, 4, 4], { strides: [2, 2], pads: [1, 1, 1, 1] }, false);
  });

  it('dilations with strides and output_padding, asymmetric kernel and pads', async () => {
    await convTranspose([1, 2, 4, 4], [2, 3, 3, 2], { dilations: [2, 2], pads: [1, 0, 2, 1] });
    await convTranspose([1, 2, 4, 4], [2, 2, 3, 3], { dilations: [2, 2], strides: [2, 3], output_padding: [1, 2] }, false);
  });

  it('groups 2 and depthwise with stride 2', async () => {
    await convTranspose([2, 4, 3, 3], [4, 3, 3, 3], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
    await convTranspose([1, 4, 4, 4], [4, 1, 3, 3], { group: 4, strides: [2, 1], pads: [1, 1, 1, 1] });
  });

  it('output_shape, auto_pad SAME_UPPER and SAME_LOWER, and a 1-D transposed convolution', async () => {
    await convTranspose([1, 2, 3, 3], [2, 2, 3, 3], { strides: [2, 2], output_shape: [6, 7] });
    await convTranspose([1, 2, 3, 3], [2, 2, 4, 4], { strides: [2, 2], auto_pad: 'SAME_UPPER' });
    await convTranspose([1, 2, 3, 4], [2, 2, 3, 3], { strides: [2, 2], auto_pad: 'SAME_UPPER' });
    await convTranspose([1, 2, 3, 3], [2, 2, 3, 3], { strides: [2, 2], auto_pad: 'SAME_LOWER' }, false);
    await convTranspose([2, 3, 5], [3, 2, 3], { strides: [2], pads: [1, 0] });
  });
});

describe('LayerNormalization and InstanceNormalization gradients against finite differences', () => {
  it('LayerNormalization over the last axis and over the last two, with and without B and saved statistics', async () => {
    const scale = (shape: number[]): OperandSpec => ({ name: 'scale', shape, initializer: true, values: seededValues(shape, 41, positive) });
    const bias = (shape: number[]): OperandSpec => ({ name: 'bias', shape, initializer: true });
    await check('LayerNormalization', [{ name: 'x', shape: [2, 3, 4] }, scale([4]), bias([4])]);
    await check('LayerNormalization', [{ name: 'x', shape: [2, 3, 4] }, scale([3, 4]), bias([3, 4])], { axis: 1, epsilon: attr.float(1e-3) }, {}, 17, { outputs: ['y', 'mean', 'inverse_std'] });
    await check('LayerNormalization', [{ name: 'x', shape: [3, 5] }, scale([5])], { axis: -1 });
  });

  it('InstanceNormalization on [N, C, H, W] and [N, C, L]', async () => {
    const parameters: OperandSpec[] = [
      { name: 'scale', shape: [3], initializer: true, values: seededValues([3], 41, positive) },
      { name: 'bias', shape: [3], initializer: true },
    ];
    await check('InstanceNormalization', [{ name: 'x', shape: [2, 3, 3, 4] }, ...parameters], { epsilon: attr.float(1e-3) });
    await check('InstanceNormalization', [{ name: 'x', shape: [2, 3, 5] }, ...parameters]);
  });
});

describe('Resize and Upsample gradients against finite differences', () => {
  const floats = (values: number[]): Tensor => new Tensor('float32', [values.length], new Float32Array(values));
  const empty = (): Tensor => new Tensor('float32', [0], new Float32Array(0));
  const resize = (shape: number[], attributes: Record<string, AttributeInput>, scales?: number[], sizes?: number[], opset = 17): Promise<GradientCheckResult> =>
    check(
      'Resize',
      [
        { name: 'x', shape },
        { name: 'roi', shape: [0], fixed: empty() },
        { name: 'scales', shape: [scales?.length ?? 0], fixed: scales ? floats(scales) : empty() },
        ...(sizes ? [{ name: 'sizes', shape: [sizes.length], fixed: Tensor.int64(sizes) }] : []),
      ],
      attributes,
      {},
      opset,
    );

  it('nearest as PyTorch exports it (asymmetric, floor): integer and fractional scales, and sizes', async () => {
    const pytorch = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
    await resize([2, 2, 3, 4], pytorch, [1, 1, 2, 2]);
    await resize([1, 2, 4, 5], pytorch, [1, 1, 1.5, 0.5]);
    await resize([1, 2, 3, 3], pytorch, undefined, [1, 2, 7, 5]);
  });

  it('nearest with half_pixel and every nearest_mode, and on the channel axis', async () => {
    for (const nearest_mode of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']) {
      await resize([1, 2, 4, 3], { mode: 'nearest', nearest_mode }, [1, 1, 1.75, 2.5]);
    }
    await resize([1, 3, 2, 2], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric' }, [1, 2, 1, 1]);
  });

  it('linear with half_pixel, pytorch_half_pixel, align_corners and asymmetric, up and down', async () => {
    for (const coordinate_transformation_mode of ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric']) {
      await resize([1, 2, 3, 4], { mode: 'linear', coordinate_transformation_mode }, [1, 1, 2, 1.5]);
      await resize([1, 2, 6, 5], { mode: 'linear', coordinate_transformation_mode }, undefined, [1, 2, 3, 1]);
    }
  });

  it('axes (opset 18), Resize-10 and Upsample-9', async () => {
    await check(
      'Resize',
      [{ name: 'x', shape: [1, 2, 3, 4] }, { name: 'roi', shape: [0], fixed: empty() }, { name: 'scales', shape: [2], fixed: floats([2, 0.5]) }],
      { mode: 'linear', axes: [3, 2] },
      {},
      18,
    );
    await check('Resize', [{ name: 'x', shape: [1, 2, 3, 3] }, { name: 'scales', shape: [4], fixed: floats([1, 1, 2, 3]) }], { mode: 'nearest' }, {}, 10);
    await check('Upsample', [{ name: 'x', shape: [1, 2, 3, 3] }, { name: 'scales', shape: [4], fixed: floats([1, 1, 2, 2]) }], { mode: 'linear' }, {}, 9);
  });

  it('refuses cubic and tf_crop_and_resize, naming the node and the mode', () => {
    const graphWith = (attributes: Record<string, AttributeInput>): Graph =>
      singleOp('Resize', [{ name: 'x', shape: [1, 1, 3, 3] }, { name: 'roi', shape: [0], fixed: empty() }, { name: 'scales', shape: [4], fixed: floats([1, 1, 2, 2]) }], attributes).graph;
    const cubic = catchRazorError(() => buildGradients(graphWith({ mode: 'cubic' }), { loss: 'y', wrt: ['x'] }));
    expect(cubic.code).toBe('RAZOR_UNSUPPORTED_OP');
    expect(cubic.message).toMatch(/node 'resize' \(Resize\).*mode 'cubic'/);
    const crop = catchRazorError(() => buildGradients(graphWith({ mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize' }), { loss: 'y', wrt: ['x'] }));
    expect(crop.message).toMatch(/node 'resize' \(Resize\).*'tf_crop_and_resize'/);
  });
});

describe('Tile and ScatterElements gradients against finite differences', () => {
  it('Tile with repeats on several axes', async () => {
    await check('Tile', [{ name: 'x', shape: [2, 3] }], {}, { repeats: [2, 3] });
    await check('Tile', [{ name: 'x', shape: [2, 1, 3] }], {}, { repeats: [1, 4, 1] });
  });

  it('ScatterElements without reduction and with add: data and updates', async () => {
    const indices = Tensor.int64([0, 2, 1, 3, 0, 1]);
    const shaped = new Tensor('int64', [2, 3], indices.data);
    await check('ScatterElements', [{ name: 'data', shape: [2, 4] }, { name: 'indices', shape: [2, 3], fixed: shaped }, { name: 'updates', shape: [2, 3] }], { axis: 1 });
    const repeated = new Tensor('int64', [2, 3], Tensor.int64([0, 2, 0, 3, 3, 1]).data);
    await check('ScatterElements', [{ name: 'data', shape: [2, 4] }, { name: 'indices', shape: [2, 3], fixed: repeated }, { name: 'updates', shape: [2, 3] }], { axis: 1, reduction: 'add' });
  });

  it('GatherElements with repeated indices', async () => {
    const repeated = new Tensor('int64', [3, 2], Tensor.int64([0, 2, 1, 1, 2, 0]).data);
    await check('GatherElements', [{ name: 'data', shape: [3, 3] }, { name: 'indices', shape: [3, 2], fixed: repeated }], { axis: 0 });
  });
});

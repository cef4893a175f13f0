import { describe, expect, it } from 'vitest';
import { RazorError } from '../../errors.js';
import { attr } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { inferSingleNode, shapeOf } from './__fixtures__/single-node.js';

const f32 = (...shape: (number | string)[]) => ({ dtype: 'float32' as const, shape });

function expectShapeError(run: () => unknown, node: string, fragment: string | RegExp): void {
  try {
    run();
  } catch (error) {
    expect(RazorError.isInstance(error)).toBe(true);
    const razorError = error as RazorError;
    expect(razorError.code).toBe('RAZOR_SHAPE_MISMATCH');
    expect(razorError.message).toContain(`node '${node}'`);
    expect(razorError.message).toMatch(fragment);
    return;
  }
  throw new Error('expected a RazorError');
}

describe('Conv', () => {
  it('computes the ResNet stem: 7x7 stride 2 pad 3', () => {
    const result = inferSingleNode('Conv', [f32('N', 3, 224, 224), f32(64, 3, 7, 7)], { strides: [2, 2], pads: [3, 3, 3, 3] });
    expect(shapeOf(result)).toEqual(['N', 64, 112, 112]);
    expect(result.outputs[0]?.dtype).toBe('float32');
    const stem = inferSingleNode('Conv', [f32(1, 3, 224, 224), f32(64, 3, 7, 7)], { strides: [2, 2], pads: [3, 3, 3, 3] });
    expect(stem.macs()).toBe(64 * 112 * 112 * 3 * 7 * 7);
  });

  it('handles auto_pad SAME_UPPER, SAME_LOWER and VALID', () => {
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER']) {
      expect(shapeOf(inferSingleNode('Conv', [f32(1, 2, 7, 8), f32(4, 2, 3, 3)], { auto_pad: autoPad, strides: [2, 2] }))).toEqual([1, 4, 4, 4]);
    }
    expect(shapeOf(inferSingleNode('Conv', [f32(1, 2, 7, 8), f32(4, 2, 3, 3)], { auto_pad: 'VALID', strides: [2, 2] }))).toEqual([1, 4, 3, 3]);
  });

  it('applies dilations, asymmetric pads, and 1-D and 3-D kernels', () => {
    expect(shapeOf(inferSingleNode('Conv', [f32(1, 2, 10, 10), f32(4, 2, 3, 3)], { dilations: [2, 2] }))).toEqual([1, 4, 6, 6]);
    expect(shapeOf(inferSingleNode('Conv', [f32(1, 2, 10, 10), f32(4, 2, 3, 3)], { pads: [0, 1, 2, 0] }))).toEqual([1, 4, 10, 9]);
    const oneD = inferSingleNode('Conv', [f32(2, 4, 10), f32(8, 4, 3)], {});
    expect(shapeOf(oneD)).toEqual([2, 8, 8]);
    expect(oneD.macs()).toBe(2 * 8 * 8 * 4 * 3);
    expect(shapeOf(inferSingleNode('Conv', [f32(1, 2, 5, 6, 7), f32(4, 2, 3, 3, 3)], { pads: [1, 1, 1, 1, 1, 1] }))).toEqual([1, 4, 5, 6, 7]);
  });

  it('counts depthwise convolutions per group', () => {
    const depthwise = inferSingleNode('Conv', [f32(1, 32, 16, 16), f32(32, 1, 3, 3), f32(32)], { group: 32, pads: [1, 1, 1, 1] });
    expect(shapeOf(depthwise)).toEqual([1, 32, 16, 16]);
    expect(depthwise.macs()).toBe(32 * 16 * 16 * 9);
  });

  it('keeps a symbolic spatial size through a 1x1 conv and names an unknown one otherwise', () => {
    expect(shapeOf(inferSingleNode('Conv', [f32('N', 8, 'H', 'W'), f32(4, 8, 1, 1)], {}))).toEqual(['N', 4, 'H', 'W']);
    const shape = shapeOf(inferSingleNode('Conv', [f32('N', 8, 'H', 'W'), f32(4, 8, 3, 3)], { strides: [2, 2], pads: [1, 1, 1, 1] }))!;
    expect(shape.slice(0, 2)).toEqual(['N', 4]);
    expect(shape[2]).toMatch(/^unk__/);
  });

  it('fails naming the node on a channel mismatch, a bad bias and a window larger than the input', () => {
    expectShapeError(() => inferSingleNode('Conv', [f32(1, 4, 8, 8), f32(8, 3, 3, 3)], {}), 'conv_node', /4 channels .* 3 per group/);
    expectShapeError(() => inferSingleNode('Conv', [f32(1, 3, 8, 8), f32(8, 3, 3, 3), f32(7)], {}), 'conv_node', /bias/);
    expectShapeError(() => inferSingleNode('Conv', [f32(1, 3, 2, 2), f32(8, 3, 3, 3)], {}), 'conv_node', /smaller than the window/);
  });
});

describe('ConvTranspose', () => {
  it('upsamples with strides, pads and output_padding', () => {
    const result = inferSingleNode('ConvTranspose', [f32(1, 4, 5, 5), f32(4, 2, 3, 3)], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
    expect(shapeOf(result)).toEqual([1, 2, 10, 10]);
    expect(result.macs()).toBe(4 * 5 * 5 * 2 * 3 * 3);
  });

  it('multiplies output channels by group and honours output_shape and SAME auto_pad', () => {
    expect(shapeOf(inferSingleNode('ConvTranspose', [f32(1, 4, 5, 5), f32(4, 3, 3, 3)], { group: 2 }))).toEqual([1, 6, 7, 7]);
    expect(shapeOf(inferSingleNode('ConvTranspose', [f32(1, 4, 5, 5), f32(4, 2, 3, 3)], { strides: [2, 2], output_shape: [11, 11] }))).toEqual([1, 2, 11, 11]);
    expect(shapeOf(inferSingleNode('ConvTranspose', [f32(1, 4, 5, 5), f32(4, 2, 3, 3)], { strides: [2, 2], auto_pad: 'SAME_UPPER' }))).toEqual([1, 2, 10, 10]);
  });

  it('fails on weight channels that differ from the input', () => {
    expectShapeError(() => inferSingleNode('ConvTranspose', [f32(1, 4, 5, 5), f32(3, 2, 3, 3)], {}), 'convtranspose_node', /4 channels/);
  });
});

describe('BatchNormalization', () => {
  const statistics = [f32(16), f32(16), f32(16), f32(16)];

  it('has one output in inference mode', () => {
    const result = inferSingleNode('BatchNormalization', [f32('N', 16, 8, 8), ...statistics], {}, { opset: 15 });
    expect(shapeOf(result)).toEqual(['N', 16, 8, 8]);
  });

  it('writes running statistics in training mode (opset 14) and saved statistics at opset 9', () => {
    const training = inferSingleNode('BatchNormalization', [f32(2, 16, 8, 8), ...statistics], { training_mode: 1 }, { opset: 14, outputs: 3 });
    expect(training.outputs.map((type) => type?.shape)).toEqual([[2, 16, 8, 8], [16], [16]]);
    const old = inferSingleNode('BatchNormalization', [f32(2, 16, 8, 8), ...statistics], {}, { opset: 9, outputs: 5 });
    expect(old.outputs.map((type) => type?.shape)).toEqual([[2, 16, 8, 8], [16], [16], [16], [16]]);
  });

  it('gives the running statistics their own precision from opset 15', () => {
    const half = (...shape: number[]) => ({ dtype: 'float16' as const, shape });
    const result = inferSingleNode('BatchNormalization', [half(2, 4, 3), half(4), half(4), f32(4), f32(4)], { training_mode: 1 }, { opset: 15, outputs: 3 });
    expect(result.outputs.map((type) => type?.dtype)).toEqual(['float16', 'float32', 'float32']);
    expectShapeError(
      () => inferSingleNode('BatchNormalization', [half(2, 4, 3), half(4), half(4), f32(4), f32(4)], {}, { opset: 14 }),
      'batchnormalization_node',
      /element type/,
    );
  });

  it('fails on statistics of the wrong size and on training outputs without training_mode', () => {
    expectShapeError(
      () => inferSingleNode('BatchNormalization', [f32(1, 16, 4, 4), f32(16), f32(16), f32(8), f32(16)], {}),
      'batchnormalization_node',
      /input_mean \(input 3\) has 8 elements but input X has 16 channels/,
    );
    expectShapeError(
      () => inferSingleNode('BatchNormalization', [f32(1, 16, 4, 4), ...statistics], {}, { opset: 15, outputs: 3 }),
      'batchnormalization_node',
      /training_mode/,
    );
  });
});

describe('MatMul and Gemm', () => {
  it('broadcasts batch dims and promotes 1-D operands', () => {
    const batched = inferSingleNode('MatMul', [f32('B', 3, 4), f32(4, 5)]);
    expect(shapeOf(batched)).toEqual(['B', 3, 5]);
    expect(shapeOf(inferSingleNode('MatMul', [f32(2, 1, 3, 4), f32(5, 4, 6)]))).toEqual([2, 5, 3, 6]);
    expect(shapeOf(inferSingleNode('MatMul', [f32(4), f32(4, 5)]))).toEqual([5]);
    expect(shapeOf(inferSingleNode('MatMul', [f32(3, 4), f32(4)]))).toEqual([3]);
    expect(shapeOf(inferSingleNode('MatMul', [f32(4), f32(4)]))).toEqual([]);
    expect(inferSingleNode('MatMul', [f32(2, 3, 4), f32(4, 5)]).macs()).toBe(2 * 3 * 5 * 4);
  });

  it('fails on unequal inner dims', () => {
    expectShapeError(() => inferSingleNode('MatMul', [f32(3, 4), f32(5, 6)]), 'matmul_node', /last dim 4 must equal/);
    expectShapeError(() => inferSingleNode('MatMul', [f32(2, 3, 4), f32(3, 4, 6)]), 'matmul_node', /broadcast/);
  });

  it('handles Gemm transposes, C broadcasting and MACs', () => {
    const gemm = inferSingleNode('Gemm', [f32('N', 512), f32(1000, 512), f32(1000)], { transB: 1 });
    expect(shapeOf(gemm)).toEqual(['N', 1000]);
    const fixed = inferSingleNode('Gemm', [f32(4, 3), f32(4, 5), f32(3, 1)], { transA: 1 });
    expect(shapeOf(fixed)).toEqual([3, 5]);
    expect(fixed.macs()).toBe(3 * 5 * 4);
    expectShapeError(() => inferSingleNode('Gemm', [f32(3, 4), f32(4, 5), f32(4)], {}), 'gemm_node', /C \(input 2\)/);
    expectShapeError(() => inferSingleNode('Gemm', [f32(3, 4), f32(5, 4)], {}), 'gemm_node', /inner dim 4 but B has 5/);
  });
});

describe('pooling', () => {
  it('computes MaxPool with its Indices output and counts window MACs', () => {
    const result = inferSingleNode('MaxPool', [f32(1, 64, 112, 112)], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { outputs: 2 });
    expect(shapeOf(result)).toEqual([1, 64, 56, 56]);
    expect(result.outputs[1]).toEqual({ dtype: 'int64', shape: [1, 64, 56, 56] });
    expect(result.macs()).toBe(64 * 56 * 56 * 9);
  });

  it('rounds up with ceil_mode but drops a window that starts in the end padding', () => {
    expect(shapeOf(inferSingleNode('MaxPool', [f32(1, 1, 6, 6)], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }))).toEqual([1, 1, 3, 3]);
    expect(shapeOf(inferSingleNode('MaxPool', [f32(1, 1, 6, 6)], { kernel_shape: [3, 3], strides: [2, 2] }))).toEqual([1, 1, 2, 2]);
    // torch.nn.MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5x5 gives 3x3, not 4x4.
    expect(shapeOf(inferSingleNode('MaxPool', [f32(1, 1, 5, 5)], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }))).toEqual([1, 1, 3, 3]);
    expect(
      shapeOf(inferSingleNode('AveragePool', [f32(1, 1, 7, 7)], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1, count_include_pad: 1 })),
    ).toEqual([1, 1, 4, 4]);
  });

  it('applies dilations and auto_pad to pooling', () => {
    expect(shapeOf(inferSingleNode('MaxPool', [f32(1, 1, 10, 10)], { kernel_shape: [3, 3], dilations: [2, 2] }))).toEqual([1, 1, 6, 6]);
    expect(shapeOf(inferSingleNode('AveragePool', [f32(1, 1, 7, 7)], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }))).toEqual([1, 1, 4, 4]);
    expectShapeError(() => inferSingleNode('MaxPool', [f32(1, 1, 7, 7)], { kernel_shape: [2, 2], pads: [2, 2, 2, 2] }), 'maxpool_node', /smaller than the kernel/);
  });

  it('reduces every spatial axis in global pooling', () => {
    const result = inferSingleNode('GlobalAveragePool', [f32('N', 512, 7, 7)]);
    expect(shapeOf(result)).toEqual(['N', 512, 1, 1]);
    expect(shapeOf(inferSingleNode('GlobalMaxPool', [f32(2, 3, 4, 5, 6)]))).toEqual([2, 3, 1, 1, 1]);
    expect(inferSingleNode('GlobalAveragePool', [f32(1, 512, 7, 7)]).macs()).toBe(512 * 49);
  });
});

describe('Softmax and reductions', () => {
  it('checks the softmax axis against its opset default', () => {
    expect(shapeOf(inferSingleNode('Softmax', [f32('N', 10)], {}, { opset: 11 }))).toEqual(['N', 10]);
    expect(shapeOf(inferSingleNode('LogSoftmax', [f32(2, 3, 4)], {}, { opset: 13 }))).toEqual([2, 3, 4]);
    expectShapeError(() => inferSingleNode('Softmax', [f32(2, 3)], { axis: 3 }, { opset: 13 }), 'softmax_node', /axis 3 is out of range/);
  });

  it('reads axes from the attribute before opset 18 (ReduceSum: 13) and from input 1 since', () => {
    expect(shapeOf(inferSingleNode('ReduceMean', [f32('N', 8, 4, 4)], { axes: [2, 3], keepdims: 0 }, { opset: 13 }))).toEqual(['N', 8]);
    expect(shapeOf(inferSingleNode('ReduceMean', [f32('N', 8, 4, 4), Tensor.int64([-1])], {}, { opset: 18 }))).toEqual(['N', 8, 4, 1]);
    expect(shapeOf(inferSingleNode('ReduceSum', [f32(2, 3, 4), Tensor.int64([1])], { keepdims: 0 }, { opset: 13 }))).toEqual([2, 4]);
    expect(shapeOf(inferSingleNode('ReduceSum', [f32(2, 3, 4)], { axes: [1] }, { opset: 11 }))).toEqual([2, 1, 4]);
    expect(shapeOf(inferSingleNode('ReduceMax', [f32(2, 3, 4)], { axes: [0, 2], keepdims: 0 }, { opset: 17 }))).toEqual([3]);
    expect(inferSingleNode('ReduceMean', [f32(2, 3, 4)], { axes: [2] }, { opset: 13 }).macs()).toBe(24);
  });

  it('reduces everything without axes unless noop_with_empty_axes', () => {
    expect(shapeOf(inferSingleNode('ReduceSum', [f32(2, 3, 4)], {}, { opset: 13 }))).toEqual([1, 1, 1]);
    expect(shapeOf(inferSingleNode('ReduceSum', [f32(2, 3, 4)], { keepdims: 0 }, { opset: 13 }))).toEqual([]);
    expect(shapeOf(inferSingleNode('ReduceSum', [f32(2, 3, 4)], { noop_with_empty_axes: 1 }, { opset: 13 }))).toEqual([2, 3, 4]);
  });

  it('keeps the rank for run-time axes with keepdims, and fails on misplaced or duplicate axes', () => {
    const runtimeAxes = inferSingleNode('ReduceMean', [f32(2, 3, 4), { dtype: 'int64', shape: [1] }], {}, { opset: 18 });
    expect(shapeOf(runtimeAxes)).toHaveLength(3);
    const dropped = inferSingleNode('ReduceMean', [f32(2, 3, 4), { dtype: 'int64', shape: [2] }], { keepdims: 0 }, { opset: 18 });
    expect(shapeOf(dropped)).toHaveLength(1);
    expectShapeError(() => inferSingleNode('ReduceMean', [f32(2, 3, 4)], { axes: [1] }, { opset: 18 }), 'reducemean_node', /axes as input 1 since opset 18/);
    expectShapeError(() => inferSingleNode('ReduceMean', [f32(2, 3, 4)], { axes: [1, -2] }, { opset: 13 }), 'reducemean_node', /twice/);
  });
});

describe('LayerNormalization', () => {
  it('gives Mean and InvStdDev the leading dims and stash_type precision', () => {
    const half = (...shape: (number | string)[]) => ({ dtype: 'float16' as const, shape });
    const result = inferSingleNode('LayerNormalization', [half('N', 5, 8), half(8), half(8)], {}, { outputs: 3 });
    expect(result.outputs).toEqual([
      { dtype: 'float16', shape: ['N', 5, 8] },
      { dtype: 'float32', shape: ['N', 5, 1] },
      { dtype: 'float32', shape: ['N', 5, 1] },
    ]);
    const wide = inferSingleNode('LayerNormalization', [f32(2, 5, 8), f32(5, 8)], { axis: 1 }, { outputs: 2 });
    expect(wide.outputs[1]?.shape).toEqual([2, 1, 1]);
    expectShapeError(() => inferSingleNode('LayerNormalization', [f32(2, 5, 8), f32(6)], {}), 'layernormalization_node', /Scale/);
  });
});

describe('SoftmaxCrossEntropyLoss', () => {
  const labels = (...shape: (number | string)[]) => ({ dtype: 'int64' as const, shape });

  it('returns per-element losses with reduction none and a scalar otherwise', () => {
    expect(shapeOf(inferSingleNode('SoftmaxCrossEntropyLoss', [f32('N', 5, 3), labels('N', 3)], { reduction: 'none' }))).toEqual(['N', 3]);
    const mean = inferSingleNode('SoftmaxCrossEntropyLoss', [f32('N', 5), labels('N'), f32(5)], { ignore_index: -1 }, { outputs: 2 });
    expect(mean.outputs).toEqual([
      { dtype: 'float32', shape: [] },
      { dtype: 'float32', shape: ['N', 5] },
    ]);
    expect(shapeOf(inferSingleNode('SoftmaxCrossEntropyLoss', [f32(4, 5), labels(4)], { reduction: 'sum' }))).toEqual([]);
  });

  it('fails on labels that do not fit the scores, and on float labels', () => {
    expectShapeError(() => inferSingleNode('SoftmaxCrossEntropyLoss', [f32(4, 5, 3), labels(4, 2)], {}), 'softmaxcrossentropyloss_node', /labels dimension 1/);
    expectShapeError(() => inferSingleNode('SoftmaxCrossEntropyLoss', [f32(4, 5), f32(4)], {}), 'softmaxcrossentropyloss_node', /int32 or int64/);
    expectShapeError(
      () => inferSingleNode('SoftmaxCrossEntropyLoss', [f32(4, 5), labels(4)], { reduction: attr.string('average') }),
      'softmaxcrossentropyloss_node',
      /reduction 'average'/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { Tensor } from '../../ir/tensor.js';
import { inferShapes } from '../../passes/infer-shapes.js';
import { inferSingleNode } from './__fixtures__/single-node.js';

const f32 = (...shape: (number | string)[]) => ({ dtype: 'float32' as const, shape });

describe('QuantizeLinear', () => {
  it('takes the zero point type, uint8 without one', () => {
    const perChannel = inferSingleNode('QuantizeLinear', [f32('N', 3, 4, 4), f32(3), { dtype: 'int8', shape: [3] }], { axis: 1 }, { opset: 13 });
    expect(perChannel.outputs[0]).toEqual({ dtype: 'int8', shape: ['N', 3, 4, 4] });
    expect(inferSingleNode('QuantizeLinear', [f32(2, 5), f32()], {}, { opset: 13 }).outputs[0]).toEqual({ dtype: 'uint8', shape: [2, 5] });
  });

  it('fails on a per-axis scale of the wrong length or before opset 13', () => {
    expect(() => inferSingleNode('QuantizeLinear', [f32(1, 3, 4), f32(4), { dtype: 'int8', shape: [4] }], {}, { opset: 13 })).toThrow(
      /node 'quantizelinear_node'.*4 elements but x has 3 along axis 1/,
    );
    expect(() => inferSingleNode('QuantizeLinear', [f32(1, 3, 4), f32(3)], {}, { opset: 11 })).toThrow(/opset 13/);
    expect(() => inferSingleNode('QuantizeLinear', [f32(1, 3), f32(3), { dtype: 'int8', shape: [1] }], {}, { opset: 13 })).toThrow(/must match/);
  });

  it('folds with round-half-to-even and saturation, per axis', () => {
    const x = Tensor.float32([2, 3], [0.25, 0.75, -100, 1, 2, 300]);
    const result = inferSingleNode('QuantizeLinear', [x, Tensor.float32([2], [0.5, 1]), Tensor.from('int8', [2], [0, 10])], { axis: 0 }, { opset: 13 });
    const value = inferShapes(result.graph).constants.get('out0')!;
    expect(value.dtype).toBe('int8');
    expect(value.toNumbers()).toEqual([0, 2, -128, 11, 12, 127]);
  });
});

describe('DequantizeLinear', () => {
  it('takes the scale type and accepts int8, uint8 and int32 inputs', () => {
    expect(inferSingleNode('DequantizeLinear', [{ dtype: 'uint8', shape: [2, 3] }, f32(), { dtype: 'uint8', shape: [] }], {}, { opset: 13 }).outputs[0]).toEqual({
      dtype: 'float32',
      shape: [2, 3],
    });
    expect(inferSingleNode('DequantizeLinear', [{ dtype: 'int32', shape: [16] }, f32(16)], { axis: 0 }, { opset: 13 }).outputs[0]?.dtype).toBe('float32');
    expect(() => inferSingleNode('DequantizeLinear', [f32(2), f32()], {}, { opset: 13 })).toThrow(/node 'dequantizelinear_node'.*int8, uint8/);
    expect(() => inferSingleNode('DequantizeLinear', [{ dtype: 'int8', shape: [2] }, f32(), { dtype: 'uint8', shape: [] }], {}, { opset: 13 })).toThrow(/must match/);
    expect(() =>
      inferSingleNode('DequantizeLinear', [{ dtype: 'int32', shape: [2] }, f32(), Tensor.from('int32', [], [3])], {}, { opset: 13 }),
    ).toThrow(/zero point of 0/);
  });

  it('folds per channel', () => {
    const x = Tensor.from('int8', [2, 2], [-4, 6, 10, 12]);
    const result = inferSingleNode('DequantizeLinear', [x, Tensor.float32([2], [0.5, 2]), Tensor.from('int8', [2], [0, 10])], { axis: 0 }, { opset: 13 });
    expect(inferShapes(result.graph).constants.get('out0')!.toNumbers()).toEqual([-2, 3, 0, 4]);
  });
});

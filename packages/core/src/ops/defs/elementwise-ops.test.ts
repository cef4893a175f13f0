import { describe, expect, it } from 'vitest';
import { RazorError } from '../../errors.js';
import { attr, type Dim, type Node } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { defaultRegistry } from '../builtin.js';
import type { InferenceContext } from '../registry.js';
import { inferShapes } from '../../passes/infer-shapes.js';
import { inferSingleNode, shapeOf } from './__fixtures__/single-node.js';

const f32 = (...shape: (number | string)[]) => ({ dtype: 'float32' as const, shape });

function folded(opType: string, inputs: Tensor[], attributes = {}, opset = 17): Tensor {
  const result = inferSingleNode(opType, inputs, attributes, { opset });
  const value = inferShapes(result.graph).constants.get('out0');
  if (!value) throw new Error(`${opType} was not folded`);
  return value;
}

describe('multidirectional broadcasting', () => {
  it('broadcasts 1s, keeps equal symbols and lets a static size win over a symbol', () => {
    expect(shapeOf(inferSingleNode('Add', [f32('N', 3, 1), f32(1, 4)]))).toEqual(['N', 3, 4]);
    expect(shapeOf(inferSingleNode('Mul', [f32('N', 3), f32('N', 1)]))).toEqual(['N', 3]);
    expect(shapeOf(inferSingleNode('Sub', [f32('N', 3), f32(5, 3)]))).toEqual([5, 3]);
    expect(shapeOf(inferSingleNode('Div', [f32(), f32(2, 3)]))).toEqual([2, 3]);
    const different = shapeOf(inferSingleNode('Add', [f32('N', 3), f32('M', 3)]))!;
    expect(different[0]).toMatch(/^unk__/);
  });

  it('fails naming the node on unequal static sizes and mixed element types', () => {
    const attempt = (): unknown => inferSingleNode('Add', [f32(2, 3), f32(4)]);
    expect(attempt).toThrow(RazorError);
    expect(attempt).toThrow(/node 'add_node' \(Add\): shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => inferSingleNode('Mul', [f32(2), { dtype: 'int64', shape: [2] }])).toThrow(/node 'mul_node'.*Cast/);
  });

  it('gives comparisons bool outputs and Where the branches type', () => {
    expect(inferSingleNode('Equal', [f32('N', 4), f32(4)]).outputs[0]).toEqual({ dtype: 'bool', shape: ['N', 4] });
    expect(inferSingleNode('Greater', [f32(3, 1), f32(1, 2)]).outputs[0]).toEqual({ dtype: 'bool', shape: [3, 2] });
    expect(inferSingleNode('Less', [f32(3), f32(3)]).outputs[0]?.dtype).toBe('bool');
    const where = inferSingleNode('Where', [{ dtype: 'bool', shape: [3, 1] }, f32(1, 4), f32(3, 4)]);
    expect(where.outputs[0]).toEqual({ dtype: 'float32', shape: [3, 4] });
    expect(() => inferSingleNode('Where', [f32(3), f32(3), f32(3)])).toThrow(/node 'where_node'.*must be bool/);
    expect(() => inferSingleNode('And', [f32(3), f32(3)])).toThrow(/takes bool/);
    expect(inferSingleNode('Not', [{ dtype: 'bool', shape: [2] }]).outputs[0]?.dtype).toBe('bool');
  });

  it('broadcasts variadic Sum, Mean, Min and Max', () => {
    expect(shapeOf(inferSingleNode('Sum', [f32(3, 1), f32(1, 4), f32(4)]))).toEqual([3, 4]);
    expect(folded('Max', [Tensor.float32([3], [1, 5, 2]), Tensor.float32([1], [3])]).toNumbers()).toEqual([3, 5, 3]);
    expect(folded('Mean', [Tensor.float32([2], [1, 2]), Tensor.float32([2], [3, 6])]).toNumbers()).toEqual([2, 4]);
  });
});

describe('activations', () => {
  it('keep the input type', () => {
    for (const opType of ['Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Erf', 'Sqrt', 'Exp', 'Log', 'Neg', 'Abs', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign']) {
      expect(inferSingleNode(opType, [f32('N', 3)]).outputs[0]).toEqual({ dtype: 'float32', shape: ['N', 3] });
    }
  });

  it('broadcast the PRelu slope unidirectionally', () => {
    expect(shapeOf(inferSingleNode('PRelu', [f32('N', 3, 4, 4), f32(3, 1, 1)]))).toEqual(['N', 3, 4, 4]);
    expect(() => inferSingleNode('PRelu', [f32('N', 3, 4, 4), f32(3)])).toThrow(/node 'prelu_node'.*slope/);
    expect(folded('PRelu', [Tensor.float32([2, 2], [-1, 2, -3, 4]), Tensor.float32([2, 1], [0.5, 0.25])]).toNumbers()).toEqual([-0.5, 2, -0.75, 4]);
  });

  it('read Clip bounds from attributes before opset 11 and from inputs since', () => {
    const values = Tensor.float32([4], [-8, -1, 3, 9]);
    expect(folded('Clip', [values], { min: attr.float(-2), max: attr.float(6) }, 6).toNumbers()).toEqual([-2, -1, 3, 6]);
    expect(folded('Clip', [values, Tensor.scalar('float32', 0), Tensor.scalar('float32', 6)], {}, 11).toNumbers()).toEqual([0, 0, 3, 6]);
    expect(() => inferSingleNode('Clip', [f32(4), f32(2), f32()], {}, { opset: 13 })).toThrow(/node 'clip_node'.*scalar/);
  });

  it('fold with the ONNX formulas', () => {
    const input = Tensor.float32([4], [-4, -1, 0.5, 4]);
    const hardSwish = folded('HardSwish', [input]).toNumbers();
    [0, -1 / 3, 0.5 * (0.5 / 6 + 0.5), 4].forEach((expected, index) => expect(hardSwish[index]).toBeCloseTo(expected, 6));
    const hardSigmoid = folded('HardSigmoid', [input], { alpha: 0.5, beta: 0.25 }).toNumbers();
    expect(hardSigmoid).toEqual([0, 0, 0.5, 1]);
    expect(folded('LeakyRelu', [input], { alpha: 0.5 }).toNumbers()).toEqual([-2, -0.5, 0.5, 4]);
    expect(folded('Round', [Tensor.float32([5], [0.5, 1.5, 2.5, -2.5, -1.7])]).toNumbers()).toEqual([0, 2, 2, -2, -2]);
  });
});

describe('constant folding of shape arithmetic', () => {
  it('computes int64 arithmetic with truncating division and bool comparisons', () => {
    expect(folded('Div', [Tensor.int64([-7, 7, 9]), Tensor.int64([2])]).toNumbers()).toEqual([-3, 3, 4]);
    expect(folded('Mul', [Tensor.int64([2, 3]), Tensor.int64([4, 5])]).data).toEqual(new BigInt64Array([8n, 15n]));
    const equal = folded('Equal', [Tensor.int64([1, -1, 3]), Tensor.int64([-1])]);
    expect(equal.dtype).toBe('bool');
    expect(equal.toNumbers()).toEqual([0, 1, 0]);
    const where = folded('Where', [equal, Tensor.int64([7, 7, 7]), Tensor.int64([1, 2, 3])]);
    expect(where.toNumbers()).toEqual([1, 7, 3]);
  });

  it('propagates symbolic dims through Mul, Add, Sub and Div', () => {
    const symbolic = (opType: string, left: Dim[], right: Dim[]): Dim[] | undefined => {
      const node: Node = { name: 'n', opType, domain: '', inputs: ['a', 'b'], outputs: ['c'], attributes: new Map() };
      const values = [left, right];
      const context: InferenceContext = {
        node,
        opset: 17,
        inputCount: 2,
        hasInput: () => true,
        inputType: (index) => ({ dtype: 'int64', shape: [values[index]!.length] }),
        requireInput: (index) => ({ dtype: 'int64', shape: [values[index]!.length] }),
        constant: () => undefined,
        symbolicValue: (index) => values[index],
        freshDim: () => 'fresh',
        fail: (message) => {
          throw new Error(message);
        },
      };
      return defaultRegistry.find(opType)!.infer(context).symbolic?.[0];
    };
    expect(symbolic('Mul', ['N', 3], [1, 4])).toEqual(['N', 12]);
    expect(symbolic('Mul', ['N', 3], [2])).toEqual([null, 6]);
    expect(symbolic('Add', ['N'], [0])).toEqual(['N']);
    expect(symbolic('Sub', ['N', 5], ['N', 2])).toEqual([0, 3]);
    expect(symbolic('Div', ['N', 12], [1, 4])).toEqual(['N', 3]);
  });
});

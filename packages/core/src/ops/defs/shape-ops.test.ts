import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, fail } from '../../errors.js';
import type { DType } from '../../ir/dtype.js';
import { Graph, attr, type AttributeInput, type Dim, type TensorType } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { inferShapes } from '../../passes/infer-shapes.js';
import { OpRegistry } from '../registry.js';
import { castTensor, shapeOps, sliceRange } from './shape-ops.js';
import { catchRazorError as shapeFailure } from '../../testing/razor-errors.js';

const registry = new OpRegistry(shapeOps);

interface EncodedTensor {
  dtype: string;
  shape: number[];
  values: (number | string | boolean)[];
}
interface ReferenceCase {
  name: string;
  op: string;
  opset: number;
  attributes: Record<string, number | number[]>;
  inputs: (EncodedTensor | null)[];
  expected: EncodedTensor[];
  outputs?: number;
}

const numpyDTypes: Record<string, DType> = {
  float32: 'float32',
  float16: 'float16',
  float64: 'float64',
  int32: 'int32',
  int64: 'int64',
  bool: 'bool',
};

function decode(encoded: EncodedTensor): Tensor {
  const dtype = numpyDTypes[encoded.dtype] ?? fail(ErrorCodes.INVALID_ARGUMENT, `no dtype for ${encoded.dtype}`);
  const values = encoded.values.map((value) => (typeof value === 'string' ? BigInt(value) : typeof value === 'boolean' ? Number(value) : value));
  return Tensor.from(dtype, encoded.shape, values);
}

function toAttributes(attributes: Record<string, number | number[]>, op: string): Record<string, AttributeInput> {
  const result: Record<string, AttributeInput> = {};
  for (const [name, value] of Object.entries(attributes)) {
    // Pad's 'value' is a float attribute even when integral.
    result[name] = op === 'Pad' && name === 'value' && typeof value === 'number' ? attr.float(value) : value;
  }
  return result;
}

/** The exact values of a tensor, int64 as strings so extremes compare exactly. */
function exactValues(tensor: Tensor): (number | string)[] {
  return Array.from(tensor.data as ArrayLike<number | bigint>, (value, index) => (typeof value === 'bigint' ? String(value) : tensor.numberAt(index)));
}

const reference = JSON.parse(readFileSync(new URL('./__fixtures__/shape-ops-reference.json', import.meta.url), 'utf8')) as { cases: ReferenceCase[] };

describe('shape op kernels against numpy', () => {
  for (const testCase of reference.cases) {
    it(`${testCase.op}: ${testCase.name}`, () => {
      const inputs = testCase.inputs.map((input) => (input === null ? undefined : decode(input)));
      const expected = testCase.expected.map(decode);
      const outputs = Array.from({ length: testCase.outputs ?? 1 }, (_, index) => `out${index}`);

      // Kernel: every input constant, so inference evaluates the node.
      const constantGraph = new Graph();
      constantGraph.opsetImports.set('', testCase.opset);
      const names = inputs.map((input, index) => {
        if (!input) return '';
        constantGraph.initializers.set(`in${index}`, input);
        return `in${index}`;
      });
      constantGraph.addNode({ opType: testCase.op, inputs: names, outputs, attributes: toAttributes(testCase.attributes, testCase.op), name: 'node' });
      const { constants } = inferShapes(constantGraph, { registry });
      expected.forEach((tensor, index) => {
        const actual = constants.get(outputs[index]!);
        expect(actual, `output ${index}`).toBeDefined();
        expect(actual!.dtype).toBe(tensor.dtype);
        expect(actual!.shape).toEqual(tensor.shape);
        if (tensor.dtype === 'float16' || tensor.dtype === 'float32') {
          const values = actual!.toNumbers();
          tensor.toNumbers().forEach((value, position) => expect(values[position]).toBeCloseTo(value, 6));
        } else expect(exactValues(actual!)).toEqual(exactValues(tensor));
      });

      // Rule: the data input is a graph input with only its type known (data-dependent NonZero excepted).
      if (testCase.op === 'NonZero' || testCase.op === 'Range') return;
      const typedGraph = constantGraph.clone();
      typedGraph.initializers.delete('in0');
      typedGraph.inputs = [{ name: 'in0', type: { dtype: inputs[0]!.dtype, shape: inputs[0]!.shape } }];
      if (testCase.op === 'Concat') {
        typedGraph.initializers.delete('in1');
        typedGraph.inputs.push({ name: 'in1', type: { dtype: inputs[1]!.dtype, shape: inputs[1]!.shape } });
      }
      inferShapes(typedGraph, { registry });
      expected.forEach((tensor, index) => expect(typedGraph.typeOf(outputs[index]!)).toEqual({ dtype: tensor.dtype, shape: tensor.shape }));
    });
  }
});

/** Infers one node whose inputs are typed graph inputs (`{ dtype, shape }`), constants (Tensor) or omitted (''). */
function infer(
  opType: string,
  inputs: readonly ({ dtype: DType; shape?: Dim[] } | Tensor | '')[],
  attributes: Record<string, AttributeInput> = {},
  options: { opset?: number; outputs?: number } = {},
): { types: (TensorType | undefined)[]; graph: Graph; symbolic: Map<string, Dim[]>; constants: Map<string, Tensor> } {
  const graph = new Graph();
  graph.opsetImports.set('', options.opset ?? 17);
  const names = inputs.map((input, index) => {
    if (input === '') return '';
    if (input instanceof Tensor) graph.initializers.set(`in${index}`, input);
    else graph.inputs.push({ name: `in${index}`, type: { dtype: input.dtype, ...(input.shape ? { shape: input.shape } : {}) } });
    return `in${index}`;
  });
  const outputs = Array.from({ length: options.outputs ?? 1 }, (_, index) => `out${index}`);
  graph.addNode({ opType, inputs: names, outputs, attributes, name: 'the_node' });
  const result = inferShapes(graph, { registry });
  return { types: outputs.map((output) => graph.typeOf(output)), graph, symbolic: result.symbolicValues, constants: result.constants };
}

const f32 = (...shape: Dim[]): { dtype: DType; shape: Dim[] } => ({ dtype: 'float32', shape });
const i64 = (...shape: Dim[]): { dtype: DType; shape: Dim[] } => ({ dtype: 'int64', shape });

describe('shape op rules', () => {
  it('Reshape: 0 copies, -1 divides out symbols, allowzero keeps a literal 0, mismatches name the node', () => {
    expect(infer('Reshape', [f32('N', 3, 4), Tensor.int64([0, -1])]).types[0]?.shape).toEqual(['N', 12]);
    expect(infer('Reshape', [f32('N', 3, 4), Tensor.int64([-1, 4])]).types[0]?.shape?.[0]).toMatch(/^unk__/);
    expect(infer('Reshape', [f32('N', 3, 4), Tensor.int64([3, -1, 2])]).types[0]?.shape).toEqual([3, 'unk__0', 2]);
    expect(infer('Reshape', [f32(0, 4), Tensor.int64([2, 0])], { allowzero: 1 }).types[0]?.shape).toEqual([2, 0]);
    expect(() => infer('Reshape', [f32(0, 4), Tensor.int64([0, -1])], { allowzero: 1 })).toThrow(/both 0 and -1/);
    expect(infer('Reshape', [f32(2, 6), Tensor.int64([0, 3, 2])], { allowzero: 0 }).types[0]?.shape).toEqual([2, 3, 2]);
    expect(infer('Reshape', [f32(2, 6), i64(3)]).types[0]?.shape).toEqual(['unk__0', 'unk__1', 'unk__2']);
    const error = shapeFailure(() => infer('Reshape', [f32(2, 6), Tensor.int64([5, -1])]));
    expect(error.code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(error.message).toContain("node 'the_node' (Reshape)");
    expect(() => infer('Reshape', [f32(2, 6), Tensor.int64([-1, -1])])).toThrow(/more than one -1/);
  });

  it('Transpose, Flatten and Expand keep symbolic dims', () => {
    expect(infer('Transpose', [f32('N', 3, 'H')], { perm: [2, 0, 1] }).types[0]?.shape).toEqual(['H', 'N', 3]);
    expect(() => infer('Transpose', [f32(1, 2)], { perm: [0, 0] })).toThrow(/not a permutation/);
    expect(infer('Flatten', [f32('N', 3, 4)]).types[0]?.shape).toEqual(['N', 12]);
    expect(infer('Flatten', [f32(2, 'C', 4)], { axis: 2 }).types[0]?.shape?.[0]).toMatch(/^unk__/);
    expect(infer('Expand', [f32('N', 1), Tensor.int64([1, 5])]).types[0]?.shape).toEqual(['N', 5]);
    expect(infer('Expand', [f32(3, 1), Tensor.int64([2, 1, 1])]).types[0]?.shape).toEqual([2, 3, 1]);
    expect(() => infer('Expand', [f32(3, 2), Tensor.int64([4, 2])])).toThrow(/do not broadcast/);
  });

  it('Concat: sums static sizes, unifies other axes, propagates symbolic shape values', () => {
    expect(infer('Concat', [f32('N', 2), f32('N', 3)], { axis: 1 }).types[0]?.shape).toEqual(['N', 5]);
    expect(infer('Concat', [f32('N', 2), f32(4, 2)], { axis: -1 }).types[0]?.shape).toEqual([4, 4]);
    expect(infer('Concat', [f32('N', 2), f32('M', 2)], { axis: 0 }).types[0]?.shape).toEqual(['unk__0', 2]);
    expect(() => infer('Concat', [f32(2, 2), f32(3, 2)], { axis: 1 })).toThrow(/differ outside axis 1: dimension 2 does not match 3/);
    expect(() => infer('Concat', [f32(2, 2), f32(2)], { axis: 0 })).toThrow(/different ranks/);
  });

  it('Split: equal, explicit, num_outputs, and symbolic axes', () => {
    expect(infer('Split', [f32('N', 6)], { axis: 1 }, { outputs: 3 }).types.map((type) => type?.shape)).toEqual([
      ['N', 2],
      ['N', 2],
      ['N', 2],
    ]);
    expect(infer('Split', [f32('N', 6), Tensor.int64([1, 5])], { axis: 1 }, { outputs: 2, opset: 13 }).types.map((type) => type?.shape)).toEqual([
      ['N', 1],
      ['N', 5],
    ]);
    expect(infer('Split', [f32(7)], { num_outputs: 4 }, { outputs: 4, opset: 18 }).types.map((type) => type?.shape)).toEqual([[2], [2], [2], [1]]);
    expect(() => infer('Split', [f32(7)], {}, { outputs: 2 })).toThrow(/does not split evenly/);
    expect(() => infer('Split', [f32(6), Tensor.int64([1, 2])], {}, { outputs: 2, opset: 13 })).toThrow(/does not add up/);
  });

  it('Slice: static clamping, symbolic dims and symbolic shape values', () => {
    expect(sliceRange(0, 2 ** 63, 1, 5)).toEqual({ first: 0, length: 5 });
    expect(sliceRange(-1, -(2 ** 63), -1, 5)).toEqual({ first: 4, length: 5 });
    expect(sliceRange(4, 1, -2, 5)).toEqual({ first: 4, length: 2 });
    expect(infer('Slice', [f32('N', 10), Tensor.int64([2]), Tensor.int64([-2]), Tensor.int64([1])]).types[0]?.shape).toEqual(['N', 6]);
    expect(infer('Slice', [f32('N', 10), Tensor.int64([0]), Tensor.from('int64', [1], [9223372036854775807n]), Tensor.int64([0])]).types[0]?.shape).toEqual(['N', 10]);
    expect(infer('Slice', [f32('N', 10), Tensor.int64([1]), Tensor.int64([3]), Tensor.int64([0])]).types[0]?.shape).toEqual(['unk__0', 10]);
    // Unknown bounds on a known axis: only that axis becomes unknown.
    expect(infer('Slice', [f32(4, 10), i64(1), i64(1), Tensor.int64([1])]).types[0]?.shape).toEqual([4, 'unk__0']);
    expect(() => infer('Slice', [f32(4), Tensor.int64([0]), Tensor.int64([2]), Tensor.int64([0]), Tensor.int64([0])])).toThrow(/steps cannot be 0/);

    // Shape(x)[1:] of x: [N, 3, H] is [3, 'H'].
    const graph = new Graph();
    graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: ['N', 3, 'H'] } }];
    graph.initializers.set('one', Tensor.int64([1]));
    graph.initializers.set('end', Tensor.int64([100]));
    graph.addNode({ opType: 'Shape', inputs: ['x'], outputs: ['shape'] });
    graph.addNode({ opType: 'Slice', inputs: ['shape', 'one', 'end'], outputs: ['tail'] });
    graph.addNode({ opType: 'ConstantOfShape', inputs: ['tail'], outputs: ['zeros'] });
    const result = inferShapes(graph, { registry });
    expect(result.symbolicValues.get('tail')).toEqual([3, 'H']);
    expect(graph.typeOf('zeros')?.shape).toEqual([3, 'H']);
  });

  it('Squeeze/Unsqueeze: axes as attribute before opset 13, as input since; errors on size != 1', () => {
    expect(infer('Squeeze', [f32(1, 'N', 1)], { axes: [0, -1] }, { opset: 11 }).types[0]?.shape).toEqual(['N']);
    expect(infer('Squeeze', [f32(1, 'N', 1), Tensor.int64([0])], {}, { opset: 13 }).types[0]?.shape).toEqual(['N', 1]);
    expect(infer('Squeeze', [f32(1, 'N', 1)], {}, { opset: 13 }).types[0]?.shape).toBeUndefined();
    expect(() => infer('Squeeze', [f32(2, 3), Tensor.int64([0])], {}, { opset: 13 })).toThrow(/cannot squeeze axis 0 of \[2, 3\]: its size is 2/);
    expect(infer('Unsqueeze', [f32('N', 3)], { axes: [0, 3] }, { opset: 11 }).types[0]?.shape).toEqual([1, 'N', 3, 1]);
    expect(infer('Unsqueeze', [f32('N', 3), Tensor.int64([-1])], {}, { opset: 13 }).types[0]?.shape).toEqual(['N', 3, 1]);
    expect(infer('Unsqueeze', [f32('N', 3), i64(2)], {}, { opset: 13 }).types[0]?.shape).toEqual(['unk__0', 'unk__1', 'unk__2', 'unk__3']);
  });

  it('Gather: any axis, negative indices, out-of-range indices, symbolic selection from a shape', () => {
    expect(infer('Gather', [f32('N', 5, 6), i64(2, 3)], { axis: 1 }).types[0]?.shape).toEqual(['N', 2, 3, 6]);
    expect(infer('Gather', [f32('N', 5, 6), Tensor.scalar('int64', -1)], { axis: -1 }).types[0]?.shape).toEqual(['N', 5]);
    expect(() => infer('Gather', [f32(2, 5), Tensor.int64([5])], { axis: 1 })).toThrow(/index 5 is out of range for axis 1 of size 5/);
    expect(() => infer('Gather', [f32(2, 5), f32(1)])).toThrow(/indices must be int32 or int64/);
  });

  it('Shape and Size: constants when static, symbolic values otherwise, start/end since opset 15', () => {
    const staticShape = infer('Shape', [f32(2, 3, 4)]);
    expect(staticShape.constants.get('out0')?.toNumbers()).toEqual([2, 3, 4]);
    const symbolic = infer('Shape', [f32('N', 3, 4)], { start: -2 }, { opset: 15 });
    expect(symbolic.types[0]).toEqual({ dtype: 'int64', shape: [2] });
    expect(symbolic.constants.get('out0')?.toNumbers()).toEqual([3, 4]);
    // Before opset 15 start is not part of the op.
    expect(infer('Shape', [f32('N', 3, 4)], { start: -2 }, { opset: 13 }).symbolic.get('out0')).toEqual(['N', 3, 4]);
    expect(infer('Size', [f32(2, 3, 4)]).constants.get('out0')?.toNumbers()).toEqual([24]);
    expect(infer('Size', [f32('N', 4)]).types[0]).toEqual({ dtype: 'int64', shape: [] });
  });

  it('Constant: every value_* attribute', () => {
    const value = (attributes: Record<string, AttributeInput>): Tensor => infer('Constant', [], attributes).constants.get('out0')!;
    expect(value({ value: Tensor.float32([2], [1, 2]) }).toNumbers()).toEqual([1, 2]);
    expect(value({ value_float: attr.float(2) })).toMatchObject({ dtype: 'float32', shape: [] });
    expect(value({ value_floats: attr.floats([1, 2, 3]) })).toMatchObject({ dtype: 'float32', shape: [3] });
    expect(value({ value_int: 7 })).toMatchObject({ dtype: 'int64', shape: [] });
    expect(value({ value_ints: [7, 8] }).toNumbers()).toEqual([7, 8]);
    expect(value({ value_string: 'hi' }).data).toEqual(['hi']);
    expect(value({ value_strings: ['a', 'b'] })).toMatchObject({ dtype: 'string', shape: [2] });
    expect(() => infer('Constant', [], {})).toThrow(/needs exactly one of value/);
  });

  it('ConstantOfShape, Range, Tile, Pad and Cast with unknown or symbolic parameters', () => {
    expect(infer('ConstantOfShape', [Tensor.int64([2, 3])], { value: Tensor.from('int64', [1], [5]) }).types[0]).toEqual({ dtype: 'int64', shape: [2, 3] });
    expect(infer('ConstantOfShape', [i64(3)]).types[0]).toEqual({ dtype: 'float32', shape: ['unk__0', 'unk__1', 'unk__2'] });
    expect(infer('Range', [Tensor.scalar('float32', 0), { dtype: 'float32', shape: [] }, Tensor.scalar('float32', 1)]).types[0]).toEqual({ dtype: 'float32', shape: ['unk__0'] });
    expect(infer('Tile', [f32('N', 2), Tensor.int64([1, 3])]).types[0]?.shape).toEqual(['N', 6]);
    expect(infer('Tile', [f32('N', 2), Tensor.int64([2, 3])]).types[0]?.shape).toEqual(['unk__0', 6]);
    expect(infer('Pad', [f32('N', 3, 5), Tensor.int64([0, 1, 1, 0, 1, 2])], {}, { opset: 13 }).types[0]?.shape).toEqual(['N', 5, 8]);
    expect(infer('Pad', [f32('N', 3, 5), Tensor.int64([1, 2]), '', Tensor.int64([-1])], {}, { opset: 18 }).types[0]?.shape).toEqual(['N', 3, 8]);
    expect(infer('Pad', [f32('N', 3)], { pads: [0, 1, 0, 1] }, { opset: 2 }).types[0]?.shape).toEqual(['N', 5]);
    expect(() => infer('Pad', [f32(2, 3), Tensor.int64([1, 1])], {}, { opset: 13 })).toThrow(/needs 4 entries for 2 axes/);
    expect(infer('Cast', [f32('N', 2)], { to: 7 }).types[0]).toEqual({ dtype: 'int64', shape: ['N', 2] });
    expect(() => infer('Cast', [f32(2)], { to: 14 })).toThrow(/COMPLEX64/);
  });

  it('Resize and Upsample: scales or sizes across opsets, keep_aspect_ratio_policy', () => {
    const scales = Tensor.float32([4], [1, 1, 2, 1.5]);
    expect(infer('Resize', [f32('N', 3, 4, 5), scales], {}, { opset: 10 }).types[0]?.shape).toEqual(['N', 3, 8, 7]);
    expect(infer('Resize', [f32('N', 3, 4, 5), Tensor.float32([0]), scales], {}, { opset: 11 }).types[0]?.shape).toEqual(['N', 3, 8, 7]);
    expect(infer('Resize', [f32(1, 3, 4, 5), '', '', Tensor.int64([1, 3, 9, 9])], {}, { opset: 13 }).types[0]?.shape).toEqual([1, 3, 9, 9]);
    expect(
      infer('Resize', [f32(1, 3, 4, 8), '', '', Tensor.int64([6, 6])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' }, { opset: 18 }).types[0]?.shape,
    ).toEqual([1, 3, 3, 6]);
    const roi = Tensor.float32([8], [0, 0, 0, 0, 1, 1, 0.5, 1]);
    expect(infer('Resize', [f32(1, 3, 4, 5), roi, scales], { coordinate_transformation_mode: 'tf_crop_and_resize' }, { opset: 13 }).types[0]?.shape).toEqual([1, 3, 4, 7]);
    expect(infer('Upsample', [f32('N', 2, 3, 3)], { scales: attr.floats([1, 1, 2, 2]) }, { opset: 7 }).types[0]?.shape).toEqual(['N', 2, 6, 6]);
    expect(infer('Upsample', [f32('N', 2, 3, 3), scales], {}, { opset: 9 }).types[0]?.shape).toEqual(['N', 2, 6, 4]);
    expect(infer('Resize', [f32('N', 2, 3, 3), Tensor.float32([0]), { dtype: 'float32', shape: [4] }], {}, { opset: 11 }).types[0]?.shape).toEqual([
      'unk__0',
      'unk__1',
      'unk__2',
      'unk__3',
    ]);
  });

  it('Dropout: output and bool mask; folds only in inference mode', () => {
    const result = infer('Dropout', [f32('N', 4)], {}, { outputs: 2, opset: 13 });
    expect(result.types).toEqual([
      { dtype: 'float32', shape: ['N', 4] },
      { dtype: 'bool', shape: ['N', 4] },
    ]);
    const inference = infer('Dropout', [Tensor.float32([2], [1, 2]), Tensor.scalar('float32', 0.5), Tensor.scalar('bool', false)], {}, { outputs: 2, opset: 13 });
    expect(inference.constants.get('out0')?.toNumbers()).toEqual([1, 2]);
    expect(inference.constants.get('out1')?.toNumbers()).toEqual([1, 1]);
    const training = infer('Dropout', [Tensor.float32([2], [1, 2]), Tensor.scalar('float32', 0.5), Tensor.scalar('bool', true)], {}, { outputs: 2, opset: 13 });
    expect(training.constants.has('out0')).toBe(false);
    // Before opset 10 the mask has the input's type; onnxruntime fills inference masks with zeros before opset 12.
    const old = infer('Dropout', [Tensor.float32([2], [1, 2])], {}, { outputs: 2, opset: 9 });
    expect(old.types[1]).toEqual({ dtype: 'float32', shape: [2] });
    expect(old.constants.get('out1')?.toNumbers()).toEqual([0, 0]);
  });

  it('NonZero: data-dependent count gets a fresh dim', () => {
    expect(infer('NonZero', [f32(2, 3)]).types[0]).toEqual({ dtype: 'int64', shape: [2, 'unk__0'] });
  });

  it('Identity and Cast carry symbolic shape values', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: ['N', 7] } }];
    graph.addNode({ opType: 'Shape', inputs: ['x'], outputs: ['shape'] });
    graph.addNode({ opType: 'Identity', inputs: ['shape'], outputs: ['same'] });
    graph.addNode({ opType: 'Cast', inputs: ['same'], outputs: ['as_int32'], attributes: { to: 6 } });
    graph.addNode({ opType: 'Cast', inputs: ['as_int32'], outputs: ['as_int64'], attributes: { to: 7 } });
    graph.addNode({ opType: 'Expand', inputs: ['scalar', 'as_int64'], outputs: ['filled'] });
    graph.initializers.set('scalar', Tensor.scalar('float32', 1));
    const result = inferShapes(graph, { registry });
    expect(result.symbolicValues.get('as_int64')).toEqual(['N', 7]);
    expect(graph.typeOf('filled')?.shape).toEqual(['N', 7]);
  });
});

describe('castTensor', () => {
  it('keeps int64 values beyond 2^53 exact and wraps to unsigned like numpy', () => {
    const big = Tensor.from('int64', [2], [9007199254740993n, -1n]);
    expect(Array.from(castTensor(big, 'uint64').data as BigUint64Array)).toEqual([9007199254740993n, 18446744073709551615n]);
    expect(castTensor(big, 'string').data).toEqual(['9007199254740993', '-1']);
    expect(castTensor(Tensor.from('string', [2], ['1.5', '-2']), 'float32').toNumbers()).toEqual([1.5, -2]);
    expect(castTensor(Tensor.from('bool', [2], [1, 0]), 'float32').toNumbers()).toEqual([1, 0]);
  });
});

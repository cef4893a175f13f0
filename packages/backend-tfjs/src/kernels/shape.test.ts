import { ErrorCodes, Graph, Tensor, attr, inferShapes, type AttributeInput, type DType } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { expectMatchesOnnxruntime, onnxruntime, seeded, singleOp, tfjsBackend, type CompareOptions, type OpInput } from '../__fixtures__/compare.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

function int64(values: readonly (number | bigint)[], shape: readonly number[] = [values.length]): Tensor {
  return Tensor.from('int64', shape, values.map((value) => BigInt(value)));
}

const init = (tensor: Tensor): OpInput => ({ initializer: tensor });

/** Runs a one-node graph on onnxruntime and on tfjs (cpu, wasm) and compares every output. */
async function check(
  opType: string,
  inputs: readonly OpInput[],
  attributes: Record<string, AttributeInput> = {},
  options: { outputs?: number; opset?: number } = {},
  compare: CompareOptions = {},
): Promise<Record<string, Tensor>> {
  const { graph, feeds } = singleOp(opType, inputs, attributes, options);
  return expectMatchesOnnxruntime(graph, feeds, compare);
}

/** Runs a one-node graph on tfjs only (cpu and wasm); returns each engine's outputs. */
async function runTfjs(opType: string, inputs: readonly OpInput[], attributes: Record<string, AttributeInput>, options: { outputs?: number; opset?: number } = {}): Promise<Record<string, Tensor>[]> {
  const { graph, feeds } = singleOp(opType, inputs, attributes, options);
  const results: Record<string, Tensor>[] = [];
  for (const engine of ['cpu', 'wasm']) {
    const session = await tfjsBackend.createSession(graph, { executionProviders: [engine] });
    try {
      results.push(await session.run(feeds));
    } finally {
      await session.release();
    }
  }
  return results;
}

async function tfjsError(opType: string, inputs: readonly OpInput[], attributes: Record<string, AttributeInput> = {}, options: { opset?: number } = {}): Promise<unknown> {
  return runTfjs(opType, inputs, attributes, options).then(
    () => undefined,
    (error: unknown) => error,
  );
}

const x = seeded([2, 3, 4], 1, 3);
const image = seeded([1, 2, 4, 5], 2, 2);

describe('Reshape, Flatten, Squeeze, Unsqueeze, Identity', () => {
  it('Reshape with -1 and 0 (copy), from an input and from a fed shape', async () => {
    await check('Reshape', [x, init(int64([0, -1]))]);
    await check('Reshape', [x, init(int64([4, 0, 2]))]);
    await check('Reshape', [x, int64([-1])]);
    await check('Reshape', [x, init(int64([2, 2, 2, 3]))], {}, { opset: 13 });
  });
  it('Reshape with allowzero keeps 0 as a size', async () => {
    const empty = Tensor.float32([0, 3]);
    await check('Reshape', [empty, init(int64([3, 0]))], { allowzero: 1 }, { opset: 14 });
    await check('Reshape', [empty, init(int64([0, 3]))], { allowzero: 0 }, { opset: 14 });
  });
  it('Reshape before opset 5 (shape attribute)', async () => {
    await check('Reshape', [x], { shape: [3, -1] }, { opset: 4 });
  });
  it('Reshape rejects an element count that does not fit', async () => {
    const error = await tfjsError('Reshape', [x, int64([5, -1])]);
    expect(error).toMatchObject({ code: ErrorCodes.INVALID_GRAPH });
  });
  it('Flatten at every axis, negative ones included', async () => {
    for (const axis of [0, 1, 2, 3, -1, -3]) await check('Flatten', [x], { axis });
    await check('Flatten', [x]);
  });
  it('Squeeze: attribute before opset 13, input from 13, all unit axes without axes', async () => {
    const ones = seeded([1, 3, 1, 2], 3);
    await check('Squeeze', [ones], { axes: [0, -2] }, { opset: 11 });
    await check('Squeeze', [ones, init(int64([2]))], {}, { opset: 13 });
    await check('Squeeze', [ones], {}, { opset: 13 });
    await check('Squeeze', [ones], {}, { opset: 11 });
  });
  it('Squeeze rejects an axis whose size is not 1', async () => {
    // Fed axes: shape inference cannot tell, the kernel must.
    expect(await tfjsError('Squeeze', [x, int64([1])], {}, { opset: 13 })).toMatchObject({ code: ErrorCodes.INVALID_GRAPH });
  });
  it('Unsqueeze: attribute before opset 13, input from 13, negative axes', async () => {
    await check('Unsqueeze', [x], { axes: [0, 4] }, { opset: 11 });
    await check('Unsqueeze', [x, init(int64([-1, 1]))], {}, { opset: 13 });
    await check('Unsqueeze', [Tensor.scalar('float32', 2.5), init(int64([0]))], {}, { opset: 13 });
  });
  it('Identity of float, int64 and bool tensors', async () => {
    await check('Identity', [x]);
    await check('Identity', [int64([1, -2, 3])]);
    await check('Identity', [Tensor.from('bool', [3], [1, 0, 1])]);
  });
});

describe('Transpose, Concat, Split', () => {
  it('Transpose with and without perm, on float, int64 and bool', async () => {
    await check('Transpose', [x]);
    await check('Transpose', [x], { perm: [1, 0, 2] });
    await check('Transpose', [image], { perm: [0, 2, 3, 1] });
    await check('Transpose', [seeded([3, 4], 4, 50, 'int64')], { perm: [1, 0] });
    await check('Transpose', [Tensor.from('bool', [2, 3], [1, 0, 0, 1, 1, 0])]);
  });
  it('Concat along every axis, of several inputs and an empty one', async () => {
    const y = seeded([2, 3, 2], 5);
    await check('Concat', [x, { initializer: y }], { axis: -1 });
    await check('Concat', [x, seeded([1, 3, 4], 6), seeded([3, 3, 4], 7)], { axis: 0 });
    await check('Concat', [x, seeded([2, 1, 4], 8)], { axis: 1 });
    await check('Concat', [int64([1, 2]), init(int64([])), int64([7])], { axis: 0 });
    await check('Concat', [x], { axis: 1 });
    await check('Concat', [Tensor.from('bool', [2], [1, 0]), Tensor.from('bool', [1], [1])], { axis: 0 });
  });
  it('Split: equal parts, split attribute (opset 11), split input (opset 13), num_outputs (opset 18)', async () => {
    const long = seeded([2, 7, 3], 9);
    await check('Split', [x], { axis: 1 }, { outputs: 3, opset: 11 });
    await check('Split', [long], { axis: 1, split: [2, 4, 1] }, { outputs: 3, opset: 11 });
    await check('Split', [long, init(int64([3, 0, 4]))], { axis: -2 }, { outputs: 3, opset: 13 });
    await check('Split', [long], { axis: 1, num_outputs: 3 }, { outputs: 3, opset: 18 });
    await check('Split', [long], { axis: 1, num_outputs: 4 }, { outputs: 4, opset: 18 });
    await check('Split', [x], { axis: 2 }, { outputs: 2, opset: 17 });
  });
});

describe('Slice', () => {
  const data = seeded([4, 5, 6], 10);
  it('positive steps, negative starts and ends, axes and out-of-range clamping', async () => {
    await check('Slice', [data, init(int64([1, -4])), init(int64([3, 100])), init(int64([0, 2]))]);
    await check('Slice', [data, init(int64([-100, 1])), init(int64([INT64_MAX, -1])), init(int64([-1, 1])), init(int64([2, 3]))]);
    await check('Slice', [data, init(int64([0])), init(int64([INT64_MAX])), init(int64([1])), init(int64([1]))]);
    await check('Slice', [data, int64([1, 0]), int64([4, 5]), int64([0, 1]), int64([2, 2])]);
  });
  it('negative steps, clamped at both ends', async () => {
    await check('Slice', [data, init(int64([-1])), init(int64([INT64_MIN])), init(int64([2])), init(int64([-1]))]);
    await check('Slice', [data, init(int64([100, 3])), init(int64([0, -100])), init(int64([0, 1])), init(int64([-2, -3]))]);
    await check('Slice', [data, init(int64([4, 5, 5])), init(int64([-7, 0, -8])), init(int64([0, 1, 2])), init(int64([-1, -2, -4]))]);
  });
  it('empty results', async () => {
    await check('Slice', [data, init(int64([3])), init(int64([1])), init(int64([0]))]);
    await check('Slice', [data, init(int64([1])), init(int64([3])), init(int64([1])), init(int64([-1]))]);
  });
  it('int64 and bool data', async () => {
    const values = seeded([6], 11, 100, 'int64');
    await check('Slice', [values, init(int64([5])), init(int64([-7])), init(int64([0])), init(int64([-2]))]);
    const flags = Tensor.from('bool', [2, 4], [1, 0, 0, 1, 1, 1, 0, 0]);
    await check('Slice', [flags, init(int64([0, 3])), init(int64([2, 0])), init(int64([0, 1])), init(int64([1, -2]))]);
  });
  it('before opset 10 (starts, ends and axes attributes)', async () => {
    await check('Slice', [data], { starts: [1, -3], ends: [1000, -1], axes: [1, 2] }, { opset: 9 });
    await check('Slice', [data], { starts: [0, 1], ends: [2, 3] }, { opset: 9 });
  });
});

describe('Gather, GatherElements, ScatterElements', () => {
  it('Gather along each axis with negative, scalar and 2-D indices', async () => {
    await check('Gather', [x, init(int64([1, -1, 0]))], { axis: 1 });
    await check('Gather', [x, int64([-2, 1, 1, 0], [2, 2])], { axis: 2 });
    await check('Gather', [x, init(Tensor.scalar('int64', -1))], { axis: 0 });
    await check('Gather', [x, Tensor.from('int32', [2], [1, -2])], { axis: -1 });
    await check('Gather', [int64([5, 6, 7]), init(Tensor.scalar('int64', 2))]);
  });
  it('GatherElements along each axis with negative indices', async () => {
    await check('GatherElements', [x, int64([0, 1, -1, 0, 1, 1, -2, 0, 0, 1, 1, 0], [2, 3, 2])], { axis: 2 });
    await check('GatherElements', [x, int64([1, 0, -1, 0, 2, 1, 0, 0], [2, 1, 4])], { axis: 1 });
    await check('GatherElements', [x, int64([1, -2, 0], [1, 1, 3])], { axis: 0 });
  });
  const indices = int64([0, 2, 2, 1, 0, 0], [2, 3]);
  const updates = seeded([2, 3], 12, 2);
  const data = seeded([3, 3], 13, 2);
  it('ScatterElements without reduction, before and after opset 16', async () => {
    const distinct = int64([1, 0, 2, 0, 2, -2], [2, 3]);
    await check('ScatterElements', [data, distinct, updates], { axis: 0 }, { opset: 11 });
    await check('ScatterElements', [data, int64([2, 0, 1], [1, 3]), seeded([1, 3], 14)], { axis: 1 }, { opset: 16 });
    await check('ScatterElements', [seeded([3, 4], 13, 50, 'int64'), int64([3, -1], [1, 2]), seeded([1, 2], 14, 9, 'int64')], { axis: 1 }, { opset: 13 });
  });
  it('ScatterElements add, mul, max and min sum or combine repeated indices', async () => {
    await check('ScatterElements', [data, indices, updates], { axis: 1, reduction: 'add' }, { opset: 16 });
    await check('ScatterElements', [data, indices, updates], { axis: 0, reduction: 'mul' }, { opset: 16 });
    await check('ScatterElements', [data, indices, updates], { axis: 1, reduction: 'max' }, { opset: 18 });
    await check('ScatterElements', [data, indices, updates], { axis: -1, reduction: 'min' }, { opset: 18 });
    await check('ScatterElements', [seeded([5], 15, 20, 'int64'), int64([4, 4, -1, 0]), seeded([4], 16, 20, 'int64')], { axis: 0, reduction: 'add' }, { opset: 16 });
    const bytes = Tensor.from('int8', [3], [100, -100, 7]);
    await check('ScatterElements', [bytes, int64([0, 0, 1, 2]), Tensor.from('int8', [4], [20, 15, -50, 3])], { axis: 0, reduction: 'add' }, { opset: 16 });
    await check('ScatterElements', [bytes, int64([0, 1, 1]), Tensor.from('int8', [3], [3, 2, 2])], { axis: 0, reduction: 'mul' }, { opset: 16 });
  });
  it('indices outside [-size, size - 1] are rejected, not wrapped into another element', async () => {
    for (const [op, inputs] of [
      ['ScatterElements', [data, int64([3, 0, 0], [1, 3]), seeded([1, 3], 14)]],
      ['ScatterElements', [data, int64([0, -4, 0], [1, 3]), seeded([1, 3], 14)]],
      ['GatherElements', [data, int64([0, 3], [1, 2])]],
      ['Gather', [data, int64([-4])]],
    ] as [string, OpInput[]][]) {
      const error = await tfjsError(op, inputs, { axis: op === 'Gather' ? 0 : 1 }, { opset: 16 });
      expect(error, op).toMatchObject({ code: ErrorCodes.INVALID_GRAPH });
      expect(String((error as Error).message), op).toMatch(/out of range/);
    }
  });
  it('ScatterElements add on flat int64 indices (the MaxPool gradient) over 2^18 elements', async () => {
    const size = 1 << 18;
    const positions = new Array<number>(size / 4);
    for (let index = 0; index < positions.length; index++) positions[index] = (index * 7919) % size;
    positions[1] = positions[0]!;
    await check(
      'ScatterElements',
      [init(Tensor.float32([size])), int64(positions), seeded([positions.length], 17)],
      { axis: 0, reduction: 'add' },
      { opset: 16 },
    );
  });
});

describe('Shape, Size, Constant, ConstantOfShape, Range', () => {
  it('Shape, whole and with start/end (opset 15)', async () => {
    await check('Shape', [image]);
    await check('Shape', [image], { start: 1, end: -1 }, { opset: 15 });
    await check('Shape', [image], { start: -2 }, { opset: 15 });
    await check('Shape', [image], { start: 3, end: 1 }, { opset: 15 });
    await check('Shape', [Tensor.scalar('float32', 1)]);
  });
  it('Size of a tensor and of a scalar', async () => {
    await check('Size', [image]);
    await check('Size', [Tensor.scalar('int64', 4)]);
  });
  it('Constant from value, value_float(s) and value_int(s)', async () => {
    await check('Constant', [], { value: seeded([2, 3], 18) });
    await check('Constant', [], { value: int64([2147483647, -5, 3]) });
    await check('Constant', [], { value: Tensor.from('float16', [2], [1.5, -2]) });
    await check('Constant', [], { value_float: attr.float(2) });
    await check('Constant', [], { value_floats: attr.floats([1, 2.5, -3]) });
    await check('Constant', [], { value_int: 7 });
    await check('Constant', [], { value_ints: [3, -4, 5] });
  });
  it('Constant int64 sentinels clamp to int32 and keep their meaning as Slice ends', async () => {
    const graph = new Graph('constant_slice');
    graph.opsetImports = new Map([['', 17]]);
    graph.inputs.push({ name: 'x0', type: { dtype: 'float32', shape: [...x.shape] } });
    graph.addNode({ opType: 'Constant', inputs: [], outputs: ['starts'], attributes: { value: int64([1, -1]) } });
    graph.addNode({ opType: 'Constant', inputs: [], outputs: ['ends'], attributes: { value: int64([INT64_MAX, INT64_MIN]) } });
    graph.addNode({ opType: 'Constant', inputs: [], outputs: ['axes'], attributes: { value_ints: [1, 2] } });
    graph.addNode({ opType: 'Constant', inputs: [], outputs: ['steps'], attributes: { value_ints: [1, -1] } });
    graph.addNode({ opType: 'Slice', inputs: ['x0', 'starts', 'ends', 'axes', 'steps'], outputs: ['y0'] });
    graph.outputs.push({ name: 'y0' });
    inferShapes(graph);
    await expectMatchesOnnxruntime(graph, { x0: x });
  });
  it('ConstantOfShape with default, float, int64 and bool fills', async () => {
    await check('ConstantOfShape', [int64([2, 3])]);
    await check('ConstantOfShape', [init(int64([4, 1, 2]))], { value: Tensor.from('float32', [1], [0.25]) });
    await check('ConstantOfShape', [int64([3])], { value: Tensor.from('int64', [1], [-7n]) });
    await check('ConstantOfShape', [int64([2, 2])], { value: Tensor.from('bool', [1], [1]) });
    await check('ConstantOfShape', [int64([2, 0])]);
    await check('ConstantOfShape', [init(int64([]))], { value: Tensor.from('int32', [1], [4]) });
  });
  it('Range of floats and integers, rising, falling and empty', async () => {
    const scalar = (dtype: DType, value: number): Tensor => Tensor.scalar(dtype, dtype === 'int64' ? BigInt(value) : value);
    for (const [dtype, start, limit, delta] of [
      ['float32', 0.5, 4.2, 0.3],
      ['float32', 3, -2.5, -0.7],
      ['float32', 1, 1, 1],
      ['int32', -3, 10, 4],
      ['int64', 10, -3, -3],
      ['int64', 5, 0, 1],
    ] as [DType, number, number, number][]) {
      await check('Range', [scalar(dtype, start), scalar(dtype, limit), init(scalar(dtype, delta))], {}, { opset: 11 });
    }
  });
});

/** A graph of two Casts (x0 -> `middle` -> `to`): shows the rounding of the middle type. */
async function checkCastChain(input: Tensor, middle: DType, to: DType): Promise<void> {
  const graph = new Graph('cast_chain');
  graph.opsetImports = new Map([['', 17]]);
  graph.inputs.push({ name: 'x0', type: { dtype: input.dtype, shape: [...input.shape] } });
  graph.addNode({ opType: 'Cast', inputs: ['x0'], outputs: ['middle'], attributes: { to: dtypeCode(middle) } });
  graph.addNode({ opType: 'Cast', inputs: ['middle'], outputs: ['y0'], attributes: { to: dtypeCode(to) } });
  graph.outputs.push({ name: 'y0' });
  inferShapes(graph);
  await expectMatchesOnnxruntime(graph, { x0: input }, { tolerance: { absolute: 0, relative: 0 } });
}

const dtypeCodes: Partial<Record<DType, number>> = { float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16 };
function dtypeCode(dtype: DType): number {
  return dtypeCodes[dtype]!;
}

describe('Cast', () => {
  const fractions = Tensor.float32([12], [0, -0.4, 0.6, -1.7, 2.5, 127.9, -128.9, 200.2, -300.6, 40000.7, -33000.2, 70000.5]);
  it('float to every integer type truncates toward zero and wraps', async () => {
    for (const to of ['int8', 'uint8', 'int16', 'uint16', 'int32', 'int64'] as DType[]) {
      await check('Cast', [fractions], { to: dtypeCode(to) }, {}, { tolerance: { absolute: 0, relative: 0 } });
    }
  });
  it('between integer types, to and from bool', async () => {
    const integers = Tensor.from('int32', [7], [0, 1, -1, 255, 256, -129, 70000]);
    for (const to of ['int8', 'uint8', 'int16', 'uint16', 'int64', 'float32', 'bool'] as DType[]) {
      await check('Cast', [integers], { to: dtypeCode(to) }, {}, { tolerance: { absolute: 0, relative: 0 } });
    }
    await check('Cast', [Tensor.from('uint8', [3], [0, 200, 255])], { to: dtypeCode('int8') });
    const flags = Tensor.from('bool', [3], [1, 0, 1]);
    for (const to of ['float32', 'int64', 'uint8', 'float16']) await check('Cast', [flags], { to: dtypeCode(to as DType) });
    await check('Cast', [Tensor.float32([4], [0, -0, Number.NaN, 0.1])], { to: dtypeCode('bool') });
  });
  it('to float16 and bfloat16 rounds to their precision, ties to even, overflowing to infinity', async () => {
    const values = Tensor.float32(
      [12],
      [1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 0.1, -3.14159, 65519, 65504, 1e-7, 3e-5, -(2 ** -25), 2 ** -24 * 1.5, Number.NaN],
    );
    await checkCastChain(values, 'float16', 'float32');
    const wide = Tensor.float32([7], [1 + 2 ** -8, 1 + 3 * 2 ** -8, 0.1, -3.14159, 3e38, 1e-30, 123456789]);
    await checkCastChain(wide, 'bfloat16', 'float32');
    await checkCastChain(Tensor.from('int32', [3], [2049, 4097, -60001]), 'float16', 'float32');
    await checkCastChain(values, 'float64', 'float32');
  });
  it('to float16 and bfloat16 overflows to infinity where onnxruntime does', async () => {
    // The harness cannot compare infinities; the values are checked here (onnxruntime: 65520 and up round to inf).
    const graph = new Graph('cast_overflow');
    graph.opsetImports = new Map([['', 17]]);
    graph.inputs.push({ name: 'x0', type: { dtype: 'float32', shape: [5] } });
    graph.addNode({ opType: 'Cast', inputs: ['x0'], outputs: ['half'], attributes: { to: dtypeCode('float16') } });
    graph.addNode({ opType: 'Cast', inputs: ['half'], outputs: ['y0'], attributes: { to: dtypeCode('float32') } });
    graph.addNode({ opType: 'Cast', inputs: ['x0'], outputs: ['brain'], attributes: { to: dtypeCode('bfloat16') } });
    graph.addNode({ opType: 'Cast', inputs: ['brain'], outputs: ['y1'], attributes: { to: dtypeCode('float32') } });
    graph.outputs.push({ name: 'y0' }, { name: 'y1' });
    inferShapes(graph);
    const feeds = { x0: Tensor.float32([5], [65519, 65520, -70000, Number.POSITIVE_INFINITY, 3.4e38]) };
    const reference = await onnxruntime.createSession(graph);
    const expected = await reference.run(feeds);
    await reference.release();
    expect([...expected.y0!.toFloat32()]).toEqual([65504, Infinity, -Infinity, Infinity, Infinity]);
    for (const engine of ['cpu', 'wasm']) {
      const session = await tfjsBackend.createSession(graph, { executionProviders: [engine] });
      const actual = await session.run(feeds);
      await session.release();
      expect([...actual.y0!.toFloat32()], engine).toEqual([...expected.y0!.toFloat32()]);
      expect([...actual.y1!.toFloat32()], engine).toEqual([...expected.y1!.toFloat32()]);
    }
  });
});

describe('Expand, Tile, Pad', () => {
  it('Expand broadcasts both ways and to a higher rank', async () => {
    const column = seeded([3, 1], 19);
    await check('Expand', [column, init(int64([2, 3, 4]))]);
    await check('Expand', [column, init(int64([1]))]);
    await check('Expand', [column, int64([3, 1])]);
    await check('Expand', [Tensor.from('bool', [2, 1], [1, 0]), init(int64([2, 3]))]);
    await check('Expand', [int64([4]), init(int64([2, 2]))]);
  });
  it('Tile along each axis', async () => {
    await check('Tile', [x, init(int64([2, 1, 3]))]);
    await check('Tile', [seeded([2, 3], 20, 9, 'int64'), int64([1, 2])]);
    await check('Tile', [x, init(int64([1, 1, 1]))]);
    await check('Tile', [image, init(int64([2, 1, 2, 3]))]);
    await check('Tile', [x, init(int64([1, 0, 1]))]);
  });
  it('Pad in constant, reflect and edge modes, with and without a value', async () => {
    await check('Pad', [image, init(int64([0, 0, 1, 2, 0, 1, 2, 0]))]);
    await check('Pad', [image, init(int64([0, 1, 1, 2, 0, 0, 2, 1])), init(Tensor.scalar('float32', 1.5))]);
    await check('Pad', [image, init(int64([0, 0, 3, 4, 0, 0, 2, 1]))], { mode: 'reflect' });
    await check('Pad', [image, init(int64([0, 0, 5, 1, 0, 0, 2, 7]))], { mode: 'edge' });
    await check('Pad', [seeded([3, 4], 21, 9, 'int64'), init(int64([1, 2, 2, 0])), init(Tensor.scalar('int64', -9n))]);
  });
  it('Pad with negative pads crops', async () => {
    await check('Pad', [image, init(int64([0, 0, -1, 2, 0, 0, 1, -2]))]);
    await check('Pad', [image, init(int64([0, 0, 2, -1, 0, 0, -2, 1]))], { mode: 'edge' });
  });
  it('Pad with an axes input (opset 18) and in wrap mode (opset 19)', async () => {
    await check('Pad', [image, init(int64([1, 2, 2, 0])), init(Tensor.scalar('float32', -1)), init(int64([-1, 2]))], {}, { opset: 18 });
    await check('Pad', [image, init(int64([3, 1, 2, 4])), undefined, init(int64([2, 3]))], { mode: 'wrap' }, { opset: 19 });
  });
  it('Pad before opset 11 (pads and value attributes)', async () => {
    await check('Pad', [image], { pads: [0, 0, 1, 1, 0, 0, 2, 0], value: attr.float(2) }, { opset: 10 });
    await check('Pad', [image], { pads: [0, 0, 2, 1, 0, 0, 1, 3], mode: 'reflect' }, { opset: 2 });
  });
});

describe('Resize and Upsample', () => {
  const scales = (values: number[]): OpInput => init(Tensor.float32([values.length], values));
  const emptyRoi = init(Tensor.float32([0]));
  it('nearest: every coordinate transformation and nearest mode, up and down', async () => {
    const transformations = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];
    const modes = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];
    for (const factors of [
      [1, 1, 2, 3],
      [1, 1, 0.6, 0.5],
      [1, 1, 1.7, 2.5],
    ]) {
      for (const coordinate_transformation_mode of transformations) {
        for (const nearest_mode of modes) {
          await check('Resize', [image, emptyRoi, scales(factors)], { mode: 'nearest', coordinate_transformation_mode, nearest_mode }, { opset: 13 });
        }
      }
    }
  });
  it('nearest with sizes, on int64 data and on a 3-D input', async () => {
    await check('Resize', [image, emptyRoi, undefined, init(int64([1, 2, 7, 3]))], { mode: 'nearest' }, { opset: 13 });
    await check('Resize', [Tensor.from('int32', [1, 3, 4], seeded([1, 3, 4], 22, 50).toFloat32().map(Math.round)), emptyRoi, scales([1, 2, 0.5])], { mode: 'nearest', nearest_mode: 'floor' }, { opset: 13 });
  });
  it('linear: half_pixel, align_corners, asymmetric and pytorch_half_pixel, up and down', async () => {
    for (const coordinate_transformation_mode of ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel']) {
      for (const factors of [
        [1, 1, 2, 1.5],
        [1, 1, 0.5, 0.6],
      ]) {
        await check('Resize', [image, emptyRoi, scales(factors)], { mode: 'linear', coordinate_transformation_mode }, { opset: 13 });
      }
      await check('Resize', [image, emptyRoi, undefined, init(int64([1, 2, 1, 9]))], { mode: 'linear', coordinate_transformation_mode }, { opset: 13 });
      await check('Resize', [seeded([5, 4], 23), emptyRoi, scales([1.5, 2])], { mode: 'linear', coordinate_transformation_mode }, { opset: 13 });
    }
  });
  it('cubic, with and without exclude_outside', async () => {
    for (const exclude_outside of [0, 1]) {
      await check('Resize', [image, emptyRoi, scales([1, 1, 2, 1.6])], { mode: 'cubic', exclude_outside }, { opset: 13 });
      await check('Resize', [image, emptyRoi, scales([1, 1, 0.5, 0.8])], { mode: 'cubic', exclude_outside, cubic_coeff_a: attr.float(-0.5), coordinate_transformation_mode: 'align_corners' }, { opset: 13 });
    }
  });
  it('tf_crop_and_resize extrapolates outside the region of interest', async () => {
    const roi = init(Tensor.float32([8], [0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4]));
    for (const mode of ['nearest', 'linear']) {
      await check('Resize', [image, roi, scales([1, 1, 1.5, 2])], { mode, coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: attr.float(-3) }, { opset: 13 });
    }
  });
  it('Resize opset 10 (scales only), opset 18 axes and aspect ratio policies, opset 19 half_pixel_symmetric', async () => {
    await check('Resize', [image, scales([1, 1, 2, 1.5])], { mode: 'nearest' }, { opset: 10 });
    await check('Resize', [image, scales([1, 1, 0.5, 2])], { mode: 'linear' }, { opset: 10 });
    await check('Resize', [image, emptyRoi, scales([2, 1.5])], { mode: 'linear', axes: [2, 3] }, { opset: 18 });
    for (const keep_aspect_ratio_policy of ['not_larger', 'not_smaller']) {
      await check('Resize', [image, emptyRoi, undefined, init(int64([7, 7]))], { mode: 'nearest', axes: [2, 3], keep_aspect_ratio_policy }, { opset: 18 });
    }
    for (const mode of ['nearest', 'linear']) {
      await check('Resize', [image, emptyRoi, scales([1, 1, 1.5, 0.7])], { mode, coordinate_transformation_mode: 'half_pixel_symmetric' }, { opset: 19 });
    }
  });
  it('Upsample: scales attribute (opset 7) and input (opset 9)', async () => {
    await check('Upsample', [image], { mode: 'nearest', scales: attr.floats([1, 1, 2, 3]) }, { opset: 7 });
    await check('Upsample', [image], { mode: 'linear', scales: attr.floats([1, 1, 2, 1.5]) }, { opset: 8 });
    await check('Upsample', [image, scales([1, 1, 1.5, 2])], { mode: 'nearest' }, { opset: 9 });
    await check('Upsample', [image, scales([1, 1, 3, 2])], { mode: 'linear' }, { opset: 9 });
  });
  it('antialias is reported as unsupported', async () => {
    const error = await tfjsError('Resize', [image, emptyRoi, scales([1, 1, 0.5, 0.5])], { mode: 'linear', antialias: 1 }, { opset: 18 });
    expect(error).toMatchObject({ code: ErrorCodes.UNSUPPORTED_OP });
  });
});

describe('Dropout', () => {
  it('inference: the input unchanged, with the mask onnxruntime gives for each opset', async () => {
    await check('Dropout', [x], { ratio: attr.float(0.3) }, { outputs: 2, opset: 10 });
    await check('Dropout', [x], {}, { outputs: 1, opset: 7 });
    await check('Dropout', [x, init(Tensor.scalar('float32', 0.4))], {}, { outputs: 2, opset: 13 });
    await check('Dropout', [x, init(Tensor.scalar('float32', 0.4)), init(Tensor.scalar('bool', 0))], {}, { outputs: 2, opset: 13 });
    await check('Dropout', [x, init(Tensor.scalar('float32', 0)), init(Tensor.scalar('bool', 1))], {}, { outputs: 2, opset: 13 });
  });
  it('training mode drops about `ratio` of the elements and scales the rest by 1 / (1 - ratio)', async () => {
    const size = 20000;
    const input = seeded([size], 24, 5);
    const ratio = 0.3;
    for (const outputs of await runTfjs('Dropout', [input, init(Tensor.scalar('float32', ratio)), init(Tensor.scalar('bool', 1))], { seed: 5 }, { outputs: 2, opset: 13 })) {
      const y = outputs.y0!.toFloat32();
      const mask = outputs.y1!;
      expect(mask.dtype).toBe('bool');
      const kept = mask.data as Uint8Array;
      const values = input.toFloat32();
      let count = 0;
      for (let index = 0; index < size; index++) {
        if (kept[index]) {
          count++;
          expect(Math.abs(y[index]! - values[index]! / (1 - ratio))).toBeLessThan(1e-5);
        } else expect(y[index] === 0).toBe(true);
      }
      // Binomial(20000, 0.7): the standard deviation of the kept fraction is about 0.0032.
      expect(Math.abs(count / size - (1 - ratio))).toBeLessThan(0.02);
    }
  });
  it('training mode draws a fresh mask on every run', async () => {
    const { graph, feeds } = singleOp('Dropout', [Tensor.float32([4096], new Float32Array(4096).fill(1)), init(Tensor.scalar('float32', 0.5)), init(Tensor.scalar('bool', 1))], { seed: 3 }, { outputs: 2, opset: 13 });
    const session = await tfjsBackend.createSession(graph, { executionProviders: ['cpu'] });
    const first = (await session.run(feeds)).y1!.data as Uint8Array;
    const second = (await session.run(feeds)).y1!.data as Uint8Array;
    await session.release();
    let differing = 0;
    for (let index = 0; index < first.length; index++) if (first[index] !== second[index]) differing++;
    // Two independent masks with p = 0.5 differ in about half the positions.
    expect(differing / first.length).toBeGreaterThan(0.4);
    expect(differing / first.length).toBeLessThan(0.6);
  });
  it('rejects a ratio of 1', async () => {
    const error = await tfjsError('Dropout', [x, init(Tensor.scalar('float32', 1)), init(Tensor.scalar('bool', 1))], {}, { opset: 13 });
    expect(error).toMatchObject({ code: ErrorCodes.INVALID_GRAPH });
  });
});

describe('NonZero', () => {
  it('coordinates of the non-zero elements of float, int64, bool and scalar inputs', async () => {
    await check('NonZero', [Tensor.float32([2, 3], [0, 1.5, 0, -2, 0, Number.NaN])]);
    await check('NonZero', [int64([0, 0, 3, 0, 5, 6, 0, 1], [2, 2, 2])]);
    await check('NonZero', [Tensor.from('bool', [4], [0, 0, 0, 0])]);
    await check('NonZero', [Tensor.scalar('float32', 3)]);
    await check('NonZero', [Tensor.scalar('float32', 0)]);
  });
});

describe('shape chains of razor gradients', () => {
  it('Size -> Reshape -> ConstantOfShape -> ScatterElements(add) -> Reshape(Shape) over 10^5 elements', async () => {
    const shape = [4, 8, 56, 56];
    const size = shape.reduce((total, dim) => total * dim, 1);
    const count = size / 4;
    const positions = new Array<number>(count);
    for (let index = 0; index < count; index++) positions[index] = Math.min(size - 1, index * 4 + (index % 3));
    const graph = new Graph('scatter_chain');
    graph.opsetImports = new Map([['', 17]]);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape } });
    graph.inputs.push({ name: 'indices', type: { dtype: 'int64', shape: [count] } });
    graph.inputs.push({ name: 'gradient', type: { dtype: 'float32', shape: [count] } });
    graph.addInitializer('flat', int64([-1]));
    graph.addNode({ opType: 'Size', inputs: ['x'], outputs: ['size'] });
    graph.addNode({ opType: 'Reshape', inputs: ['size', 'flat'], outputs: ['size1'] });
    graph.addNode({ opType: 'ConstantOfShape', inputs: ['size1'], outputs: ['zeros'], attributes: { value: Tensor.float32([1], [0]) } });
    graph.addNode({ opType: 'ScatterElements', inputs: ['zeros', 'indices', 'gradient'], outputs: ['scattered'], attributes: { axis: 0, reduction: 'add' } });
    graph.addNode({ opType: 'Shape', inputs: ['x'], outputs: ['shape'] });
    graph.addNode({ opType: 'Reshape', inputs: ['scattered', 'shape'], outputs: ['dx'] });
    graph.addNode({ opType: 'Slice', inputs: ['dx', 'starts', 'ends'], outputs: ['cropped'] });
    graph.addInitializer('starts', int64([1, 2]));
    graph.addInitializer('ends', int64([INT64_MAX, -1]));
    graph.outputs.push({ name: 'cropped' });
    inferShapes(graph);
    await expectMatchesOnnxruntime(graph, { x: seeded(shape, 25), indices: int64(positions), gradient: seeded([count], 26) });
  });
});

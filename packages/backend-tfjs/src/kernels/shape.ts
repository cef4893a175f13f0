import { Tensor, dtypeFromOnnx, getAttribute, rowMajorStrides, sliceRange, type DType, type Node } from '@razor/core';
import type { KernelContext, KernelResult, KernelTable } from '../kernel.js';
import { hostToTfData, tfDType, type TfTensor, type TfValue } from '../values.js';
import { isFloating, normalizeAxis, same, wrapInteger } from './common.js';

type Tf = KernelContext['tf'];

// ---------------------------------------------------------------------------
// Helpers.

function product(dims: readonly number[]): number {
  return dims.reduce((total, dim) => total * dim, 1);
}

function sameShape(first: readonly number[], second: readonly number[]): boolean {
  return first.length === second.length && first.every((dim, axis) => dim === second[axis]);
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** An int64 value holding `values` (tfjs computes integers in int32). */
function int64Value(tf: Tf, values: readonly number[], shape: readonly number[]): TfValue {
  return { tensor: tf.tensor(Int32Array.from(values), [...shape], 'int32'), dtype: 'int64' };
}

/** `x` reshaped to `shape`, or `x` itself when it has that shape already. */
function reshaped(ctx: KernelContext, x: TfValue, shape: readonly number[]): TfValue {
  return sameShape(x.tensor.shape, shape) ? x : same(x, ctx.tf.reshape(x.tensor, [...shape]));
}

/** A 1-D int32 index tensor. */
function indexTensor(tf: Tf, values: ArrayLike<number>): TfTensor {
  return tf.tensor1d(Int32Array.from(values), 'int32');
}

/** Shape of a per-axis table broadcast along `axis` of a rank-`rank` tensor. */
function alongAxis(rank: number, axis: number, length: number): number[] {
  return Array.from({ length: rank }, (_, position) => (position === axis ? length : 1));
}

/**
 * `x` broadcast to `shape`. On tfjs's wasm engine a multiplication by ones (XNNPACK, rank 6 at
 * most) broadcasts float32 about five times faster than its BroadcastTo and Tile kernels.
 */
function broadcast(tf: Tf, x: TfTensor, shape: readonly number[]): TfTensor {
  if (x.dtype === 'float32' && shape.length <= 6 && tf.getBackend() === 'wasm') return tf.mul(x, tf.ones([...shape]));
  return tf.broadcastTo(x, [...shape]);
}

const typedArrays = { float32: Float32Array, int32: Int32Array, bool: Uint8Array } as const;

/**
 * tf.slice, except on tfjs's cpu engine, whose Slice kernel copies a slice that is not one
 * contiguous run element by element through index buffers (about a second for 10^6 elements):
 * there the runs are copied directly, the cpu engine's data being plain host memory.
 */
function sliceTensor(tf: Tf, x: TfTensor, begin: readonly number[], size: readonly number[]): TfTensor {
  const shape = x.shape;
  if (sameShape(size, shape)) return x;
  if (tf.getBackend() !== 'cpu' || x.dtype === 'string' || x.dtype === 'complex64' || product(size) === 0) return tf.slice(x, [...begin], [...size]);
  let inner = shape.length - 1;
  while (begin[inner] === 0 && size[inner] === shape[inner]) inner--;
  // One contiguous run: tf.slice returns a view.
  if (size.slice(0, inner).every((dim) => dim === 1)) return tf.slice(x, [...begin], [...size]);
  const strides = rowMajorStrides(shape);
  const run = size[inner]! * strides[inner]!;
  const source = x.dataSync() as Float32Array | Int32Array | Uint8Array;
  const target = new typedArrays[x.dtype as keyof typeof typedArrays](product(size));
  const base = begin.reduce((offset, first, axis) => offset + first * strides[axis]!, 0);
  const counters = new Array<number>(inner).fill(0);
  for (let written = 0; written < target.length; written += run) {
    let offset = base;
    for (let axis = 0; axis < inner; axis++) offset += counters[axis]! * strides[axis]!;
    target.set(source.subarray(offset, offset + run), written);
    for (let axis = inner - 1; axis >= 0; axis--) {
      if (++counters[axis]! < size[axis]!) break;
      counters[axis] = 0;
    }
  }
  return tf.tensor(target, [...size], x.dtype);
}

/** Axes of Squeeze/Unsqueeze: the attribute before opset 13, the optional input 1 from then on. */
function axesOf(ctx: KernelContext): number[] | undefined {
  if (ctx.opset < 13) return ctx.intList('axes');
  return ctx.has(1) ? ctx.ints(1) : undefined;
}

/** Normalized, distinct axes for a rank-`rank` tensor. */
function distinctAxes(ctx: KernelContext, axes: readonly number[], rank: number): number[] {
  const normalized = axes.map((axis) => normalizeAxis(ctx, axis, rank));
  if (new Set(normalized).size !== normalized.length) ctx.invalid(`axes [${axes.join(', ')}] repeat an axis`);
  return normalized;
}

/** Engines whose tensors live in host or wasm memory, where reading indices back costs a copy at most. */
const hostEngines = new Set(['cpu', 'wasm']);

/**
 * Indices along an axis of `size` made non-negative (`index + size` where `index < 0`). On the
 * cpu and wasm engines they are read to check the range (onnxruntime rejects indices outside
 * [-size, size - 1]; a flattened scatter would otherwise write a wrong element) and only
 * negative ones cost device work; other engines fix them on the device, unchecked.
 */
function checkedIndices(ctx: KernelContext, indices: TfTensor, size: number, axis: number): TfTensor {
  const tf = ctx.tf;
  if (!hostEngines.has(tf.getBackend())) return tf.add(indices, tf.mul(tf.cast(tf.less(indices, 0), 'int32'), tf.scalar(size, 'int32')));
  const values = indices.dataSync() as Int32Array;
  let negative = false;
  for (let element = 0; element < values.length; element++) {
    const index = values[element]!;
    if (index < 0) {
      negative = true;
      if (index < -size) ctx.invalid(`index ${index} is out of range for axis ${axis} of size ${size}`);
    } else if (index >= size) ctx.invalid(`index ${index} is out of range for axis ${axis} of size ${size}`);
  }
  return negative ? tf.add(indices, tf.mul(tf.cast(tf.less(indices, 0), 'int32'), tf.scalar(size, 'int32'))) : indices;
}

/**
 * Flat positions into `dataShape` for GatherElements/ScatterElements: element c of `indices`
 * addresses data[c with c[axis] replaced by indices[c]], as one row-major offset.
 */
function flatPositions(ctx: KernelContext, indices: TfTensor, dataShape: readonly number[], axis: number): TfTensor {
  const tf = ctx.tf;
  const strides = rowMajorStrides(dataShape);
  const rank = dataShape.length;
  indices.shape.forEach((length, position) => {
    if (position !== axis && length > dataShape[position]!) ctx.invalid(`indices ${formatShape(indices.shape)} exceed data ${formatShape(dataShape)} outside axis ${axis}`);
  });
  let flat = checkedIndices(ctx, indices, dataShape[axis]!, axis);
  if (strides[axis] !== 1) flat = tf.mul(flat, tf.scalar(strides[axis]!, 'int32'));
  for (let position = 0; position < rank; position++) {
    const length = indices.shape[position]!;
    if (position === axis || length === 1) continue;
    const offsets = tf.reshape(tf.range(0, length * strides[position]!, strides[position]!, 'int32'), alongAxis(rank, position, length));
    flat = tf.add(flat, offsets);
  }
  return flat;
}

// ---------------------------------------------------------------------------
// Reshape, Flatten, Squeeze, Unsqueeze, Identity.

function reshape(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const input = x.tensor.shape;
  const requested = ctx.opset < 5 ? (ctx.intList('shape') ?? ctx.invalid("attribute 'shape' is required")) : ctx.ints(1);
  const allowZero = ctx.opset >= 14 && ctx.int('allowzero', 0) === 1;
  let inferred = -1;
  const shape = requested.map((dim, axis) => {
    if (dim === 0 && !allowZero) {
      if (axis >= input.length) ctx.invalid(`shape entry ${axis} is 0 (copy the input's dimension) but the input ${formatShape(input)} has rank ${input.length}`);
      return input[axis]!;
    }
    if (dim === -1) {
      if (inferred >= 0) ctx.invalid(`shape ${formatShape(requested)} has more than one -1`);
      inferred = axis;
    } else if (dim < 0) ctx.invalid(`shape ${formatShape(requested)} has an invalid entry ${dim}`);
    return dim;
  });
  const size = product(input);
  if (inferred >= 0) {
    const known = product(shape.filter((_, axis) => axis !== inferred));
    if (known === 0 || size % known !== 0) ctx.invalid(`cannot reshape ${formatShape(input)} (${size} elements) to ${formatShape(requested)}`);
    shape[inferred] = size / known;
  }
  if (product(shape) !== size) ctx.invalid(`cannot reshape ${formatShape(input)} (${size} elements) to ${formatShape(requested)} (${product(shape)} elements)`);
  return reshaped(ctx, x, shape);
}

function flatten(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const attribute = ctx.int('axis', 1);
  const axis = attribute < 0 ? attribute + shape.length : attribute;
  if (axis < 0 || axis > shape.length) ctx.invalid(`axis ${attribute} is outside [-${shape.length}, ${shape.length}] for an input of rank ${shape.length}`);
  return reshaped(ctx, x, [product(shape.slice(0, axis)), product(shape.slice(axis))]);
}

function squeeze(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const axes = axesOf(ctx);
  if (axes === undefined || axes.length === 0) return reshaped(ctx, x, shape.filter((dim) => dim !== 1));
  const removed = new Set(distinctAxes(ctx, axes, shape.length));
  for (const axis of removed) if (shape[axis] !== 1) ctx.invalid(`cannot squeeze axis ${axis} of ${formatShape(shape)}: its size is ${shape[axis]}, not 1`);
  return reshaped(ctx, x, shape.filter((_, axis) => !removed.has(axis)));
}

function unsqueeze(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const axes = axesOf(ctx) ?? ctx.invalid('Unsqueeze needs axes');
  const rank = shape.length + axes.length;
  const inserted = new Set(distinctAxes(ctx, axes, rank));
  const output: number[] = [];
  let next = 0;
  for (let axis = 0; axis < rank; axis++) output.push(inserted.has(axis) ? 1 : shape[next++]!);
  return reshaped(ctx, x, output);
}

// ---------------------------------------------------------------------------
// Transpose, Concat, Split, Slice.

function transpose(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const rank = x.tensor.shape.length;
  const perm = ctx.intList('perm') ?? Array.from({ length: rank }, (_, axis) => rank - 1 - axis);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((axis, position) => axis !== position)) {
    ctx.invalid(`perm [${perm.join(', ')}] is not a permutation of the input's ${rank} axes`);
  }
  if (perm.every((axis, position) => axis === position)) return x;
  return same(x, ctx.tf.transpose(x.tensor, perm));
}

function concat(ctx: KernelContext): TfValue {
  const inputs = ctx.inputs.filter((input): input is TfValue => input !== undefined);
  const first = inputs[0] ?? ctx.invalid('Concat needs at least one input');
  const rank = first.tensor.shape.length;
  const axis = normalizeAxis(ctx, ctx.int('axis', 1), rank);
  for (const input of inputs) {
    const shape = input.tensor.shape;
    if (shape.length !== rank || shape.some((dim, position) => position !== axis && dim !== first.tensor.shape[position])) {
      ctx.invalid(`inputs ${inputs.map((entry) => formatShape(entry.tensor.shape)).join(', ')} differ outside axis ${axis}`);
    }
  }
  if (inputs.length === 1) return first;
  return same(first, ctx.tf.concat(inputs.map((input) => input.tensor), axis));
}

function split(ctx: KernelContext): TfValue[] {
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const axis = normalizeAxis(ctx, ctx.int('axis', 0), shape.length);
  const dim = shape[axis]!;
  const outputs = ctx.node.outputs.length;
  let sizes: number[] | undefined;
  if (ctx.opset >= 13 || ctx.opset < 2) sizes = ctx.has(1) ? ctx.ints(1) : undefined;
  else sizes = ctx.intList('split');
  const numOutputs = ctx.opset >= 18 ? ctx.int('num_outputs') : undefined;
  if (sizes === undefined && numOutputs !== undefined) {
    if (numOutputs !== outputs) ctx.invalid(`num_outputs is ${numOutputs} but the node has ${outputs} outputs`);
    const chunk = Math.ceil(dim / numOutputs);
    sizes = Array.from({ length: numOutputs }, (_, index) => Math.max(0, Math.min(chunk, dim - chunk * index)));
  }
  if (sizes === undefined) {
    if (dim % outputs !== 0) ctx.invalid(`axis ${axis} of ${formatShape(shape)} does not split evenly into ${outputs} outputs; give 'split'`);
    sizes = new Array<number>(outputs).fill(dim / outputs);
  }
  if (sizes.length !== outputs) ctx.invalid(`split [${sizes.join(', ')}] has ${sizes.length} entries for ${outputs} outputs`);
  if (sizes.some((size) => size < 0) || sizes.reduce((sum, size) => sum + size, 0) !== dim) {
    ctx.invalid(`split [${sizes.join(', ')}] does not add up to the size ${dim} of axis ${axis}`);
  }
  if (outputs === 1) return [x];
  let start = 0;
  return sizes.map((length) => {
    const begin = shape.map((_, position) => (position === axis ? start : 0));
    start += length;
    return same(x, sliceTensor(ctx.tf, x.tensor, begin, shape.map((dim, position) => (position === axis ? length : dim))));
  });
}

function slice(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const rank = shape.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = ctx.intList('starts') ?? ctx.invalid("attribute 'starts' is required");
    ends = ctx.intList('ends') ?? ctx.invalid("attribute 'ends' is required");
    axes = ctx.intList('axes');
  } else {
    starts = ctx.ints(1);
    ends = ctx.ints(2);
    axes = ctx.has(3) ? ctx.ints(3) : undefined;
    steps = ctx.has(4) ? ctx.ints(4) : undefined;
  }
  const sliceAxes = distinctAxes(ctx, axes ?? starts.map((_, index) => index), rank);
  const sliceSteps = steps ?? starts.map(() => 1);
  if (ends.length !== starts.length || sliceAxes.length !== starts.length || sliceSteps.length !== starts.length) {
    ctx.invalid(`starts [${starts.join(', ')}], ends [${ends.join(', ')}], axes and steps must have the same length`);
  }
  const begin = new Array<number>(rank).fill(0);
  const size = [...shape];
  const strided: { axis: number; first: number; step: number; length: number }[] = [];
  const output = [...shape];
  sliceAxes.forEach((axis, index) => {
    const step = sliceSteps[index]!;
    if (step === 0) ctx.invalid('Slice steps cannot be 0');
    const { first, length } = sliceRange(starts[index]!, ends[index]!, step, shape[axis]!);
    output[axis] = length;
    if (step === 1 || length === 1) {
      begin[axis] = first;
      size[axis] = length;
    } else strided.push({ axis, first, step, length });
  });
  if (product(output) === 0) return same(x, tf.zeros(output, x.tensor.dtype));
  let result = x.tensor;
  result = sliceTensor(tf, result, begin, size);
  // Steps other than 1 gather the chosen positions (tfjs's stridedSlice handles only float32 on wasm).
  for (const { axis, first, step, length } of strided) {
    result = tf.gather(result, indexTensor(tf, Array.from({ length }, (_, index) => first + index * step)), axis);
  }
  return result === x.tensor ? x : same(x, result);
}

// ---------------------------------------------------------------------------
// Gather, GatherElements, ScatterElements.

function gather(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const data = ctx.input(0);
  const indices = ctx.input(1).tensor;
  const axis = normalizeAxis(ctx, ctx.int('axis', 0), data.tensor.shape.length);
  return same(data, tf.gather(data.tensor, checkedIndices(ctx, indices, data.tensor.shape[axis]!, axis), axis));
}

function checkElementwiseIndices(ctx: KernelContext, data: TfTensor, indices: TfTensor): number {
  const rank = data.shape.length;
  if (indices.shape.length !== rank) ctx.invalid(`indices have rank ${indices.shape.length} but data has rank ${rank}; they must match`);
  return normalizeAxis(ctx, ctx.int('axis', 0), rank);
}

function gatherElements(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const data = ctx.input(0);
  const indices = ctx.input(1).tensor;
  const axis = checkElementwiseIndices(ctx, data.tensor, indices);
  if (indices.size === 0) return same(data, tf.zeros(indices.shape, data.tensor.dtype));
  return same(data, tf.gather(tf.reshape(data.tensor, [-1]), flatPositions(ctx, indices, data.tensor.shape, axis)));
}

/** ScatterElements with a reduction tfjs has no scatter for (mul, max, min): a loop on the host. */
function scatterOnHost(ctx: KernelContext, data: TfValue, indices: TfTensor, updates: TfTensor, axis: number, reduction: string): TfTensor {
  const shape = data.tensor.shape;
  const target = (data.tensor.dataSync() as Float32Array | Int32Array | Uint8Array).slice();
  const positions = indices.dataSync() as Int32Array;
  const values = updates.dataSync() as Float32Array | Int32Array;
  const strides = rowMajorStrides(shape);
  const indexShape = indices.shape;
  const rank = shape.length;
  const coordinates = new Array<number>(rank).fill(0);
  const combine =
    reduction === 'mul'
      ? (a: number, b: number): number => a * b
      : reduction === 'max'
        ? (a: number, b: number): number => Math.max(a, b)
        : reduction === 'min'
          ? (a: number, b: number): number => Math.min(a, b)
          : ctx.unsupported(`does not support ScatterElements reduction '${reduction}'`);
  for (let element = 0; element < positions.length; element++) {
    let index = positions[element]!;
    const dim = shape[axis]!;
    if (index < -dim || index >= dim) ctx.invalid(`index ${index} is out of range for axis ${axis} of size ${dim}`);
    if (index < 0) index += dim;
    let offset = 0;
    for (let position = 0; position < rank; position++) offset += (position === axis ? index : coordinates[position]!) * strides[position]!;
    target[offset] = combine(target[offset]!, values[element]!);
    for (let position = rank - 1; position >= 0; position--) {
      if (++coordinates[position]! < indexShape[position]!) break;
      coordinates[position] = 0;
    }
  }
  return ctx.tf.tensor(target, shape, data.tensor.dtype);
}

function scatterElements(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const data = ctx.input(0);
  const indices = ctx.input(1).tensor;
  const updates = ctx.input(2).tensor;
  const axis = checkElementwiseIndices(ctx, data.tensor, indices);
  if (!sameShape(indices.shape, updates.shape)) ctx.invalid(`indices ${formatShape(indices.shape)} and updates ${formatShape(updates.shape)} must have the same shape`);
  const reduction = ctx.opset >= 16 ? ctx.string('reduction', 'none') : 'none';
  if (indices.size === 0) return data;
  const shape = data.tensor.shape;
  // Sums and products of 8- and 16-bit integers wrap as onnxruntime's do.
  const narrow = data.dtype === 'int8' || data.dtype === 'uint8' || data.dtype === 'int16' || data.dtype === 'uint16';
  if (reduction === 'none' || reduction === 'add') {
    const positions = tf.reshape(flatPositions(ctx, indices, shape, axis), [-1, 1]);
    const flatUpdates = tf.reshape(updates, [-1]);
    if (reduction === 'none') {
      return same(data, tf.reshape(tf.tensorScatterUpdate(tf.reshape(data.tensor, [-1]), positions, flatUpdates), shape));
    }
    if (data.dtype === 'bool') ctx.unsupported("does not support ScatterElements reduction 'add' on bool data");
    const sum = tf.add(data.tensor, tf.reshape(tf.scatterND(positions, flatUpdates, [data.tensor.size]), shape));
    return same(data, narrow ? wrapInteger(ctx, sum, data.dtype) : sum);
  }
  if (data.dtype === 'bool') ctx.unsupported(`does not support ScatterElements reduction '${reduction}' on bool data`);
  const combined = scatterOnHost(ctx, data, indices, updates, axis, reduction);
  return same(data, narrow ? wrapInteger(ctx, combined, data.dtype) : combined);
}

// ---------------------------------------------------------------------------
// Shape, Size, Constant, ConstantOfShape, Range.

function shapeOp(ctx: KernelContext): TfValue {
  const shape = ctx.input(0).tensor.shape;
  const rank = shape.length;
  let dims = shape;
  if (ctx.opset >= 15) {
    const clamp = (value: number): number => Math.min(Math.max(value < 0 ? value + rank : value, 0), rank);
    const start = clamp(ctx.int('start', 0));
    const end = clamp(ctx.int('end', rank));
    dims = shape.slice(start, Math.max(start, end));
  }
  return int64Value(ctx.tf, dims, [dims.length]);
}

/** The value of a Constant node from whichever value_* attribute it carries. */
function constantTensor(ctx: KernelContext): Tensor {
  const node = ctx.node;
  const names = ['value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'value_string', 'value_strings', 'sparse_value'];
  const present = names.filter((name) => node.attributes.has(name));
  if (present.length !== 1) ctx.invalid(`a Constant needs exactly one of ${names.join(', ')}; it has ${present.length === 0 ? 'none' : present.join(', ')}`);
  switch (present[0]) {
    case 'value':
      return ctx.tensorAttribute('value')!;
    case 'value_float':
      return Tensor.scalar('float32', ctx.float('value_float')!);
    case 'value_floats': {
      const values = ctx.floatList('value_floats')!;
      return Tensor.from('float32', [values.length], values);
    }
    case 'value_int':
      return Tensor.scalar('int64', ctx.int('value_int')!);
    case 'value_ints':
      return Tensor.int64(ctx.intList('value_ints')!);
    case 'value_string':
      return Tensor.scalar('string', ctx.string('value_string')!);
    case 'value_strings': {
      const values = getAttribute(node, 'value_strings', 'strings')!;
      return Tensor.from('string', [values.length], values);
    }
    default:
      return ctx.unsupported('does not support sparse_value constants; convert the constant to a dense tensor');
  }
}

interface HostConstant {
  readonly data: Float32Array | Int32Array | Uint8Array | string[];
  readonly shape: number[];
  readonly dtype: DType;
}

/** Constants converted once per node (int64 and float16 data take a pass over every element). */
const constantCache = new WeakMap<Node, HostConstant>();

function constant(ctx: KernelContext): TfValue {
  let cached = constantCache.get(ctx.node);
  if (cached === undefined) {
    const host = constantTensor(ctx);
    // Int64 sentinels (Slice ends of INT64_MAX) clamp to int32, as initializers do.
    cached = { data: hostToTfData(host, `the value of Constant '${ctx.node.name}'`, true), shape: [...host.shape], dtype: host.dtype };
    constantCache.set(ctx.node, cached);
  }
  const type = tfDType(cached.dtype);
  const data = type === 'bool' ? Uint8Array.from(cached.data as Uint8Array) : cached.data;
  return { tensor: ctx.tf.tensor(data as never, cached.shape, type), dtype: cached.dtype };
}

function constantOfShape(ctx: KernelContext): TfValue {
  const shape = ctx.has(0) ? ctx.ints(0) : [];
  if (shape.some((dim) => dim < 0)) ctx.invalid(`shape ${formatShape(shape)} has a negative dimension`);
  const fill = ctx.tensorAttribute('value') ?? Tensor.scalar('float32', 0);
  if (fill.size !== 1) ctx.invalid(`attribute 'value' must hold one element, not ${fill.size}`);
  const element = hostToTfData(fill, `attribute 'value' of ConstantOfShape '${ctx.node.name}'`)[0]!;
  const type = tfDType(fill.dtype);
  if (type === 'string') ctx.unsupported('does not fill string tensors');
  return { tensor: ctx.tf.fill(shape, type === 'bool' ? Number(element) : (element as number), type), dtype: fill.dtype };
}

function range(ctx: KernelContext): TfValue {
  const dtype = ctx.input(0).dtype;
  const [start, limit, delta] = [0, 1, 2].map((index) => {
    const values = ctx.numbers(index);
    if (values.length !== 1) ctx.invalid(`input ${index} must hold one value, not ${values.length}`);
    return values[0]!;
  }) as [number, number, number];
  if (delta === 0) ctx.invalid('delta cannot be 0');
  const floating = isFloating(dtype);
  // onnxruntime: count = ceil((limit - start) / delta), the difference taken in the element type.
  const count = Math.max(0, Math.ceil((floating ? Math.fround(limit - start) : limit - start) / delta));
  const values = floating ? new Float32Array(count) : new Int32Array(count);
  // Floats accumulate step by step, as onnxruntime writes them.
  let current = start;
  for (let index = 0; index < count; index++) {
    values[index] = current;
    current = floating ? Math.fround(current + delta) : current + delta;
  }
  return { tensor: ctx.tf.tensor(values, [count], floating ? 'float32' : 'int32'), dtype };
}

// ---------------------------------------------------------------------------
// Cast.

const castNames: Record<string, DType> = {
  FLOAT: 'float32',
  DOUBLE: 'float64',
  FLOAT16: 'float16',
  INT64: 'int64',
  INT32: 'int32',
  INT16: 'int16',
  INT8: 'int8',
  UINT64: 'uint64',
  UINT32: 'uint32',
  UINT16: 'uint16',
  UINT8: 'uint8',
  BOOL: 'bool',
  STRING: 'string',
};

function castTarget(ctx: KernelContext): DType {
  const attribute = ctx.node.attributes.get('to');
  if (attribute?.type === 'int') return dtypeFromOnnx(attribute.value, `attribute 'to' of Cast '${ctx.node.name}'`);
  // Opset 1-5 spelled the type as a string.
  if (attribute?.type === 'string') {
    const dtype = castNames[attribute.value.toUpperCase()];
    if (dtype !== undefined) return dtype;
  }
  return ctx.invalid("attribute 'to' is missing or names no known type");
}

/**
 * Float32 values rounded to a narrower float (float16: 10 fraction bits, exponents from -14;
 * bfloat16: 7 and -126), ties to even, overflowing to infinity at `overflow`, as a cast does.
 */
function roundToFloat(tf: Tf, x: TfTensor, fractionBits: number, minExponent: number, overflow: number): TfTensor {
  const magnitude = tf.maximum(tf.abs(x), 2 ** minExponent);
  let exponent = tf.floor(tf.div(tf.log(magnitude), Math.LN2));
  // The logarithm may be one off next to powers of two.
  exponent = tf.sub(exponent, tf.cast(tf.greater(tf.pow(2, exponent), magnitude), 'float32'));
  exponent = tf.add(exponent, tf.cast(tf.lessEqual(tf.pow(2, tf.add(exponent, 1)), magnitude), 'float32'));
  const quantum = tf.pow(2, tf.sub(exponent, fractionBits));
  const rounded = tf.mul(tf.round(tf.div(x, quantum)), quantum);
  return tf.where(tf.greaterEqual(tf.abs(x), overflow), tf.mul(tf.sign(x), Number.POSITIVE_INFINITY), rounded);
}

const FLOAT16_OVERFLOW = 65520;
const BFLOAT16_OVERFLOW = (2 - 2 ** -8) * 2 ** 127;

/** `x` converted to `to` with ONNX Cast semantics, as tfjs holds that type. */
export function castValue(ctx: KernelContext, x: TfValue, to: DType): TfValue {
  const tf = ctx.tf;
  const from = x.dtype;
  if (from === to) return x;
  if (from === 'string' || to === 'string') ctx.unsupported(`does not cast between strings and numbers (${from} to ${to})`);
  const tensor = x.tensor;
  let result: TfTensor;
  if (to === 'bool') {
    // Any non-zero value, NaN included, is true (tfjs's wasm cast to bool keeps raw values).
    result = from === 'bool' ? tensor : tf.notEqual(tensor, tf.scalar(0, tensor.dtype as 'float32'));
  } else if (isFloating(to)) {
    const asFloat = tensor.dtype === 'float32' ? tensor : tf.cast(tensor, 'float32');
    // Bool and 8-bit integers fit both 16-bit floats exactly.
    const exact = from === 'bool' || from === 'int8' || from === 'uint8';
    if (to === 'float16' && !exact) result = roundToFloat(tf, asFloat, 10, -14, FLOAT16_OVERFLOW);
    else if (to === 'bfloat16' && !exact) result = roundToFloat(tf, asFloat, 7, -126, BFLOAT16_OVERFLOW);
    else result = asFloat;
  } else if (from === 'bool') {
    result = tf.cast(tensor, 'int32');
  } else {
    const narrow = to === 'int8' || to === 'uint8' || to === 'int16' || to === 'uint16';
    result = isFloating(from) || narrow ? wrapInteger(ctx, tensor, to) : tensor;
  }
  return { tensor: result, dtype: to };
}

function cast(ctx: KernelContext): TfValue {
  return castValue(ctx, ctx.input(0), castTarget(ctx));
}

// ---------------------------------------------------------------------------
// Expand, Tile, Pad.

function expand(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const requested = ctx.ints(1);
  const rank = Math.max(shape.length, requested.length);
  const output = Array.from({ length: rank }, (_, axis) => {
    const dim = shape[axis - (rank - shape.length)] ?? 1;
    const other = requested[axis - (rank - requested.length)] ?? 1;
    if (dim !== 1 && other !== 1 && dim !== other) ctx.invalid(`shape ${formatShape(shape)} does not broadcast to ${formatShape(requested)} (axis ${axis}: ${dim} vs ${other})`);
    return dim === 1 ? other : dim;
  });
  if (sameShape(shape, output)) return x;
  if (product(output) === 0) return same(x, ctx.tf.zeros(output, x.tensor.dtype));
  return same(x, broadcast(ctx.tf, x.tensor, output));
}

function tile(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const repeats = ctx.ints(1);
  if (repeats.length !== shape.length) ctx.invalid(`repeats [${repeats.join(', ')}] must have one entry per axis of ${formatShape(shape)}`);
  if (repeats.some((repeat) => repeat < 0)) ctx.invalid(`repeats [${repeats.join(', ')}] cannot be negative`);
  if (repeats.every((repeat) => repeat === 1)) return x;
  const output = shape.map((dim, axis) => dim * repeats[axis]!);
  if (product(output) === 0) return same(x, ctx.tf.zeros(output, x.tensor.dtype));
  // A repeat axis before each repeated one, broadcast, then merged: faster than Tile on wasm.
  const expanded: number[] = [];
  const target: number[] = [];
  shape.forEach((dim, axis) => {
    if (repeats[axis] !== 1) {
      expanded.push(1);
      target.push(repeats[axis]!);
    }
    expanded.push(dim);
    target.push(dim);
  });
  if (target.length > 6) return same(x, ctx.tf.tile(x.tensor, repeats));
  return same(x, ctx.tf.reshape(broadcast(ctx.tf, ctx.tf.reshape(x.tensor, expanded), target), output));
}

/** Source position along an axis of `dim` for output position `source` (before-relative) in a pad mode. */
function padSource(mode: string, source: number, dim: number): number {
  if (source >= 0 && source < dim) return source;
  if (mode === 'edge') return Math.min(Math.max(source, 0), dim - 1);
  if (mode === 'wrap') return ((source % dim) + dim) % dim;
  // reflect
  const period = 2 * (dim - 1);
  if (period === 0) return 0;
  const folded = ((source % period) + period) % period;
  return folded >= dim ? period - folded : folded;
}

function pad(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const rank = shape.length;
  const mode = ctx.string('mode', 'constant');
  if (!['constant', 'reflect', 'edge', 'wrap'].includes(mode)) ctx.invalid(`unknown pad mode '${mode}'`);
  let amounts: number[];
  let fill = 0;
  let axes: number[] = Array.from({ length: rank }, (_, axis) => axis);
  if (ctx.opset < 11) {
    amounts = ctx.intList('pads') ?? ctx.intList('paddings') ?? ctx.invalid("attribute 'pads' is required");
    fill = ctx.float('value', 0);
  } else {
    amounts = ctx.ints(1);
    if (ctx.has(2) && ctx.input(2).tensor.size > 0) fill = ctx.numbers(2)[0]!;
    if (ctx.has(3)) axes = distinctAxes(ctx, ctx.ints(3), rank);
  }
  if (amounts.length !== 2 * axes.length) ctx.invalid(`pads [${amounts.join(', ')}] needs ${2 * axes.length} entries for ${axes.length} axes`);
  const before = new Array<number>(rank).fill(0);
  const after = new Array<number>(rank).fill(0);
  axes.forEach((axis, index) => {
    before[axis] = amounts[index]!;
    after[axis] = amounts[index + axes.length]!;
  });
  if (before.every((amount) => amount === 0) && after.every((amount) => amount === 0)) return x;
  const output = shape.map((dim, axis) => dim + before[axis]! + after[axis]!);
  if (output.some((dim) => dim < 0)) ctx.invalid(`pads [${amounts.join(', ')}] remove more than ${formatShape(shape)} holds`);
  let result = x.tensor;
  // Negative pads crop first.
  if (before.some((amount) => amount < 0) || after.some((amount) => amount < 0)) {
    const begin = before.map((amount) => Math.max(0, -amount));
    const size = shape.map((dim, axis) => dim - begin[axis]! - Math.max(0, -after[axis]!));
    result = sliceTensor(tf, result, begin, size);
  }
  const padding = shape.map((_, axis) => [Math.max(0, before[axis]!), Math.max(0, after[axis]!)] as [number, number]);
  if (product(output) === 0) return same(x, tf.zeros(output, x.tensor.dtype));
  if (mode === 'constant') return same(x, padding.every(([low, high]) => low === 0 && high === 0) ? result : tf.pad(result, padding, fill));
  // reflect, edge, wrap: gather each padded axis through a table of source positions.
  padding.forEach(([low, high], axis) => {
    if (low === 0 && high === 0) return;
    const dim = result.shape[axis]!;
    if (dim === 0) ctx.invalid(`cannot pad axis ${axis} of ${formatShape(shape)} in '${mode}' mode: it is empty`);
    const table = Array.from({ length: dim + low + high }, (_, position) => padSource(mode, position - low, dim));
    result = tf.gather(result, indexTensor(tf, table), axis);
  });
  return same(x, result);
}

// ---------------------------------------------------------------------------
// Resize, Upsample.

const f32 = Math.fround;

/** onnxruntime's coordinate transformations in float32: the input coordinate of output `x`. */
function originalCoordinate(mode: string, x: number, scale: number, outLength: number, inLength: number, roiStart: number, roiEnd: number): number {
  switch (mode) {
    case 'asymmetric':
      return f32(x / scale);
    case 'pytorch_half_pixel':
      return outLength > 1 ? f32(f32(f32(x + 0.5) / scale) - 0.5) : 0;
    case 'tf_half_pixel_for_nn':
      return f32(f32(x + 0.5) / scale);
    case 'align_corners':
      return outLength === 1 ? 0 : f32(f32(x * (inLength - 1)) / (outLength - 1));
    case 'tf_crop_and_resize':
      return outLength > 1
        ? f32(f32(roiStart * (inLength - 1)) + f32(f32(f32(x * f32(roiEnd - roiStart)) * (inLength - 1)) / (outLength - 1)))
        : f32(0.5 * f32(roiStart + roiEnd) * (inLength - 1));
    case 'half_pixel_symmetric': {
      const adjustment = f32(outLength / f32(scale * inLength));
      const offset = f32(f32(inLength / 2) * f32(1 - adjustment));
      return f32(offset + (x + 0.5) / scale - 0.5);
    }
    default:
      return f32(f32(f32(x + 0.5) / scale) - 0.5);
  }
}

/** std::round: halves away from zero. */
function roundHalfAway(value: number): number {
  return Math.sign(value) * Math.round(Math.abs(value));
}

function nearestPixel(mode: string, value: number, downsampling: boolean): number {
  switch (mode) {
    case 'simple':
      return downsampling ? Math.ceil(value) : Math.trunc(value);
    case 'round_prefer_ceil':
      return roundHalfAway(value);
    case 'floor':
      return Math.floor(value);
    case 'ceil':
      return Math.ceil(value);
    default:
      return value === Math.trunc(value) + 0.5 ? Math.floor(value) : roundHalfAway(value);
  }
}

/** Keys' cubic convolution weights of the four taps around fraction `s`. */
function cubicWeights(s: number, a: number): number[] {
  const t = Math.abs(s);
  return [
    f32(((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a),
    f32(((a + 2) * t - (a + 3)) * t * t + 1),
    f32(((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1),
    f32(((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a),
  ];
}

interface ResizeAxis {
  axis: number;
  inLength: number;
  outLength: number;
  scale: number;
  roiStart: number;
  roiEnd: number;
}

function resize(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const shape = x.tensor.shape;
  const rank = shape.length;
  if (rank === 0) ctx.invalid('the input must have at least one dimension');
  const upsample = ctx.node.opType === 'Upsample';
  const opset = upsample ? Math.min(ctx.opset, 9) : ctx.opset;
  const mode = ctx.string('mode', 'nearest');
  if (!['nearest', 'linear', 'cubic'].includes(mode)) ctx.invalid(`unknown mode '${mode}'`);
  const optional = (index: number): number[] | undefined => (ctx.has(index) && ctx.input(index).tensor.size > 0 ? ctx.numbers(index) : undefined);
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  let roi: number[] | undefined;
  if (upsample && ctx.opset < 9) scales = ctx.floatList('scales') ?? ctx.invalid("attribute 'scales' is required");
  else if (opset < 11) scales = optional(1) ?? ctx.invalid('scales are required');
  else {
    roi = optional(1);
    scales = optional(2);
    sizes = ctx.has(3) && ctx.input(3).tensor.size > 0 ? ctx.ints(3) : undefined;
  }
  if (opset >= 18 && ctx.int('antialias', 0) !== 0) ctx.unsupported('does not support Resize with antialias');
  const axes = opset >= 18 && ctx.intList('axes') !== undefined ? distinctAxes(ctx, ctx.intList('axes')!, rank) : Array.from({ length: rank }, (_, axis) => axis);
  const fullScales = new Array<number>(rank).fill(1);
  const outShape = [...shape];
  if (sizes !== undefined) {
    if (sizes.length !== axes.length) ctx.invalid(`sizes [${sizes.join(', ')}] needs ${axes.length} entries`);
    axes.forEach((axis, index) => {
      outShape[axis] = sizes[index]!;
      fullScales[axis] = shape[axis] === 0 ? 1 : f32(f32(sizes[index]!) / f32(shape[axis]!));
    });
    const policy = opset >= 18 ? ctx.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy !== 'stretch') {
      if (policy !== 'not_larger' && policy !== 'not_smaller') ctx.invalid(`unknown keep_aspect_ratio_policy '${policy}'`);
      const chosen = axes.map((axis) => fullScales[axis]!);
      const scale = policy === 'not_larger' ? Math.min(...chosen) : Math.max(...chosen);
      for (const axis of axes) {
        fullScales[axis] = scale;
        outShape[axis] = roundHalfAway(f32(scale * shape[axis]!));
      }
    }
  } else if (scales !== undefined) {
    if (scales.length !== axes.length) ctx.invalid(`scales [${scales.join(', ')}] needs ${axes.length} entries for ${formatShape(shape)}`);
    axes.forEach((axis, index) => {
      const scale = f32(scales[index]!);
      if (!(scale > 0) || (upsample && scale < 1)) ctx.invalid(`scale ${scale} must be ${upsample ? 'at least 1' : 'positive'}`);
      fullScales[axis] = scale;
      outShape[axis] = Math.trunc(f32(scale * shape[axis]!));
    });
  } else ctx.invalid('Resize needs scales or sizes');
  if (sameShape(shape, outShape)) return x;
  if (product(outShape) === 0) return same(x, tf.zeros(outShape, x.tensor.dtype));
  if (mode !== 'nearest' && !isFloating(x.dtype)) ctx.unsupported(`does not support '${mode}' Resize of ${x.dtype} tensors`);

  const transformation = opset >= 11 ? ctx.string('coordinate_transformation_mode', 'half_pixel') : 'asymmetric';
  const known = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn', 'tf_crop_and_resize'];
  if (!known.includes(transformation)) ctx.invalid(`unknown coordinate_transformation_mode '${transformation}'`);
  const nearestMode = mode === 'nearest' && opset >= 11 ? ctx.string('nearest_mode', 'round_prefer_floor') : 'simple';
  const extrapolate = transformation === 'tf_crop_and_resize';
  const extrapolation = ctx.float('extrapolation_value', 0);
  const cubicA = ctx.float('cubic_coeff_a', -0.75);
  const excludeOutside = ctx.int('exclude_outside', 0) !== 0;
  // roi holds [starts..., ends...] for the resized axes.
  const roiOf = (axis: number): [number, number] => {
    if (!extrapolate) return [0, 1];
    if (roi === undefined) ctx.invalid("tf_crop_and_resize needs the 'roi' input");
    const index = axes.indexOf(axis);
    if (roi.length !== 2 * axes.length) ctx.invalid(`roi [${roi.join(', ')}] needs ${2 * axes.length} entries`);
    return [f32(roi[index]!), f32(roi[index + axes.length]!)];
  };

  let result = x.tensor;
  const outside: TfTensor[] = [];
  const nearestTables = new Map<number, number[]>();
  for (let axis = 0; axis < rank; axis++) {
    const scale = fullScales[axis]!;
    // onnxruntime keeps an axis of scale 1 as it is.
    if (scale === 1) continue;
    const [roiStart, roiEnd] = roiOf(axis);
    const spec: ResizeAxis = { axis, inLength: shape[axis]!, outLength: outShape[axis]!, scale, roiStart, roiEnd };
    const coordinates = Array.from({ length: spec.outLength }, (_, position) => originalCoordinate(transformation, position, scale, spec.outLength, spec.inLength, roiStart, roiEnd));
    if (extrapolate && coordinates.some((value) => value < 0 || value > spec.inLength - 1)) {
      const mask = coordinates.map((value) => (value < 0 || value > spec.inLength - 1 ? 1 : 0));
      outside.push(tf.reshape(tf.tensor1d(Uint8Array.from(mask), 'bool'), alongAxis(rank, axis, spec.outLength)));
    }
    if (mode === 'nearest') {
      nearestTables.set(axis, coordinates.map((value) => Math.min(Math.max(nearestPixel(nearestMode, value, scale < 1), 0), spec.inLength - 1)));
    } else if (mode === 'linear') result = linearAlong(tf, result, spec, coordinates, rank);
    else result = cubicAlong(tf, result, spec, coordinates, rank, cubicA, excludeOutside);
  }
  if (nearestTables.size > 0) result = nearestResize(tf, result, nearestTables, outShape);
  if (outside.length > 0) {
    let mask = outside[0]!;
    for (const other of outside.slice(1)) mask = tf.logicalOr(mask, other);
    result = tf.where(tf.broadcastTo(mask, outShape), tf.fill(outShape, result.dtype === 'float32' ? extrapolation : Math.trunc(extrapolation), result.dtype as 'float32'), result);
  }
  return same(x, result);
}

/**
 * Nearest-neighbour resizing through per-axis tables of source positions. Where every table
 * repeats each position k times (integer upsampling, as most models use it), the copies are
 * one broadcast, several times faster than a gather per axis.
 */
function nearestResize(tf: Tf, x: TfTensor, tables: ReadonlyMap<number, number[]>, outShape: readonly number[]): TfTensor {
  const expanded: number[] = [];
  const target: number[] = [];
  let repeats = true;
  x.shape.forEach((dim, axis) => {
    expanded.push(dim);
    target.push(dim);
    const table = tables.get(axis);
    if (table === undefined) return;
    const factor = table.length / dim;
    if (!Number.isInteger(factor) || table.some((source, position) => source !== Math.floor(position / factor))) repeats = false;
    expanded.push(1);
    target.push(factor);
  });
  if (repeats && target.length <= 6) return tf.reshape(broadcast(tf, tf.reshape(x, expanded), target), [...outShape]);
  let result = x;
  for (const [axis, table] of tables) result = tf.gather(result, indexTensor(tf, table), axis);
  return result;
}

/** Linear interpolation along one axis, with onnxruntime's clamping and weights. */
function linearAlong(tf: Tf, x: TfTensor, spec: ResizeAxis, coordinates: readonly number[], rank: number): TfTensor {
  const low: number[] = [];
  const high: number[] = [];
  const lowWeight: number[] = [];
  const highWeight: number[] = [];
  for (const coordinate of coordinates) {
    const clamped = f32(Math.max(0, Math.min(coordinate, spec.inLength - 1)));
    const first = Math.min(Math.trunc(clamped), spec.inLength - 1);
    const second = Math.min(first + 1, spec.inLength - 1);
    low.push(first);
    high.push(second);
    // The weight of each tap is the distance to the other one.
    lowWeight.push(first === second ? 0.5 : f32(Math.abs(clamped - second)));
    highWeight.push(first === second ? 0.5 : f32(Math.abs(clamped - first)));
  }
  const weights = (values: number[]): TfTensor => tf.reshape(tf.tensor1d(values, 'float32'), alongAxis(rank, spec.axis, spec.outLength));
  return tf.add(tf.mul(tf.gather(x, indexTensor(tf, low), spec.axis), weights(lowWeight)), tf.mul(tf.gather(x, indexTensor(tf, high), spec.axis), weights(highWeight)));
}

/** Cubic convolution along one axis: four clamped taps, weights renormalized with exclude_outside. */
function cubicAlong(tf: Tf, x: TfTensor, spec: ResizeAxis, coordinates: readonly number[], rank: number, a: number, excludeOutside: boolean): TfTensor {
  const taps: number[][] = [[], [], [], []];
  const tapWeights: number[][] = [[], [], [], []];
  for (const coordinate of coordinates) {
    const base = Math.floor(coordinate);
    const weights = cubicWeights(f32(coordinate - base), a);
    let total = 1;
    if (excludeOutside) {
      weights.forEach((_, tap) => {
        const position = base - 1 + tap;
        if (position < 0 || position >= spec.inLength) weights[tap] = 0;
      });
      total = f32(weights.reduce((sum, weight) => f32(sum + weight), 0));
    }
    for (let tap = 0; tap < 4; tap++) {
      taps[tap]!.push(Math.min(Math.max(base - 1 + tap, 0), spec.inLength - 1));
      tapWeights[tap]!.push(f32(weights[tap]! / total));
    }
  }
  let result: TfTensor | undefined;
  for (let tap = 0; tap < 4; tap++) {
    const term = tf.mul(tf.gather(x, indexTensor(tf, taps[tap]!), spec.axis), tf.reshape(tf.tensor1d(tapWeights[tap]!, 'float32'), alongAxis(rank, spec.axis, spec.outLength)));
    result = result === undefined ? term : tf.add(result, term);
  }
  return result!;
}

// ---------------------------------------------------------------------------
// Dropout, NonZero.

/** Per-node call counts, so a seeded Dropout draws a new mask each run (as onnxruntime's generator advances). */
const dropoutCalls = new WeakMap<Node, number>();

function dropout(ctx: KernelContext): KernelResult {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const wantsMask = ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '';
  let ratio = 0.5;
  let training = false;
  if (ctx.opset < 7) {
    ratio = ctx.float('ratio', 0.5);
    training = ctx.int('is_test', 0) === 0;
  } else if (ctx.opset < 12) ratio = ctx.float('ratio', 0.5);
  else {
    if (ctx.has(1)) ratio = ctx.numbers(1)[0]!;
    if (ctx.has(2)) training = ctx.numbers(2)[0] !== 0;
  }
  if (!(ratio >= 0 && ratio < 1)) ctx.invalid(`ratio ${ratio} must be in [0, 1)`);
  // Before opset 10 the mask has the input's type; from opset 10 it is bool.
  const maskType: DType = ctx.opset < 10 ? x.dtype : 'bool';
  const shape = x.tensor.shape;
  if (!training || ratio === 0) {
    if (!wantsMask) return [x];
    // onnxruntime fills the inference mask with zeros before opset 12 and with true from then on.
    const keep = ctx.opset >= 12;
    return [x, { tensor: tf.fill(shape, keep ? 1 : 0, tfDType(maskType)), dtype: maskType }];
  }
  if (!isFloating(x.dtype)) ctx.unsupported(`does not run training-mode Dropout on ${x.dtype} tensors`);
  const seedAttribute = ctx.int('seed');
  let seed: string | undefined;
  if (seedAttribute !== undefined) {
    const calls = dropoutCalls.get(ctx.node) ?? 0;
    dropoutCalls.set(ctx.node, calls + 1);
    seed = `${seedAttribute}:${calls}`;
  }
  const keep = tf.greaterEqual(tf.randomUniform(shape, 0, 1, 'float32', seed as never), ratio);
  const output = tf.div(tf.mul(x.tensor, tf.cast(keep, 'float32')), f32(1 - ratio));
  if (!wantsMask) return [same(x, output)];
  return [same(x, output), { tensor: maskType === 'bool' ? keep : tf.cast(keep, 'float32'), dtype: maskType }];
}

function nonZero(ctx: KernelContext): TfValue {
  const x = ctx.input(0);
  if (x.dtype === 'string') ctx.unsupported('does not run NonZero on strings');
  const shape = x.tensor.shape;
  // The output's size depends on the values: they are read on the host.
  const values = x.tensor.dataSync() as Float32Array | Int32Array | Uint8Array;
  let count = 0;
  for (let index = 0; index < values.length; index++) if (values[index] !== 0) count++;
  if (shape.length === 0) return int64Value(ctx.tf, count === 0 ? [] : [0], [1, count]);
  const rank = shape.length;
  const output = new Int32Array(rank * count);
  const strides = rowMajorStrides(shape);
  let column = 0;
  for (let index = 0; index < values.length; index++) {
    if (values[index] === 0) continue;
    let rest = index;
    for (let axis = 0; axis < rank; axis++) {
      output[axis * count + column] = Math.floor(rest / strides[axis]!);
      rest %= strides[axis]!;
    }
    column++;
  }
  return { tensor: ctx.tf.tensor(output, [rank, count], 'int32'), dtype: 'int64' };
}

/** Shape, indexing and data-movement kernels. */
export const shapeKernels: KernelTable = {
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Identity: (ctx) => ctx.input(0),
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  ScatterElements: scatterElements,
  Shape: shapeOp,
  Size: (ctx) => int64Value(ctx.tf, [ctx.input(0).tensor.size], []),
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Cast: cast,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  Resize: resize,
  Upsample: resize,
  Dropout: dropout,
  NonZero: nonZero,
};

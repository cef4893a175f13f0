import { ErrorCodes, fail } from '../../errors.js';
import {
  allocate,
  bfloat16ToFloat32,
  dtypeFromOnnx,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  isBigIntDType,
  isIntegerDType,
  type DType,
  type TensorData,
} from '../../ir/dtype.js';
import {
  describeNode,
  getAttribute,
  getFloat,
  getInt,
  getInts,
  getString,
  type Dim,
  type Node,
  type Shape,
  type TensorType,
} from '../../ir/graph.js';
import { rowMajorStrides, shapeSize, Tensor } from '../../ir/tensor.js';
import type { EvaluateContext, InferenceContext, InferenceResult, OpDefinition } from '../registry.js';

// ---------------------------------------------------------------------------
// Dimension helpers (exported for other rule files).

/** Normalizes a possibly negative axis for `rank`; `fail` reports an axis out of range. */
export function normalizeAxis(axis: number, rank: number, reportFailure: (message: string) => never): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) reportFailure(`axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** True when every dimension is a number. */
export function isStaticShape(shape: Shape | undefined): shape is readonly number[] {
  return shape !== undefined && shape.every((dim) => typeof dim === 'number');
}

/** `[2, 'N', ?]` for messages. */
export function formatShape(shape: Shape | undefined): string {
  if (shape === undefined) return '(unknown rank)';
  return `[${shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ')}]`;
}

/** A dimension, or a fresh symbolic name when it is unknown. */
function known(dim: Dim | undefined, ctx: InferenceContext): Dim {
  return dim === null || dim === undefined ? ctx.freshDim() : dim;
}

/**
 * The product of dimensions divided by the product of others, with symbols cancelled:
 * exact when the result is a number or a single remaining symbol, fresh otherwise.
 */
function dimQuotient(numerator: Shape, denominator: Shape, ctx: InferenceContext): Dim {
  let numeric = 1;
  let divisor = 1;
  const symbols: string[] = [];
  for (const dim of numerator) {
    if (typeof dim === 'number') numeric *= dim;
    else if (dim === null) return ctx.freshDim();
    else symbols.push(dim);
  }
  for (const dim of denominator) {
    if (typeof dim === 'number') divisor *= dim;
    else {
      const position = dim === null ? -1 : symbols.indexOf(dim);
      if (position < 0) return ctx.freshDim();
      symbols.splice(position, 1);
    }
  }
  if (symbols.length === 0) {
    if (divisor === 0 || numeric % divisor !== 0) {
      ctx.fail(`cannot divide ${numerator.length > 0 ? formatShape(numerator) : '[]'} (${numeric} elements) evenly by ${divisor}`);
    }
    return numeric / divisor;
  }
  if (symbols.length === 1 && numeric === divisor) return symbols[0]!;
  return ctx.freshDim();
}

/** The product of dimensions: a number, the single symbol when the rest multiply to 1, or fresh. */
function dimProduct(dims: Shape, ctx: InferenceContext): Dim {
  return dimQuotient(dims, [], ctx);
}

/** Merges two dimensions that must be equal (Concat's other axes); fails on two different numbers. */
function unifyDims(first: Dim, second: Dim, ctx: InferenceContext, what: string): Dim {
  if (typeof first === 'number' && typeof second === 'number') {
    if (first !== second) ctx.fail(`${what}: dimension ${first} does not match ${second}`);
    return first;
  }
  if (typeof first === 'number') return first;
  if (typeof second === 'number') return second;
  return first ?? second ?? ctx.freshDim();
}

/** Values of a rank-0/1 integer input: from a constant or symbolically. */
function intValues(ctx: InferenceContext, index: number): Dim[] | undefined {
  return ctx.symbolicValue(index);
}

/** Constant integer values of input `index`, or undefined when not all of them are known numbers. */
function constantInts(ctx: InferenceContext, index: number): number[] | undefined {
  const values = ctx.symbolicValue(index);
  if (values === undefined || values.some((value) => typeof value !== 'number')) return undefined;
  return values as number[];
}

function sameType(type: TensorType, shape?: Shape): TensorType {
  return shape === undefined ? { dtype: type.dtype, ...(type.shape ? { shape: [...type.shape] } : {}) } : { dtype: type.dtype, shape: [...shape] };
}

function isIntegerType(type: TensorType | undefined): boolean {
  return type !== undefined && isIntegerDType(type.dtype);
}

// ---------------------------------------------------------------------------
// Data movement kernels: any dtype, typed arrays only.

type Elements = unknown[];

function elements(data: TensorData): Elements {
  return data as unknown as Elements;
}

/**
 * Builds an output whose element at coordinates c is source[sum over axes of tables[axis][c[axis]]],
 * or `fill` where any table entry is negative (padding).
 */
function remap(source: Tensor, outShape: readonly number[], tables: readonly Int32Array[] | readonly number[][], fill?: unknown): Tensor {
  const size = shapeSize(outShape);
  const output = allocate(source.dtype, size);
  const target = elements(output);
  const from = elements(source.data);
  const rank = outShape.length;
  const coords = new Array<number>(rank).fill(0);
  for (let index = 0; index < size; index++) {
    let offset = 0;
    let padded = false;
    for (let axis = 0; axis < rank; axis++) {
      const part = tables[axis]![coords[axis]!]!;
      if (part < 0) {
        padded = true;
        break;
      }
      offset += part;
    }
    target[index] = padded ? fill : from[offset];
    for (let axis = rank - 1; axis >= 0; axis--) {
      if (++coords[axis]! < outShape[axis]!) break;
      coords[axis] = 0;
    }
  }
  return new Tensor(source.dtype, outShape, output);
}

function axisTable(length: number, map: (coordinate: number) => number): Int32Array {
  const table = new Int32Array(length);
  for (let coordinate = 0; coordinate < length; coordinate++) table[coordinate] = map(coordinate);
  return table;
}

function transposeTensor(input: Tensor, perm: readonly number[]): Tensor {
  const strides = rowMajorStrides(input.shape);
  const outShape = perm.map((axis) => input.shape[axis]!);
  return remap(
    input,
    outShape,
    perm.map((axis, position) => axisTable(outShape[position]!, (coordinate) => coordinate * strides[axis]!)),
  );
}

function sliceTensor(input: Tensor, starts: readonly number[], steps: readonly number[], lengths: readonly number[]): Tensor {
  const strides = rowMajorStrides(input.shape);
  return remap(
    input,
    lengths,
    lengths.map((length, axis) => axisTable(length, (coordinate) => (starts[axis]! + coordinate * steps[axis]!) * strides[axis]!)),
  );
}

function concatTensors(inputs: readonly Tensor[], axis: number, dtype: DType): Tensor {
  const first = inputs[0]!;
  const outShape = [...first.shape];
  outShape[axis] = inputs.reduce((sum, input) => sum + input.shape[axis]!, 0);
  const outer = shapeSize(first.shape.slice(0, axis));
  const inner = shapeSize(first.shape.slice(axis + 1));
  const output = allocate(dtype, shapeSize(outShape));
  const target = elements(output);
  const rowLength = outShape[axis]! * inner;
  let columnOffset = 0;
  for (const input of inputs) {
    const from = elements(input.data);
    const block = input.shape[axis]! * inner;
    for (let row = 0; row < outer; row++) {
      for (let index = 0; index < block; index++) target[row * rowLength + columnOffset + index] = from[row * block + index];
    }
    columnOffset += block;
  }
  return new Tensor(dtype, outShape, output);
}

/** The raw element of `dtype` for a JavaScript value (float16 bits, bigint for int64). */
function encodeElement(dtype: DType, value: number | bigint | string | boolean): unknown {
  return elements(Tensor.scalar(dtype, typeof value === 'boolean' ? Number(value) : value).data)[0];
}

function readNumber(dtype: DType, raw: unknown): number | bigint | string {
  if (dtype === 'float16') return float16ToFloat32(raw as number);
  if (dtype === 'bfloat16') return bfloat16ToFloat32(raw as number);
  return raw as number | bigint | string;
}

/** Converts element values between dtypes with ONNX Cast semantics (truncation toward zero for float -> int). */
export function castTensor(input: Tensor, to: DType): Tensor {
  const size = input.size;
  const output = allocate(to, size);
  const target = elements(output);
  const from = elements(input.data);
  for (let index = 0; index < size; index++) {
    let value = readNumber(input.dtype, from[index]);
    if (typeof value === 'string' && to !== 'string') value = Number(value);
    if (to === 'string') target[index] = typeof value === 'number' && input.dtype === 'bool' ? String(value !== 0) : String(value);
    else if (to === 'bool') target[index] = value !== 0 && value !== 0n && !Number.isNaN(value) ? 1 : 0;
    else if (isBigIntDType(to)) {
      const big = typeof value === 'bigint' ? value : Number.isFinite(value) ? BigInt(Math.trunc(value as number)) : 0n;
      target[index] = to === 'int64' ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big);
    } else if (to === 'float16') target[index] = float32ToFloat16(Number(value));
    else if (to === 'bfloat16') target[index] = float32ToBfloat16(Number(value));
    else if (typeof value === 'bigint' && isIntegerDType(to)) target[index] = Number(BigInt.asIntN(64, value));
    else target[index] = Number(value);
  }
  return new Tensor(to, input.shape, output);
}

// ---------------------------------------------------------------------------
// Shared reading of attributes-or-inputs.

/** Axes of Squeeze/Unsqueeze/ReduceX: attribute before `inputSince`, input 1 from then on. */
function axesOf(ctx: InferenceContext, inputSince: number, index = 1): number[] | undefined | 'unknown' {
  if (ctx.opset < inputSince) return getInts(ctx.node, 'axes');
  if (!ctx.hasInput(index)) return undefined;
  return constantInts(ctx, index) ?? 'unknown';
}

function evaluateAxes(ctx: EvaluateContext, inputSince: number, index = 1): number[] | undefined {
  if (ctx.opset < inputSince) return getInts(ctx.node, 'axes');
  const input = ctx.inputs[index];
  return input === undefined ? undefined : input.toNumbers();
}

function requireValue(ctx: EvaluateContext, index: number): Tensor {
  const value = ctx.inputs[index];
  if (!value) ctx.fail(`input ${index} is required`);
  return value;
}

function unsupported(node: Node, why: string): never {
  return fail(ErrorCodes.UNSUPPORTED_OP, `${describeNode(node)}: ${why}`);
}

// ---------------------------------------------------------------------------
// Reshape, Flatten, Squeeze, Unsqueeze, Identity.

function reshapeDims(input: Shape, requested: readonly Dim[], allowZero: boolean, ctx: InferenceContext): Dim[] {
  if (allowZero && requested.includes(0) && requested.includes(-1)) ctx.fail(`shape ${formatShape(requested)} has both 0 and -1, which allowzero=1 forbids`);
  let inferAxis = -1;
  const output: Dim[] = requested.map((dim, axis) => {
    if (dim === 0 && !allowZero) {
      if (axis >= input.length) ctx.fail(`shape entry ${axis} is 0 (copy) but the input has rank ${input.length}`);
      return input[axis]!;
    }
    if (dim === -1) {
      if (inferAxis >= 0) ctx.fail(`shape ${formatShape(requested)} has more than one -1`);
      inferAxis = axis;
      return -1;
    }
    if (typeof dim === 'number' && (dim < -1 || !Number.isInteger(dim))) ctx.fail(`shape ${formatShape(requested)} has an invalid entry ${dim}`);
    return dim;
  });
  if (inferAxis >= 0) {
    output[inferAxis] = dimQuotient(
      input,
      output.filter((_, axis) => axis !== inferAxis),
      ctx,
    );
  } else if (isStaticShape(input) && isStaticShape(output) && shapeSize(input) !== shapeSize(output)) {
    ctx.fail(`cannot reshape ${formatShape(input)} (${shapeSize(input)} elements) to ${formatShape(output)} (${shapeSize(output)} elements)`);
  }
  return output.map((dim) => known(dim, ctx));
}

const reshape: OpDefinition = {
  opType: 'Reshape',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const allowZero = getInt(ctx.node, 'allowzero', 0) === 1;
    let requested: Dim[] | undefined;
    if (ctx.opset < 5) requested = getInts(ctx.node, 'shape');
    else requested = intValues(ctx, 1);
    let shape: Dim[] | undefined;
    if (requested && input.shape) shape = reshapeDims(input.shape, requested, allowZero, ctx);
    else if (requested && !requested.some((dim) => dim === -1 || (dim === 0 && !allowZero))) shape = requested.map((dim) => known(dim, ctx));
    else {
      const shapeType = ctx.opset < 5 ? undefined : ctx.inputType(1);
      const length = shapeType?.shape?.[0];
      if (typeof length === 'number') shape = Array.from({ length }, () => ctx.freshDim());
    }
    const symbolic = shape && shape.length <= 1 && isIntegerType(input) ? ctx.symbolicValue(0) : undefined;
    return { types: [shape ? { dtype: input.dtype, shape } : { dtype: input.dtype }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const requested = ctx.opset < 5 ? getInts(ctx.node, 'shape', []) : requireValue(ctx, 1).toNumbers();
    const allowZero = getInt(ctx.node, 'allowzero', 0) === 1;
    let inferAxis = -1;
    let known = 1;
    const shape = requested.map((dim, axis) => {
      const resolved = dim === 0 && !allowZero ? input.shape[axis]! : dim;
      if (resolved === -1) inferAxis = axis;
      else known *= resolved;
      return resolved;
    });
    if (inferAxis >= 0) shape[inferAxis] = known === 0 ? 0 : input.size / known;
    if (shapeSize(shape) !== input.size || !shape.every((dim) => Number.isInteger(dim) && dim >= 0)) {
      ctx.fail(`cannot reshape ${formatShape(input.shape)} to ${formatShape(requested)}`);
    }
    return [input.reshape(shape)];
  },
};

function flattenDims(shape: Shape, axisAttribute: number, ctx: InferenceContext): Dim[] {
  const axis = axisAttribute === shape.length ? shape.length : normalizeAxis(axisAttribute, shape.length, ctx.fail);
  return [known(dimProduct(shape.slice(0, axis), ctx), ctx), known(dimProduct(shape.slice(axis), ctx), ctx)];
}

const flatten: OpDefinition = {
  opType: 'Flatten',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const axis = getInt(ctx.node, 'axis', 1);
    return { types: [input.shape ? { dtype: input.dtype, shape: flattenDims(input.shape, axis, ctx) } : { dtype: input.dtype, shape: [ctx.freshDim(), ctx.freshDim()] }] };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    let axis = getInt(ctx.node, 'axis', 1);
    if (axis < 0) axis += input.rank;
    return [input.reshape([shapeSize(input.shape.slice(0, axis)), shapeSize(input.shape.slice(axis))])];
  },
};

function squeezeDims(shape: Shape, axes: number[] | undefined, ctx: InferenceContext): Dim[] | undefined {
  if (axes === undefined) {
    if (!isStaticShape(shape)) return undefined;
    return shape.filter((dim) => dim !== 1);
  }
  const normalized = new Set(axes.map((axis) => normalizeAxis(axis, shape.length, ctx.fail)));
  for (const axis of normalized) {
    const dim = shape[axis];
    if (typeof dim === 'number' && dim !== 1) ctx.fail(`cannot squeeze axis ${axis} of ${formatShape(shape)}: its size is ${dim}, not 1`);
  }
  return shape.filter((_, axis) => !normalized.has(axis));
}

const squeeze: OpDefinition = {
  opType: 'Squeeze',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const axes = axesOf(ctx, 13);
    const shape = input.shape && axes !== 'unknown' ? squeezeDims(input.shape, axes, ctx) : undefined;
    const symbolic = isIntegerType(input) && shape && shape.length <= 1 ? ctx.symbolicValue(0) : undefined;
    return { types: [shape ? { dtype: input.dtype, shape } : { dtype: input.dtype }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const axes = evaluateAxes(ctx, 13);
    const normalized = new Set((axes ?? []).map((axis) => (axis < 0 ? axis + input.rank : axis)));
    const shape = axes === undefined ? input.shape.filter((dim) => dim !== 1) : input.shape.filter((_, axis) => !normalized.has(axis));
    return [input.reshape(shape)];
  },
};

function unsqueezeShape<T extends Dim>(shape: readonly T[], axes: readonly number[], reportFailure: (message: string) => never): (T | 1)[] {
  const rank = shape.length + axes.length;
  const normalized = new Set(axes.map((axis) => normalizeAxis(axis, rank, reportFailure)));
  if (normalized.size !== axes.length) reportFailure(`axes [${axes.join(', ')}] repeat an axis`);
  const output: (T | 1)[] = [];
  let next = 0;
  for (let axis = 0; axis < rank; axis++) output.push(normalized.has(axis) ? 1 : shape[next++]!);
  return output;
}

const unsqueeze: OpDefinition = {
  opType: 'Unsqueeze',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const axes = axesOf(ctx, 13) ?? ctx.fail('Unsqueeze needs axes');
    if (axes === 'unknown' || !input.shape) {
      const length = ctx.inputType(1)?.shape?.[0];
      return { types: [input.shape && typeof length === 'number' ? { dtype: input.dtype, shape: Array.from({ length: input.shape.length + length }, () => ctx.freshDim()) } : { dtype: input.dtype }] };
    }
    const shape = unsqueezeShape(input.shape, axes, ctx.fail);
    const symbolic = isIntegerType(input) && shape.length <= 1 ? ctx.symbolicValue(0) : undefined;
    return { types: [{ dtype: input.dtype, shape }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const axes = evaluateAxes(ctx, 13) ?? ctx.fail('Unsqueeze needs axes');
    return [input.reshape(unsqueezeShape(input.shape, axes, ctx.fail))];
  },
};

const identity: OpDefinition = {
  opType: 'Identity',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const symbolic = ctx.symbolicValue(0);
    return { types: [sameType(input)], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    return [requireValue(ctx, 0)];
  },
};

// ---------------------------------------------------------------------------
// Transpose, Concat, Split, Slice, Gather.

function permutation(node: Node, rank: number, reportFailure: (message: string) => never): number[] {
  const perm = getInts(node, 'perm') ?? Array.from({ length: rank }, (_, axis) => rank - 1 - axis);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((axis, position) => axis !== position)) {
    reportFailure(`perm [${perm.join(', ')}] is not a permutation of the input's ${rank} axes`);
  }
  return perm;
}

const transpose: OpDefinition = {
  opType: 'Transpose',
  infer(ctx) {
    const input = ctx.requireInput(0);
    if (!input.shape) return { types: [{ dtype: input.dtype }] };
    const shape = input.shape;
    const perm = permutation(ctx.node, shape.length, ctx.fail);
    return { types: [{ dtype: input.dtype, shape: perm.map((axis) => shape[axis]!) }] };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    return [transposeTensor(input, permutation(ctx.node, input.rank, ctx.fail))];
  },
};

const concat: OpDefinition = {
  opType: 'Concat',
  infer(ctx) {
    const types: TensorType[] = [];
    for (let index = 0; index < ctx.inputCount; index++) if (ctx.hasInput(index)) types.push(ctx.requireInput(index));
    if (types.length === 0) ctx.fail('Concat needs at least one input');
    const dtype = types[0]!.dtype;
    for (const type of types) if (type.dtype !== dtype) ctx.fail(`inputs mix dtypes ${dtype} and ${type.dtype}`);
    const axisAttribute = getInt(ctx.node, 'axis');
    if (axisAttribute === undefined && ctx.opset >= 4) ctx.fail("attribute 'axis' is required");
    const shaped = types.filter((type) => type.shape !== undefined);
    if (shaped.length === 0) return { types: [{ dtype }] };
    const rank = shaped[0]!.shape!.length;
    for (const type of shaped) {
      if (type.shape!.length !== rank) ctx.fail(`inputs have different ranks: ${types.map((entry) => formatShape(entry.shape)).join(', ')}`);
    }
    const axis = normalizeAxis(axisAttribute ?? 1, rank, ctx.fail);
    const shape: Dim[] = [];
    for (let position = 0; position < rank; position++) {
      if (position === axis) continue;
      let dim: Dim = null;
      for (const type of shaped) {
        dim = unifyDims(dim, type.shape![position]!, ctx, `inputs ${shaped.map((entry) => formatShape(entry.shape)).join(', ')} differ outside axis ${axis}`);
      }
      shape[position] = known(dim, ctx);
    }
    if (shaped.length === types.length) {
      const along = shaped.map((type) => type.shape![axis]!);
      shape[axis] = along.every((dim) => typeof dim === 'number')
        ? (along as number[]).reduce((sum, dim) => sum + dim, 0)
        : along.filter((dim) => dim !== 0).length === 1
          ? known(along.find((dim) => dim !== 0)!, ctx)
          : ctx.freshDim();
    } else shape[axis] = ctx.freshDim();

    let symbolic: Dim[] | undefined;
    if (rank === 1 && isIntegerDType(dtype)) {
      const parts: Dim[] = [];
      for (let index = 0; index < ctx.inputCount && parts !== undefined; index++) {
        if (!ctx.hasInput(index)) continue;
        const values = ctx.symbolicValue(index);
        if (!values) {
          symbolic = undefined;
          parts.length = 0;
          break;
        }
        parts.push(...values);
        symbolic = parts;
      }
    }
    return { types: [{ dtype, shape }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    const inputs = ctx.inputs.filter((input): input is Tensor => input !== undefined);
    const first = inputs[0] ?? ctx.fail('Concat needs at least one input');
    const axis = normalizeAxis(getInt(ctx.node, 'axis', 1), first.rank, ctx.fail);
    return [concatTensors(inputs, axis, first.dtype)];
  },
};

/** Split sizes along the axis: from the attribute/input, num_outputs, or an equal split. */
function splitSizes(
  node: Node,
  opset: number,
  dim: number | undefined,
  outputs: number,
  splitInput: number[] | undefined | 'unknown',
  reportFailure: (message: string) => never,
): number[] | undefined {
  const explicit = opset < 13 ? getInts(node, 'split') : splitInput;
  if (explicit === 'unknown') return undefined;
  if (explicit !== undefined) {
    if (explicit.length !== outputs) reportFailure(`split [${explicit.join(', ')}] has ${explicit.length} entries for ${outputs} outputs`);
    if (dim !== undefined && explicit.reduce((sum, size) => sum + size, 0) !== dim) {
      reportFailure(`split [${explicit.join(', ')}] does not add up to the axis size ${dim}`);
    }
    return explicit;
  }
  if (dim === undefined) return undefined;
  const numOutputs = getInt(node, 'num_outputs');
  if (numOutputs !== undefined) {
    if (numOutputs !== outputs) reportFailure(`num_outputs is ${numOutputs} but the node has ${outputs} outputs`);
    const chunk = Math.ceil(dim / numOutputs);
    return Array.from({ length: numOutputs }, (_, index) => Math.max(0, Math.min(chunk, dim - chunk * index)));
  }
  if (dim % outputs !== 0) reportFailure(`axis size ${dim} does not split evenly into ${outputs} outputs; give 'split'`);
  return new Array<number>(outputs).fill(dim / outputs);
}

const split: OpDefinition = {
  opType: 'Split',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const outputs = ctx.node.outputs.length;
    if (!input.shape) return { types: ctx.node.outputs.map(() => ({ dtype: input.dtype })) };
    const shape = input.shape;
    const axis = normalizeAxis(getInt(ctx.node, 'axis', 0), shape.length, ctx.fail);
    const dim = shape[axis];
    const splitInput = ctx.opset >= 13 && ctx.hasInput(1) ? (constantInts(ctx, 1) ?? 'unknown') : undefined;
    const sizes = splitSizes(ctx.node, ctx.opset, typeof dim === 'number' ? dim : undefined, outputs, splitInput, ctx.fail);
    return {
      types: ctx.node.outputs.map((_, index) => {
        const outShape = [...shape];
        const size = sizes?.[index];
        outShape[axis] = size ?? (outputs === 1 ? known(dim, ctx) : ctx.freshDim());
        return { dtype: input.dtype, shape: outShape };
      }),
    };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const axis = normalizeAxis(getInt(ctx.node, 'axis', 0), input.rank, ctx.fail);
    const splitInput = ctx.opset >= 13 ? ctx.inputs[1]?.toNumbers() : undefined;
    const sizes = splitSizes(ctx.node, ctx.opset, input.shape[axis]!, ctx.node.outputs.length, splitInput, ctx.fail)!;
    let start = 0;
    return sizes.map((size) => {
      const starts = input.shape.map((_, position) => (position === axis ? start : 0));
      const lengths = input.shape.map((dim, position) => (position === axis ? size : dim));
      start += size;
      return sliceTensor(input, starts, new Array<number>(input.rank).fill(1), lengths);
    });
  },
};

export interface SliceParameters {
  starts: number[];
  ends: number[];
  axes: number[];
  steps: number[];
}

/** ONNX Slice clamping for one axis, as onnxruntime does it: the first index and the element count (a step of 0 fails). */
export function sliceRange(start: number, end: number, step: number, dim: number): { first: number; length: number } {
  if (step === 0) return fail(ErrorCodes.INVALID_ARGUMENT, 'Slice step cannot be 0');
  let first = start < 0 ? start + dim : start;
  let last = end < 0 ? end + dim : end;
  if (step > 0) {
    first = Math.min(Math.max(first, 0), dim);
    last = Math.min(Math.max(last, 0), dim);
  } else {
    first = Math.min(Math.max(first, 0), dim - 1);
    last = Math.min(Math.max(last, -1), dim - 1);
  }
  const length = Math.max(0, Math.ceil((last - first) / step));
  return { first, length };
}

export function sliceParameters(
  node: Node,
  opset: number,
  rank: number,
  read: (index: number) => number[] | undefined | 'unknown',
  reportFailure: (message: string) => never,
): SliceParameters | undefined {
  let starts: number[] | undefined | 'unknown';
  let ends: number[] | undefined | 'unknown';
  let axes: number[] | undefined | 'unknown';
  let steps: number[] | undefined | 'unknown';
  if (opset < 10) {
    starts = getInts(node, 'starts');
    ends = getInts(node, 'ends');
    axes = getInts(node, 'axes');
  } else {
    starts = read(1);
    ends = read(2);
    axes = read(3);
    steps = read(4);
  }
  if (starts === 'unknown' || ends === 'unknown' || axes === 'unknown' || steps === 'unknown') return undefined;
  if (starts === undefined || ends === undefined) reportFailure('Slice needs starts and ends');
  if (starts.length !== ends.length) reportFailure(`starts [${starts.join(', ')}] and ends [${ends.join(', ')}] differ in length`);
  const resolvedAxes = (axes ?? starts.map((_, index) => index)).map((axis) => normalizeAxis(axis, rank, reportFailure));
  const resolvedSteps = steps ?? starts.map(() => 1);
  if (resolvedAxes.length !== starts.length || resolvedSteps.length !== starts.length) {
    reportFailure('Slice starts, ends, axes and steps must have the same length');
  }
  if (new Set(resolvedAxes).size !== resolvedAxes.length) reportFailure(`axes [${resolvedAxes.join(', ')}] repeat an axis`);
  if (resolvedSteps.some((step) => step === 0)) reportFailure('Slice steps cannot be 0');
  return { starts, ends, axes: resolvedAxes, steps: resolvedSteps };
}

const slice: OpDefinition = {
  opType: 'Slice',
  infer(ctx) {
    const input = ctx.requireInput(0);
    if (!input.shape) return { types: [{ dtype: input.dtype }] };
    const shape = input.shape;
    const read = (index: number): number[] | undefined | 'unknown' => (ctx.hasInput(index) ? (constantInts(ctx, index) ?? 'unknown') : undefined);
    const parameters = sliceParameters(ctx.node, ctx.opset, shape.length, read, ctx.fail);
    if (!parameters) {
      // Unknown bounds: the sliced axes (all, when axes are unknown too) get fresh sizes.
      const axes = ctx.opset >= 10 && ctx.hasInput(3) ? constantInts(ctx, 3) : undefined;
      const sliced = axes ? new Set(axes.map((axis) => normalizeAxis(axis, shape.length, ctx.fail))) : undefined;
      return { types: [{ dtype: input.dtype, shape: shape.map((dim, axis) => (sliced && !sliced.has(axis) ? known(dim, ctx) : ctx.freshDim())) }] };
    }
    const outShape: Dim[] = shape.map((dim) => known(dim, ctx));
    const firsts = new Array<number>(shape.length).fill(0);
    const steps = new Array<number>(shape.length).fill(1);
    let exact = true;
    parameters.axes.forEach((axis, index) => {
      const dim = shape[axis]!;
      const start = parameters.starts[index]!;
      const end = parameters.ends[index]!;
      const step = parameters.steps[index]!;
      steps[axis] = step;
      if (typeof dim === 'number') {
        const range = sliceRange(start, end, step, dim);
        outShape[axis] = range.length;
        firsts[axis] = range.first;
      } else {
        exact = false;
        // x[0:] and x[::1] up to a huge end keep the dimension.
        outShape[axis] = start === 0 && step === 1 && end >= 2 ** 31 - 1 ? known(dim, ctx) : ctx.freshDim();
      }
    });
    let symbolic: Dim[] | undefined;
    const values = shape.length === 1 && isIntegerType(input) && exact ? ctx.symbolicValue(0) : undefined;
    if (values && typeof outShape[0] === 'number') {
      symbolic = Array.from({ length: outShape[0] }, (_, index) => values[firsts[0]! + index * steps[0]!]!);
    }
    return { types: [{ dtype: input.dtype, shape: outShape }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const read = (index: number): number[] | undefined => ctx.inputs[index]?.toNumbers();
    const parameters = sliceParameters(ctx.node, ctx.opset, input.rank, read, ctx.fail)!;
    const starts = new Array<number>(input.rank).fill(0);
    const steps = new Array<number>(input.rank).fill(1);
    const lengths = [...input.shape];
    parameters.axes.forEach((axis, index) => {
      const range = sliceRange(parameters.starts[index]!, parameters.ends[index]!, parameters.steps[index]!, input.shape[axis]!);
      starts[axis] = range.first;
      steps[axis] = parameters.steps[index]!;
      lengths[axis] = range.length;
    });
    return [sliceTensor(input, starts, steps, lengths)];
  },
};

const gather: OpDefinition = {
  opType: 'Gather',
  infer(ctx) {
    const data = ctx.requireInput(0);
    const indices = ctx.requireInput(1);
    if (!isIntegerDType(indices.dtype)) ctx.fail(`indices must be int32 or int64, not ${indices.dtype}`);
    if (!data.shape || !indices.shape) return { types: [{ dtype: data.dtype }] };
    const dataShape = data.shape;
    const axis = normalizeAxis(getInt(ctx.node, 'axis', 0), dataShape.length, ctx.fail);
    const shape = [...dataShape.slice(0, axis), ...indices.shape, ...dataShape.slice(axis + 1)].map((dim) => known(dim, ctx));
    const indexValues = ctx.constant(1)?.toNumbers();
    const axisSize = dataShape[axis];
    if (indexValues && typeof axisSize === 'number') {
      for (const index of indexValues) {
        if (index < -axisSize || index >= axisSize) ctx.fail(`index ${index} is out of range for axis ${axis} of size ${axisSize}`);
      }
    }
    let symbolic: Dim[] | undefined;
    const values = dataShape.length === 1 && isIntegerType(data) ? ctx.symbolicValue(0) : undefined;
    if (values && indexValues && indices.shape.length <= 1) {
      symbolic = indexValues.map((index) => values[index < 0 ? index + values.length : index]!);
    }
    return { types: [{ dtype: data.dtype, shape }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    const data = requireValue(ctx, 0);
    const indices = requireValue(ctx, 1);
    const axis = normalizeAxis(getInt(ctx.node, 'axis', 0), data.rank, ctx.fail);
    const axisSize = data.shape[axis]!;
    const strides = rowMajorStrides(data.shape);
    const positions = indices.toNumbers().map((index) => {
      if (index < -axisSize || index >= axisSize) ctx.fail(`index ${index} is out of range for axis ${axis} of size ${axisSize}`);
      return index < 0 ? index + axisSize : index;
    });
    const flatShape = [...data.shape.slice(0, axis), positions.length, ...data.shape.slice(axis + 1)];
    const tables = flatShape.map((length, position) =>
      axisTable(length, (coordinate) => (position === axis ? positions[coordinate]! : coordinate) * strides[position]!),
    );
    const gathered = remap(data, flatShape, tables);
    return [gathered.reshape([...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)])];
  },
};

/**
 * ScatterElements: data with `updates` written (or with `reduction`, combined, opset 16+) at
 * `indices` along `axis`; the output has data's type. Emitted by the MaxPool and Gather
 * gradient rules.
 */
const scatterElements: OpDefinition = {
  opType: 'ScatterElements',
  infer(ctx) {
    const data = ctx.requireInput(0);
    const indices = ctx.requireInput(1);
    const updates = ctx.requireInput(2);
    if (!isIntegerDType(indices.dtype)) ctx.fail(`indices must be int32 or int64, not ${indices.dtype}`);
    if (updates.dtype !== data.dtype) ctx.fail(`updates are ${updates.dtype} but data is ${data.dtype}; they must match`);
    if (data.shape && indices.shape && data.shape.length !== indices.shape.length) {
      ctx.fail(`indices have rank ${indices.shape.length} but data has rank ${data.shape.length}; they must match`);
    }
    if (data.shape) normalizeAxis(getInt(ctx.node, 'axis', 0), data.shape.length, ctx.fail);
    return { types: [{ dtype: data.dtype, ...(data.shape ? { shape: [...data.shape] } : {}) }] };
  },
};

/**
 * GatherElements: data's elements at `indices` along `axis`; the output has the indices'
 * shape and data's type. Emitted by the ScatterElements gradient rule.
 */
const gatherElements: OpDefinition = {
  opType: 'GatherElements',
  infer(ctx) {
    const data = ctx.requireInput(0);
    const indices = ctx.requireInput(1);
    if (!isIntegerDType(indices.dtype)) ctx.fail(`indices must be int32 or int64, not ${indices.dtype}`);
    if (data.shape && indices.shape && data.shape.length !== indices.shape.length) {
      ctx.fail(`indices have rank ${indices.shape.length} but data has rank ${data.shape.length}; they must match`);
    }
    if (data.shape) normalizeAxis(getInt(ctx.node, 'axis', 0), data.shape.length, ctx.fail);
    return { types: [{ dtype: data.dtype, ...(indices.shape ? { shape: [...indices.shape] } : {}) }] };
  },
};

// ---------------------------------------------------------------------------
// Shape, Size, Constant, ConstantOfShape, Range, Cast.

function shapeBounds(node: Node, opset: number, rank: number): [number, number] {
  if (opset < 15) return [0, rank];
  const clamp = (value: number): number => Math.min(Math.max(value < 0 ? value + rank : value, 0), rank);
  return [clamp(getInt(node, 'start', 0)), clamp(getInt(node, 'end', rank))];
}

const shapeOp: OpDefinition = {
  opType: 'Shape',
  infer(ctx) {
    const input = ctx.requireInput(0);
    if (!input.shape) return { types: [{ dtype: 'int64', shape: [ctx.freshDim()] }] };
    const [start, end] = shapeBounds(ctx.node, ctx.opset, input.shape.length);
    const dims = input.shape.slice(start, Math.max(start, end)).map((dim) => known(dim, ctx));
    const type: TensorType = { dtype: 'int64', shape: [dims.length] };
    if (isStaticShape(dims)) return { types: [type], values: [Tensor.int64(dims)] };
    return { types: [type], symbolic: [dims] };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const [start, end] = shapeBounds(ctx.node, ctx.opset, input.rank);
    return [Tensor.int64(input.shape.slice(start, Math.max(start, end)))];
  },
};

const size: OpDefinition = {
  opType: 'Size',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const type: TensorType = { dtype: 'int64', shape: [] };
    if (isStaticShape(input.shape)) return { types: [type], values: [Tensor.scalar('int64', shapeSize(input.shape))] };
    const product = input.shape ? dimProduct(input.shape, ctx) : undefined;
    return { types: [type], ...(typeof product === 'string' && input.shape!.length === 1 ? { symbolic: [[product]] } : {}) };
  },
  evaluate(ctx) {
    return [Tensor.scalar('int64', requireValue(ctx, 0).size)];
  },
};

/** The value of a Constant node from whichever value_* attribute it carries. */
export function constantNodeValue(node: Node): Tensor {
  const names = ['value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'value_string', 'value_strings', 'sparse_value'];
  const present = names.filter((name) => node.attributes.has(name));
  if (present.length !== 1) {
    fail(ErrorCodes.INVALID_ATTRIBUTE, `${describeNode(node)} needs exactly one of ${names.join(', ')}; it has ${present.length === 0 ? 'none' : present.join(', ')}`);
  }
  switch (present[0]) {
    case 'value':
      return getAttribute(node, 'value', 'tensor')!;
    case 'value_float':
      return Tensor.scalar('float32', getFloat(node, 'value_float')!);
    case 'value_floats': {
      const values = getAttribute(node, 'value_floats', 'floats')!;
      return Tensor.from('float32', [values.length], values);
    }
    case 'value_int':
      return Tensor.scalar('int64', getInt(node, 'value_int')!);
    case 'value_ints':
      return Tensor.int64(getInts(node, 'value_ints')!);
    case 'value_string':
      return Tensor.scalar('string', getString(node, 'value_string')!);
    case 'value_strings': {
      const values = getAttribute(node, 'value_strings', 'strings')!;
      return Tensor.from('string', [values.length], values);
    }
    default:
      return unsupported(node, 'sparse_value constants are not supported; convert the constant to a dense tensor');
  }
}

const constant: OpDefinition = {
  opType: 'Constant',
  infer(ctx) {
    const value = constantNodeValue(ctx.node);
    return { types: [{ dtype: value.dtype, shape: value.shape }], values: [value] };
  },
  evaluate(ctx) {
    return [constantNodeValue(ctx.node)];
  },
};

function fillValue(node: Node): Tensor {
  const value = getAttribute(node, 'value', 'tensor');
  if (value && value.size !== 1) fail(ErrorCodes.INVALID_ATTRIBUTE, `${describeNode(node)}: attribute 'value' must hold one element, not ${value.size}`);
  return value ?? Tensor.scalar('float32', 0);
}

const constantOfShape: OpDefinition = {
  opType: 'ConstantOfShape',
  infer(ctx) {
    const dtype = fillValue(ctx.node).dtype;
    const dims = intValues(ctx, 0);
    if (dims) {
      for (const dim of dims) if (typeof dim === 'number' && dim < 0) ctx.fail(`shape ${formatShape(dims)} has a negative dimension`);
      return { types: [{ dtype, shape: dims.map((dim) => known(dim, ctx)) }] };
    }
    const length = ctx.inputType(0)?.shape?.[0];
    return { types: [typeof length === 'number' ? { dtype, shape: Array.from({ length }, () => ctx.freshDim()) } : { dtype }] };
  },
  evaluate(ctx) {
    const value = fillValue(ctx.node);
    const shape = requireValue(ctx, 0).toNumbers();
    const output = allocate(value.dtype, shapeSize(shape));
    elements(output).fill(elements(value.data)[0]);
    return [new Tensor(value.dtype, shape, output)];
  },
};

function rangeLength(start: number, limit: number, delta: number): number {
  return Math.max(Math.ceil((limit - start) / delta), 0);
}

const range: OpDefinition = {
  opType: 'Range',
  infer(ctx) {
    const start = ctx.requireInput(0);
    const values = [0, 1, 2].map((index) => ctx.constant(index)?.numberAt(0));
    if (values[2] === 0) ctx.fail('delta cannot be 0');
    const length = values.every((value) => value !== undefined) ? rangeLength(values[0]!, values[1]!, values[2]!) : ctx.freshDim();
    return { types: [{ dtype: start.dtype, shape: [length] }] };
  },
  evaluate(ctx) {
    const [start, limit, delta] = [0, 1, 2].map((index) => requireValue(ctx, index));
    const dtype = start!.dtype;
    if (isBigIntDType(dtype)) {
      const first = elements(start!.data)[0] as bigint;
      const last = elements(limit!.data)[0] as bigint;
      const step = elements(delta!.data)[0] as bigint;
      if (step === 0n) ctx.fail('delta cannot be 0');
      const difference = last - first;
      let count = difference / step;
      if (count * step !== difference) count += 1n;
      const length = Number(count > 0n ? count : 0n);
      const output = allocate(dtype, length) as BigInt64Array;
      for (let index = 0; index < length; index++) output[index] = first + BigInt(index) * step;
      return [new Tensor(dtype, [length], output)];
    }
    const [first, last, step] = [start!.numberAt(0), limit!.numberAt(0), delta!.numberAt(0)];
    if (step === 0) ctx.fail('delta cannot be 0');
    const length = rangeLength(first, last, step);
    return [Tensor.from(dtype, [length], Array.from({ length }, (_, index) => first + index * step))];
  },
};

function castTarget(node: Node): DType {
  const to = getAttribute(node, 'to', 'int');
  if (to === undefined) {
    // Opset 1-5 spelled the type as a string.
    const name = getString(node, 'to');
    const byName: Record<string, DType> = { FLOAT: 'float32', DOUBLE: 'float64', FLOAT16: 'float16', INT64: 'int64', INT32: 'int32', BOOL: 'bool', UINT8: 'uint8', INT8: 'int8' };
    const dtype = name === undefined ? undefined : byName[name];
    if (!dtype) fail(ErrorCodes.INVALID_ATTRIBUTE, `${describeNode(node)}: attribute 'to' is missing or unknown`);
    return dtype;
  }
  return dtypeFromOnnx(to, `${describeNode(node)} attribute 'to'`);
}

const cast: OpDefinition = {
  opType: 'Cast',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const to = castTarget(ctx.node);
    const symbolic = isIntegerType(input) && isIntegerDType(to) ? ctx.symbolicValue(0) : undefined;
    return { types: [{ dtype: to, ...(input.shape ? { shape: [...input.shape] } : {}) }], ...(symbolic ? { symbolic: [symbolic] } : {}) };
  },
  evaluate(ctx) {
    return [castTensor(requireValue(ctx, 0), castTarget(ctx.node))];
  },
};

// ---------------------------------------------------------------------------
// Expand, Tile, Pad, Resize/Upsample.

/** Numpy-style bidirectional broadcast of two shapes (Expand). */
function broadcastShapes(first: Shape, second: Shape, ctx: InferenceContext): Dim[] {
  const rank = Math.max(first.length, second.length);
  const output: Dim[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const a = first[axis - (rank - first.length)] ?? 1;
    const b = second[axis - (rank - second.length)] ?? 1;
    if (a === 1) output.push(known(b, ctx));
    else if (b === 1) output.push(known(a, ctx));
    else if (typeof a === 'number' && typeof b === 'number') {
      if (a !== b) ctx.fail(`shapes ${formatShape(first)} and ${formatShape(second)} do not broadcast (axis ${axis}: ${a} vs ${b})`);
      output.push(a);
    } else if (typeof a === 'number') output.push(a);
    else if (typeof b === 'number') output.push(b);
    else output.push(a === b && a !== null ? a : ctx.freshDim());
  }
  return output;
}

const expand: OpDefinition = {
  opType: 'Expand',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const requested = intValues(ctx, 1);
    if (requested && input.shape) return { types: [{ dtype: input.dtype, shape: broadcastShapes(input.shape, requested, ctx) }] };
    const length = ctx.inputType(1)?.shape?.[0];
    if (typeof length === 'number' && input.shape) {
      return { types: [{ dtype: input.dtype, shape: Array.from({ length: Math.max(length, input.shape.length) }, () => ctx.freshDim()) }] };
    }
    return { types: [{ dtype: input.dtype }] };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const requested = requireValue(ctx, 1).toNumbers();
    const rank = Math.max(input.rank, requested.length);
    const inputShape = [...new Array<number>(rank - input.rank).fill(1), ...input.shape];
    const target = [...new Array<number>(rank - requested.length).fill(1), ...requested];
    const outShape = inputShape.map((dim, axis) => {
      const other = target[axis]!;
      if (dim !== 1 && other !== 1 && dim !== other) ctx.fail(`shapes ${formatShape(input.shape)} and ${formatShape(requested)} do not broadcast`);
      return dim === 1 ? other : dim;
    });
    const strides = rowMajorStrides(inputShape);
    return [remap(input, outShape, outShape.map((length, axis) => axisTable(length, (coordinate) => (inputShape[axis] === 1 ? 0 : coordinate * strides[axis]!))))];
  },
};

const tile: OpDefinition = {
  opType: 'Tile',
  infer(ctx) {
    const input = ctx.requireInput(0);
    if (!input.shape) return { types: [{ dtype: input.dtype }] };
    const repeats = constantInts(ctx, 1);
    if (!repeats) return { types: [{ dtype: input.dtype, shape: input.shape.map(() => ctx.freshDim()) }] };
    if (repeats.length !== input.shape.length) ctx.fail(`repeats [${repeats.join(', ')}] must have one entry per axis of ${formatShape(input.shape)}`);
    return {
      types: [
        {
          dtype: input.dtype,
          shape: input.shape.map((dim, axis) => {
            const repeat = repeats[axis]!;
            if (repeat === 1) return known(dim, ctx);
            return typeof dim === 'number' ? dim * repeat : repeat === 0 ? 0 : ctx.freshDim();
          }),
        },
      ],
    };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const repeats = requireValue(ctx, 1).toNumbers();
    const strides = rowMajorStrides(input.shape);
    const outShape = input.shape.map((dim, axis) => dim * repeats[axis]!);
    return [remap(input, outShape, outShape.map((length, axis) => axisTable(length, (coordinate) => (coordinate % input.shape[axis]!) * strides[axis]!)))];
  },
};

export interface PadParameters {
  /** Before and after amounts per axis of the input. */
  before: number[];
  after: number[];
}

export function padParameters(
  node: Node,
  opset: number,
  rank: number,
  pads: number[] | undefined,
  axes: number[] | undefined,
  reportFailure: (message: string) => never,
): PadParameters {
  const amounts = opset < 11 ? (getInts(node, 'pads') ?? getInts(node, 'paddings')) : pads;
  if (!amounts) return reportFailure('Pad needs pads');
  const padAxes = (axes ?? Array.from({ length: rank }, (_, axis) => axis)).map((axis) => normalizeAxis(axis, rank, reportFailure));
  if (amounts.length !== 2 * padAxes.length) reportFailure(`pads [${amounts.join(', ')}] needs ${2 * padAxes.length} entries for ${padAxes.length} axes`);
  const before = new Array<number>(rank).fill(0);
  const after = new Array<number>(rank).fill(0);
  padAxes.forEach((axis, index) => {
    before[axis] = amounts[index]!;
    after[axis] = amounts[index + padAxes.length]!;
  });
  return { before, after };
}

const pad: OpDefinition = {
  opType: 'Pad',
  infer(ctx) {
    const input = ctx.requireInput(0);
    if (!input.shape) return { types: [{ dtype: input.dtype }] };
    const shape = input.shape;
    let pads: number[] | undefined;
    let axes: number[] | undefined;
    if (ctx.opset >= 11) {
      pads = constantInts(ctx, 1);
      if (ctx.hasInput(3)) axes = constantInts(ctx, 3);
      if (!pads || (ctx.hasInput(3) && !axes)) return { types: [{ dtype: input.dtype, shape: shape.map(() => ctx.freshDim()) }] };
    }
    const { before, after } = padParameters(ctx.node, ctx.opset, shape.length, pads, axes, ctx.fail);
    return {
      types: [
        {
          dtype: input.dtype,
          shape: shape.map((dim, axis) => {
            const extra = before[axis]! + after[axis]!;
            if (extra === 0) return known(dim, ctx);
            if (typeof dim !== 'number') return ctx.freshDim();
            if (dim + extra < 0) ctx.fail(`pads remove more than the ${dim} elements of axis ${axis}`);
            return dim + extra;
          }),
        },
      ],
    };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const pads = ctx.opset >= 11 ? requireValue(ctx, 1).toNumbers() : undefined;
    const axes = ctx.opset >= 11 ? ctx.inputs[3]?.toNumbers() : undefined;
    const { before, after } = padParameters(ctx.node, ctx.opset, input.rank, pads, axes, ctx.fail);
    const mode = getString(ctx.node, 'mode', 'constant');
    let fill: unknown;
    if (ctx.opset >= 11) {
      const value = ctx.inputs[2];
      fill = value && value.size > 0 ? elements(value.data)[0] : encodeElement(input.dtype, input.dtype === 'string' ? '' : 0);
    } else fill = encodeElement(input.dtype, getFloat(ctx.node, 'value', 0));
    const strides = rowMajorStrides(input.shape);
    const outShape = input.shape.map((dim, axis) => dim + before[axis]! + after[axis]!);
    const tables = outShape.map((length, axis) => {
      const dim = input.shape[axis]!;
      return axisTable(length, (coordinate) => {
        let source = coordinate - before[axis]!;
        if (source < 0 || source >= dim) {
          if (mode === 'constant') return -1;
          if (mode === 'edge') source = Math.min(Math.max(source, 0), dim - 1);
          else if (mode === 'wrap') source = ((source % dim) + dim) % dim;
          else if (mode === 'reflect') {
            const period = 2 * (dim - 1);
            if (period === 0) source = 0;
            else {
              source = ((source % period) + period) % period;
              if (source >= dim) source = period - source;
            }
          } else ctx.fail(`unknown pad mode '${mode}'`);
        }
        return source * strides[axis]!;
      });
    });
    return [remap(input, outShape, tables, fill)];
  },
};

/** Output size of Resize along an axis for a scale (floor, as onnxruntime computes it). */
function scaledDim(dim: Dim, scale: number, ctx: InferenceContext): Dim {
  if (scale === 1) return known(dim, ctx);
  if (typeof dim === 'number') return Math.floor(dim * scale + 1e-6);
  return ctx.freshDim();
}

const resize: OpDefinition = {
  opType: ['Resize', 'Upsample'],
  infer(ctx) {
    const input = ctx.requireInput(0);
    if (!input.shape) return { types: [{ dtype: input.dtype }] };
    const shape = input.shape;
    const rank = shape.length;
    const fresh = (): InferenceResult => ({ types: [{ dtype: input.dtype, shape: shape.map(() => ctx.freshDim()) }] });
    const readFloats = (index: number): number[] | undefined | 'unknown' => {
      if (!ctx.hasInput(index)) return undefined;
      const value = ctx.constant(index);
      if (!value) return 'unknown';
      return value.size === 0 ? undefined : value.toNumbers();
    };
    let scales: number[] | undefined | 'unknown';
    let sizes: number[] | undefined | 'unknown';
    if (ctx.node.opType === 'Upsample' && ctx.opset < 9) scales = getAttribute(ctx.node, 'scales', 'floats');
    else if (ctx.node.opType === 'Upsample' || ctx.opset < 11) scales = readFloats(1);
    else {
      scales = readFloats(2);
      sizes = readFloats(3);
    }
    if (scales === 'unknown' || sizes === 'unknown') return fresh();
    const axes = (getInts(ctx.node, 'axes') ?? Array.from({ length: rank }, (_, axis) => axis)).map((axis) => normalizeAxis(axis, rank, ctx.fail));
    const outShape: Dim[] = shape.map((dim) => known(dim, ctx));
    if (sizes) {
      if (sizes.length !== axes.length) ctx.fail(`sizes [${sizes.join(', ')}] needs ${axes.length} entries`);
      const policy = getString(ctx.node, 'keep_aspect_ratio_policy', 'stretch');
      if (policy === 'stretch') axes.forEach((axis, index) => (outShape[axis] = sizes[index]!));
      else {
        const axisDims = axes.map((axis) => shape[axis]!);
        if (!isStaticShape(axisDims)) return fresh();
        const dims: readonly number[] = axisDims;
        const ratios = dims.map((dim, index) => sizes[index]! / dim);
        const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
        axes.forEach((axis, index) => (outShape[axis] = Math.round(scale * dims[index]!)));
      }
    } else if (scales) {
      if (scales.length !== axes.length) ctx.fail(`scales [${scales.join(', ')}] needs ${axes.length} entries for ${formatShape(shape)}`);
      // tf_crop_and_resize scales the cropped extent: roi holds [starts..., ends...] per resized axis.
      const crop = getString(ctx.node, 'coordinate_transformation_mode', '') === 'tf_crop_and_resize' ? readFloats(1) : undefined;
      if (crop === 'unknown') return fresh();
      axes.forEach((axis, index) => {
        const extent = crop ? crop[index + axes.length]! - crop[index]! : 1;
        outShape[axis] = scaledDim(shape[axis]!, scales[index]! * extent, ctx);
      });
    } else ctx.fail('Resize needs scales or sizes');
    return { types: [{ dtype: input.dtype, shape: outShape }] };
  },
};

const dropout: OpDefinition = {
  opType: 'Dropout',
  infer(ctx) {
    const input = ctx.requireInput(0);
    // Before opset 10 the mask has the input's type; from opset 10 it is bool.
    const types: TensorType[] = [sameType(input), { dtype: ctx.opset < 10 ? input.dtype : 'bool', ...(input.shape ? { shape: [...input.shape] } : {}) }];
    // The mask output is optional.
    return { types: types.slice(0, Math.max(1, ctx.node.outputs.length)) };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const training = ctx.opset >= 12 ? ctx.inputs[2] : undefined;
    if ((training && training.numberAt(0) !== 0) || (ctx.opset < 7 && getInt(ctx.node, 'is_test', 0) === 0)) {
      unsupported(ctx.node, 'Dropout in training mode is random and cannot be evaluated');
    }
    const outputs = [input];
    if (ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '') {
      // onnxruntime's inference mask: zeros before opset 12, ones (true) from then on.
      const dtype = ctx.opset < 10 ? input.dtype : 'bool';
      outputs.push(Tensor.from(dtype, input.shape, new Array<number>(input.size).fill(ctx.opset >= 12 ? 1 : 0)));
    }
    return outputs;
  },
};

const nonZero: OpDefinition = {
  opType: 'NonZero',
  infer(ctx) {
    const input = ctx.requireInput(0);
    const rank = input.shape?.length;
    return { types: [{ dtype: 'int64', shape: [rank ?? ctx.freshDim(), ctx.freshDim()] }] };
  },
  evaluate(ctx) {
    const input = requireValue(ctx, 0);
    const from = elements(input.data);
    const hits: number[] = [];
    for (let index = 0; index < input.size; index++) {
      const value = readNumber(input.dtype, from[index]);
      if (value !== 0 && value !== 0n && value !== '') hits.push(index);
    }
    const strides = rowMajorStrides(input.shape);
    const output = allocate('int64', input.rank * hits.length);
    hits.forEach((flat, column) => {
      let rest = flat;
      for (let axis = 0; axis < input.rank; axis++) {
        output[axis * hits.length + column] = BigInt(Math.floor(rest / strides[axis]!));
        rest %= strides[axis]!;
      }
    });
    return [new Tensor('int64', [input.rank, hits.length], output)];
  },
};

/** Shape-manipulation and data-movement ops: shape rules and folding kernels. */
export const shapeOps: OpDefinition[] = [
  reshape,
  flatten,
  squeeze,
  unsqueeze,
  identity,
  transpose,
  concat,
  split,
  slice,
  gather,
  scatterElements,
  gatherElements,
  shapeOp,
  size,
  constant,
  constantOfShape,
  range,
  cast,
  expand,
  tile,
  pad,
  resize,
  dropout,
  nonZero,
];

import { ErrorCodes, fail } from '../errors.js';
import { allocate, float32ToBfloat16, float32ToFloat16, type DType } from '../ir/dtype.js';
import type { Dim, Graph, Shape } from '../ir/graph.js';
import { Tensor, shapeSize } from '../ir/tensor.js';

/** Options of `randomInputs` and `resolveInputShapes`. */
export interface RandomInputsOptions {
  /** Static shapes for graph inputs by name, overriding the declared ones. */
  inputShapes?: Record<string, readonly number[]>;
  /** Sizes for symbolic dims by name (`{ batch: 8 }`); other symbolic or unknown dims are 1. */
  dims?: Record<string, number>;
  /** Seed of the generator (default 0): the same seed gives the same tensors. */
  seed?: number;
  /** Floating-point values are uniform in [low, high) (default [-1, 1)). */
  floatRange?: readonly [number, number];
  /**
   * Integer values are uniform integers in [low, high) (default [0, 2)): safe as indices
   * and class labels for any non-trivial size.
   */
  integerRange?: readonly [number, number];
}

/** The graph inputs a caller feeds: declared inputs that are not initializer defaults. */
export function feedInputs(graph: Graph): Graph['inputs'] {
  return graph.inputs.filter((input) => !graph.initializers.has(input.name));
}

/**
 * Static shapes for every fed graph input: `inputShapes` where given, else the declared
 * shape with symbolic dims taken from `dims` or set to 1. Returns the shapes and the size
 * chosen for each symbolic dim.
 */
export function resolveInputShapes(
  graph: Graph,
  options: Pick<RandomInputsOptions, 'inputShapes' | 'dims'> = {},
): { shapes: Record<string, number[]>; assumedDims: Record<string, number> } {
  const shapes: Record<string, number[]> = {};
  const assumedDims: Record<string, number> = {};
  const fed = feedInputs(graph);
  for (const name of Object.keys(options.inputShapes ?? {})) {
    if (!fed.some((input) => input.name === name)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `inputShapes names '${name}', which is not an input of graph '${graph.name}'; inputs: ${fed.map((input) => input.name).join(', ')}`);
    }
  }
  for (const input of fed) {
    const given = options.inputShapes?.[input.name];
    if (given) {
      shapes[input.name] = [...given];
      continue;
    }
    const declared: Shape | undefined = input.type?.shape;
    if (declared === undefined) {
      fail(ErrorCodes.INVALID_ARGUMENT, `graph input '${input.name}' has no declared shape; pass its shape in inputShapes`);
    }
    shapes[input.name] = declared.map((dim: Dim) => {
      if (typeof dim === 'number') return dim;
      const key = dim ?? '?';
      const size = (dim !== null ? options.dims?.[dim] : undefined) ?? 1;
      assumedDims[key] = size;
      return size;
    });
  }
  return { shapes, assumedDims };
}

/** mulberry32: a small, fast, seedable generator of uniform numbers in [0, 1). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTensor(dtype: DType, shape: number[], random: () => number, options: RandomInputsOptions): Tensor {
  const size = shapeSize(shape);
  const [floatLow, floatHigh] = options.floatRange ?? [-1, 1];
  const [integerLow, integerHigh] = options.integerRange ?? [0, 2];
  const uniform = (): number => floatLow + (floatHigh - floatLow) * random();
  const integer = (): number => integerLow + Math.floor((integerHigh - integerLow) * random());
  const data = allocate(dtype, size);
  switch (dtype) {
    case 'float32':
    case 'float64':
      for (let index = 0; index < size; index++) (data as Float32Array)[index] = uniform();
      break;
    case 'float16':
    case 'bfloat16': {
      const encode = dtype === 'float16' ? float32ToFloat16 : float32ToBfloat16;
      for (let index = 0; index < size; index++) (data as Uint16Array)[index] = encode(uniform());
      break;
    }
    case 'int64':
    case 'uint64':
      for (let index = 0; index < size; index++) (data as BigInt64Array)[index] = BigInt(integer());
      break;
    case 'bool':
      for (let index = 0; index < size; index++) (data as Uint8Array)[index] = random() < 0.5 ? 0 : 1;
      break;
    case 'string':
      break;
    default:
      for (let index = 0; index < size; index++) (data as Int32Array)[index] = integer();
  }
  return new Tensor(dtype, shape, data);
}

/**
 * Seeded random feeds for every graph input, with the declared dtypes and resolved
 * static shapes (see `resolveInputShapes`). Floats are uniform in [-1, 1), integers in
 * [0, 2), bools fair coin flips, strings empty.
 */
export function randomInputs(graph: Graph, options: RandomInputsOptions = {}): Record<string, Tensor> {
  const { shapes } = resolveInputShapes(graph, options);
  const random = createRandom(options.seed ?? 0);
  const feeds: Record<string, Tensor> = {};
  for (const input of feedInputs(graph)) {
    const dtype = input.type?.dtype ?? fail(ErrorCodes.INVALID_ARGUMENT, `graph input '${input.name}' has no declared dtype`);
    feeds[input.name] = randomTensor(dtype, shapes[input.name]!, random, options);
  }
  return feeds;
}

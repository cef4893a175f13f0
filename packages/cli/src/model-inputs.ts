import { randomInputs, resolveInputShapes, type Graph, type Tensor, type ValueInfo } from '@razor/core';

/**
 * Sizes of symbolic dimensions fixed by the tensors given for some inputs (a file of
 * shape [3, 1, 8, 8] for input [batch, 1, 8, 8] fixes batch = 3), so random tensors for
 * the other inputs agree with them.
 */
export function dimsFromFeeds(inputs: readonly ValueInfo[], feeds: Readonly<Record<string, Tensor>>): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const input of inputs) {
    const tensor = feeds[input.name];
    const shape = input.type?.shape;
    if (tensor === undefined || shape === undefined || shape.length !== tensor.shape.length) continue;
    shape.forEach((dim, axis) => {
      if (typeof dim === 'string') dims[dim] ??= tensor.shape[axis]!;
    });
  }
  return dims;
}

/**
 * Seeded random tensors (razor's `randomInputs`) for `inputs`, with the sizes in `dims`
 * for symbolic dimensions and 1 for any other. Returns the tensors and the symbolic
 * dimensions that were set to 1, to tell the user.
 */
export function randomFeeds(
  graph: Graph,
  inputs: readonly ValueInfo[],
  seed: number,
  dims: Record<string, number> = {},
): { feeds: Record<string, Tensor>; symbolicDims: string[] } {
  const all = randomInputs(graph, { seed, dims });
  const { assumedDims } = resolveInputShapes(graph, { dims });
  const symbolicDims = new Set<string>();
  for (const input of inputs) {
    for (const dim of input.type?.shape ?? []) {
      const key = dim ?? '?';
      if (typeof dim !== 'number' && !(key in dims) && assumedDims[key] === 1) symbolicDims.add(dim === null ? 'unknown' : dim);
    }
  }
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) feeds[input.name] = all[input.name]!;
  return { feeds, symbolicDims: [...symbolicDims] };
}

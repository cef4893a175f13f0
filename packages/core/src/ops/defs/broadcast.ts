import type { Dim, Shape } from '../../ir/graph.js';

/** Where broadcasting reports a conflict: an InferenceContext or EvaluateContext `fail`. */
export interface BroadcastFailure {
  fail(message: string): never;
}

function formatShape(shape: Shape): string {
  return `[${shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ')}]`;
}

/**
 * One output dimension of numpy-style (multidirectional) broadcasting. A 1 broadcasts;
 * equal symbols match; a static size wins over a symbol (the symbol must be 1 or that
 * size at run time); unequal static sizes are an error. Two different symbols, or an
 * unknown dim next to a symbol, give an unknown dim.
 */
function broadcastDim(dims: readonly Dim[]): Dim | { conflict: true } {
  let size: number | undefined;
  let symbol: string | undefined;
  let unknown = false;
  let differentSymbols = false;
  for (const dim of dims) {
    if (dim === 1) continue;
    if (typeof dim === 'number') {
      if (size !== undefined && size !== dim) return { conflict: true };
      size = dim;
    } else if (typeof dim === 'string') {
      if (symbol !== undefined && symbol !== dim) differentSymbols = true;
      symbol ??= dim;
    } else unknown = true;
  }
  if (size !== undefined) return size;
  if (differentSymbols || (unknown && symbol !== undefined)) return null;
  if (unknown) return null;
  return symbol ?? 1;
}

/**
 * The shape several shapes broadcast to (ONNX multidirectional broadcasting). Returns
 * undefined when any rank is unknown. Unequal static sizes fail through `context`,
 * which names the node.
 */
export function broadcastShapes(context: BroadcastFailure, shapes: readonly (Shape | undefined)[]): Shape | undefined {
  if (shapes.some((shape) => shape === undefined)) return undefined;
  const known = shapes as readonly Shape[];
  const rank = Math.max(0, ...known.map((shape) => shape.length));
  const result: Dim[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const dims = known.map((shape) => {
      const position = axis - (rank - shape.length);
      return position < 0 ? 1 : shape[position]!;
    });
    const dim = broadcastDim(dims);
    if (typeof dim === 'object' && dim !== null) {
      context.fail(
        `shapes ${known.map(formatShape).join(' and ')} cannot be broadcast together: dimension ${axis} of the result ` +
          `would need sizes ${dims.filter((entry) => typeof entry === 'number' && entry !== 1).join(' and ')}; ` +
          'make the sizes equal or 1',
      );
    }
    result.push(dim);
  }
  return result;
}

/**
 * Checks ONNX unidirectional broadcasting: `from` can be broadcast to `to` (each of its
 * right-aligned dims is 1 or equal to the target's). Fails through `context` on a
 * static conflict; unknown and symbolic dims pass.
 */
export function checkUnidirectionalBroadcast(context: BroadcastFailure, from: Shape | undefined, to: Shape | undefined, what: string): void {
  if (from === undefined || to === undefined) return;
  if (from.length > to.length) {
    context.fail(`${what} has shape ${formatShape(from)}, of higher rank than ${formatShape(to)} it must broadcast to`);
  }
  for (let position = 0; position < from.length; position++) {
    const dim = from[position]!;
    const target = to[position + to.length - from.length]!;
    if (dim === 1 || typeof dim !== 'number' || typeof target !== 'number') continue;
    if (dim !== target) {
      context.fail(`${what} has shape ${formatShape(from)}, which does not broadcast to ${formatShape(to)}; each dimension must be 1 or equal`);
    }
  }
}

export { formatShape };

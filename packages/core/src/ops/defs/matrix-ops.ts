import { getInt, type Dim } from '../../ir/graph.js';
import type { OpDefinition } from '../registry.js';
import { broadcastShapes, checkUnidirectionalBroadcast } from './broadcast.js';
import { outputElements, requireDimsMatch, requireRank, requireSameDtype, staticDim, typeWith } from './rule-helpers.js';

/**
 * MatMul with numpy semantics: a 1-D A is promoted to [1, K] and a 1-D B to [K, 1], the
 * added dim removed afterwards; batch dims broadcast. MACs: output elements × K.
 */
const matMul: OpDefinition = {
  opType: 'MatMul',
  parameterInputs: [1],
  infer(ctx) {
    const left = ctx.requireInput(0);
    const right = ctx.requireInput(1);
    const dtype = requireSameDtype(ctx, [0, 1]);
    if (left.shape === undefined || right.shape === undefined) return { types: [{ dtype }] };
    if (left.shape.length === 0 || right.shape.length === 0) ctx.fail('MatMul does not take scalars; use Mul');
    const a: Dim[] = left.shape.length === 1 ? [1, left.shape[0]!] : [...left.shape];
    const b: Dim[] = right.shape.length === 1 ? [right.shape[0]!, 1] : [...right.shape];
    const inner = a[a.length - 1]!;
    requireDimsMatch(
      ctx,
      inner,
      b[b.length - 2],
      `A has shape [${left.shape.join(', ')}] and B has shape [${right.shape.join(', ')}]: A's last dim ${String(inner)} must equal B's ` +
        `${right.shape.length === 1 ? 'only' : 'second-to-last'} dim ${String(b[b.length - 2])}`,
    );
    const batch = broadcastShapes(ctx, [a.slice(0, -2), b.slice(0, -2)])!;
    const shape: Dim[] = [...batch];
    if (left.shape.length > 1) shape.push(a[a.length - 2]!);
    if (right.shape.length > 1) shape.push(b[b.length - 1]!);
    return { types: [typeWith(dtype, shape)] };
  },
  macs(ctx) {
    const left = ctx.inputType(0)?.shape;
    return outputElements(ctx) * staticDim(left?.[left.length - 1]);
  },
};

/**
 * Gemm: Y = alpha × A' × B' + beta × C with A' = transA ? Aᵀ : A (and B alike); C
 * broadcasts unidirectionally to [M, N]. MACs: M × N × K.
 */
const gemm: OpDefinition = {
  opType: 'Gemm',
  parameterInputs: [1, 2],
  infer(ctx) {
    const left = ctx.requireInput(0);
    const right = ctx.requireInput(1);
    const dtype = requireSameDtype(ctx, [0, 1, 2]);
    requireRank(ctx, left.shape, 'A (input 0)', (rank) => rank === 2, 'rank 2');
    requireRank(ctx, right.shape, 'B (input 1)', (rank) => rank === 2, 'rank 2');
    const transA = getInt(ctx.node, 'transA', 0) !== 0;
    const transB = getInt(ctx.node, 'transB', 0) !== 0;
    const rows = left.shape ? left.shape[transA ? 1 : 0]! : null;
    const innerA = left.shape ? left.shape[transA ? 0 : 1]! : null;
    const innerB = right.shape ? right.shape[transB ? 1 : 0]! : null;
    const columns = right.shape ? right.shape[transB ? 0 : 1]! : null;
    requireDimsMatch(
      ctx,
      innerA,
      innerB,
      `A${transA ? 'ᵀ' : ''} has inner dim ${String(innerA)} but B${transB ? 'ᵀ' : ''} has ${String(innerB)}; check transA/transB and the shapes`,
    );
    const shape = [rows, columns];
    if (ctx.hasInput(2)) checkUnidirectionalBroadcast(ctx, ctx.requireInput(2).shape, shape, 'C (input 2)');
    return { types: [typeWith(dtype, shape)] };
  },
  macs(ctx) {
    const left = ctx.inputType(0)?.shape;
    const transA = getInt(ctx.node, 'transA', 0) !== 0;
    return outputElements(ctx) * staticDim(left?.[transA ? 0 : 1]);
  },
};

export const matrixOps: OpDefinition[] = [matMul, gemm];

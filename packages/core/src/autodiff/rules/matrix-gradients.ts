import { getFloat, getInt } from '../../ir/graph.js';
import { emitOp, reduceBroadcast, requireInputType, requireOutputType, scalarConstant } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Swaps the last two axes of a rank-`rank` value. */
function transposeLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, axis) => axis);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

export const matrixGradients: Record<string, GradientRule> = {
  MatMul(ctx) {
    // Y = A B (batched, broadcasting batch axes): dA = dY Bᵀ, dB = Aᵀ dY, each summed
    // over the batch axes its input broadcast along.
    const dy = outputGradient(ctx);
    const left = requireInputType(ctx, 0).shape;
    const right = requireInputType(ctx, 1).shape;
    const output = requireOutputType(ctx, 0).shape;
    if (left.length < 2 || right.length < 2) {
      ctx.fail(`MatMul gradients need inputs of rank 2 or more (got ranks ${left.length} and ${right.length}); Unsqueeze 1-D operands first`);
    }
    const gradients: (string | undefined)[] = [undefined, undefined];
    if (ctx.needsGradient(0)) {
      const rightTransposed = emitOp(ctx, 'Transpose', [ctx.inputs[1]!], { perm: transposeLastTwo(right.length) });
      const product = emitOp(ctx, 'MatMul', [dy, rightTransposed]);
      const productShape = [...output.slice(0, -2), left[left.length - 2]!, left[left.length - 1]!];
      gradients[0] = reduceBroadcast(ctx, product, productShape, 0);
    }
    if (ctx.needsGradient(1)) {
      const leftTransposed = emitOp(ctx, 'Transpose', [ctx.inputs[0]!], { perm: transposeLastTwo(left.length) });
      const product = emitOp(ctx, 'MatMul', [leftTransposed, dy]);
      const productShape = [...output.slice(0, -2), right[right.length - 2]!, right[right.length - 1]!];
      gradients[1] = reduceBroadcast(ctx, product, productShape, 1);
    }
    return gradients;
  },
  Gemm(ctx) {
    // Y = alpha A' B' + beta C with A' = transA ? Aᵀ : A and B' likewise; each gradient
    // is one Gemm with the transpose flags chosen so no explicit Transpose is needed.
    const dy = outputGradient(ctx);
    const alpha = getFloat(ctx.node, 'alpha', 1);
    const beta = getFloat(ctx.node, 'beta', 1);
    const transA = getInt(ctx.node, 'transA', 0) !== 0;
    const transB = getInt(ctx.node, 'transB', 0) !== 0;
    const [left, right] = [ctx.inputs[0]!, ctx.inputs[1]!];
    const gemm = (a: string, b: string, flagA: boolean, flagB: boolean): string =>
      emitOp(ctx, 'Gemm', [a, b], { alpha: { type: 'float', value: alpha }, transA: flagA ? 1 : 0, transB: flagB ? 1 : 0 });
    const gradients: (string | undefined)[] = [undefined, undefined, undefined];
    if (ctx.needsGradient(0)) gradients[0] = transA ? gemm(right, dy, transB, true) : gemm(dy, right, false, !transB);
    if (ctx.needsGradient(1)) gradients[1] = transB ? gemm(dy, left, true, transA) : gemm(left, dy, !transA, false);
    if (ctx.inputs.length > 2 && ctx.inputs[2] !== '' && ctx.needsGradient(2)) {
      const dtype = requireOutputType(ctx, 0).dtype;
      const scaled = beta === 1 ? dy : emitOp(ctx, 'Mul', [dy, scalarConstant(ctx, beta, dtype)]);
      gradients[2] = reduceBroadcast(ctx, scaled, requireOutputType(ctx, 0).shape, 2);
    }
    return gradients;
  },
};

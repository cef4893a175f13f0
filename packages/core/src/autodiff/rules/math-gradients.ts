import { dtypeToOnnx, isFloatDType } from '../../ir/dtype.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, reduceBroadcast, requireInputType, requireOutputType, scalarConstant, valueDtype } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Gradient of input `index` of a broadcasting op, reduced to the input's shape; built only when needed. */
function toInput(ctx: GradientContext, index: number, build: () => string): string | undefined {
  if (!ctx.needsGradient(index)) return undefined;
  return reduceBroadcast(ctx, build(), requireOutputType(ctx, 0).shape, index);
}

/**
 * Max and Min (variadic, broadcasting): dY goes to the inputs equal to the output, shared
 * evenly between ties (PyTorch's maximum/minimum rule), so the total is preserved.
 */
function extremum(ctx: GradientContext): (string | undefined)[] {
  const dy = outputGradient(ctx);
  if (ctx.inputs.length === 1) return [dy];
  const dtype = valueDtype(ctx);
  const masks = ctx.inputs.map((input) => emitOp(ctx, 'Cast', [emitOp(ctx, 'Equal', [input, ctx.outputs[0]!])], { to: dtypeToOnnx(dtype) }));
  const ties = emitOp(ctx, 'Sum', masks);
  const shared = emitOp(ctx, 'Div', [dy, ties]);
  return ctx.inputs.map((_, index) => toInput(ctx, index, () => emitOp(ctx, 'Mul', [shared, masks[index]!])));
}

/**
 * Pow: y = aᵇ. da = dY · b · aᵇ⁻¹; db = dY · y · ln a, zero where a = 0 and b ≥ 0 (PyTorch's
 * convention, which keeps x² differentiable at 0). An integer exponent takes no gradient.
 */
function pow(ctx: GradientContext): (string | undefined)[] {
  const dy = outputGradient(ctx);
  const dtype = valueDtype(ctx);
  const [base, exponentInput] = [ctx.inputs[0]!, ctx.inputs[1]!];
  const exponentType = requireInputType(ctx, 1).dtype;
  const exponent = exponentType === dtype ? exponentInput : emitOp(ctx, 'Cast', [exponentInput], { to: dtypeToOnnx(dtype) });
  const baseGradient = toInput(ctx, 0, () => {
    const lowered = emitOp(ctx, 'Pow', [base, emitOp(ctx, 'Sub', [exponent, scalarConstant(ctx, 1, dtype)])]);
    return emitOp(ctx, 'Mul', [dy, emitOp(ctx, 'Mul', [exponent, lowered])]);
  });
  const exponentGradient = !isFloatDType(exponentType)
    ? undefined
    : toInput(ctx, 1, () => {
        const zero = scalarConstant(ctx, 0, dtype);
        const masked = emitOp(ctx, 'And', [emitOp(ctx, 'Equal', [base, zero]), emitOp(ctx, 'GreaterOrEqual', [exponent, zero])]);
        const raw = emitOp(ctx, 'Mul', [dy, emitOp(ctx, 'Mul', [ctx.outputs[0]!, emitOp(ctx, 'Log', [base])])]);
        return emitOp(ctx, 'Where', [masked, zero, raw]);
      });
  return [baseGradient, exponentGradient];
}

export const mathGradients: Record<string, GradientRule> = {
  Abs(ctx) {
    return [emitOp(ctx, 'Mul', [outputGradient(ctx), emitOp(ctx, 'Sign', [ctx.inputs[0]!])])];
  },
  Sin(ctx) {
    return [emitOp(ctx, 'Mul', [outputGradient(ctx), emitOp(ctx, 'Cos', [ctx.inputs[0]!])])];
  },
  Cos(ctx) {
    return [emitOp(ctx, 'Neg', [emitOp(ctx, 'Mul', [outputGradient(ctx), emitOp(ctx, 'Sin', [ctx.inputs[0]!])])])];
  },
  Reciprocal(ctx) {
    // −dY · y²
    const output = ctx.outputs[0]!;
    return [emitOp(ctx, 'Neg', [emitOp(ctx, 'Mul', [outputGradient(ctx), emitOp(ctx, 'Mul', [output, output])])])];
  },
  Pow: pow,
  Max: extremum,
  Min: extremum,
  Mean(ctx) {
    const shared = emitOp(ctx, 'Mul', [outputGradient(ctx), scalarConstant(ctx, 1 / ctx.inputs.length, valueDtype(ctx))]);
    return ctx.inputs.map((_, index) => toInput(ctx, index, () => shared));
  },
};

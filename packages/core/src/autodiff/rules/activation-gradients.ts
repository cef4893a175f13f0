import { getFloat, getString } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, reduceBroadcast, requireOutputType, scalarConstant, valueDtype } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** dY times the local slope `slope` (an elementwise value shaped like X). */
function chain(ctx: GradientContext, slope: string): (string | undefined)[] {
  return [emitOp(ctx, 'Mul', [outputGradient(ctx), slope])];
}

function constant(ctx: GradientContext, value: number): string {
  return scalarConstant(ctx, value, valueDtype(ctx));
}

function isPositive(ctx: GradientContext): string {
  return emitOp(ctx, 'Greater', [ctx.inputs[0]!, constant(ctx, 0)]);
}

/** The standard normal density exp(−x²/2)/√(2π). */
function normalDensity(ctx: GradientContext, x: string): string {
  const halfSquare = emitOp(ctx, 'Mul', [emitOp(ctx, 'Mul', [x, x]), constant(ctx, -0.5)]);
  return emitOp(ctx, 'Mul', [emitOp(ctx, 'Exp', [halfSquare]), constant(ctx, 1 / Math.sqrt(2 * Math.PI))]);
}

/**
 * Gelu (opset 20). Exact: Φ(x) + x φ(x) with Φ(x) = ½(1 + erf(x/√2)). approximate='tanh':
 * y = ½x(1 + t), t = tanh(√(2/π)(x + 0.044715x³)), so y' = ½(1 + t) + ½x(1 − t²)√(2/π)(1 + 3·0.044715x²).
 */
function gelu(ctx: GradientContext): (string | undefined)[] {
  const x = ctx.inputs[0]!;
  const approximate = getString(ctx.node, 'approximate', 'none');
  if (approximate === 'tanh') {
    const cubic = 0.044715;
    const root = Math.sqrt(2 / Math.PI);
    const square = emitOp(ctx, 'Mul', [x, x]);
    const inner = emitOp(ctx, 'Mul', [emitOp(ctx, 'Add', [x, emitOp(ctx, 'Mul', [emitOp(ctx, 'Mul', [square, x]), constant(ctx, cubic)])]), constant(ctx, root)]);
    const t = emitOp(ctx, 'Tanh', [inner]);
    const half = constant(ctx, 0.5);
    const left = emitOp(ctx, 'Mul', [emitOp(ctx, 'Add', [t, constant(ctx, 1)]), half]);
    const innerSlope = emitOp(ctx, 'Add', [emitOp(ctx, 'Mul', [square, constant(ctx, 3 * cubic * root)]), constant(ctx, root)]);
    const tanhSlope = emitOp(ctx, 'Sub', [constant(ctx, 1), emitOp(ctx, 'Mul', [t, t])]);
    const right = emitOp(ctx, 'Mul', [emitOp(ctx, 'Mul', [emitOp(ctx, 'Mul', [x, half]), tanhSlope]), innerSlope]);
    return chain(ctx, emitOp(ctx, 'Add', [left, right]));
  }
  if (approximate !== 'none') ctx.fail(`approximate '${approximate}' is not 'none' or 'tanh'`);
  const cdf = emitOp(ctx, 'Mul', [emitOp(ctx, 'Add', [emitOp(ctx, 'Erf', [emitOp(ctx, 'Mul', [x, constant(ctx, Math.SQRT1_2)])]), constant(ctx, 1)]), constant(ctx, 0.5)]);
  return chain(ctx, emitOp(ctx, 'Add', [cdf, emitOp(ctx, 'Mul', [x, normalDensity(ctx, x)])]));
}

/** Smooth and piecewise activations PyTorch exports. At x = 0 the negative branch's slope applies, as in PyTorch. */
export const smoothActivationGradients: Record<string, GradientRule> = {
  Elu(ctx) {
    // x > 0: 1; else α eˣ = y + α.
    const alpha = constant(ctx, getFloat(ctx.node, 'alpha', 1));
    const dy = outputGradient(ctx);
    return [emitOp(ctx, 'Where', [isPositive(ctx), dy, emitOp(ctx, 'Mul', [dy, emitOp(ctx, 'Add', [ctx.outputs[0]!, alpha])])])];
  },
  Selu(ctx) {
    // x > 0: γ; else γ α eˣ = y + γ α.
    const gamma = getFloat(ctx.node, 'gamma', 1.0507009873554805);
    const alpha = getFloat(ctx.node, 'alpha', 1.6732632423543772);
    const negative = emitOp(ctx, 'Add', [ctx.outputs[0]!, constant(ctx, gamma * alpha)]);
    return chain(ctx, emitOp(ctx, 'Where', [isPositive(ctx), constant(ctx, gamma), negative]));
  },
  Softplus(ctx) {
    return chain(ctx, emitOp(ctx, 'Sigmoid', [ctx.inputs[0]!]));
  },
  Softsign(ctx) {
    // 1 / (1 + |x|)²
    const denominator = emitOp(ctx, 'Add', [emitOp(ctx, 'Abs', [ctx.inputs[0]!]), constant(ctx, 1)]);
    return [emitOp(ctx, 'Div', [outputGradient(ctx), emitOp(ctx, 'Mul', [denominator, denominator])])];
  },
  Gelu: gelu,
  Erf(ctx) {
    // 2/√π · exp(−x²)
    const x = ctx.inputs[0]!;
    const density = emitOp(ctx, 'Exp', [emitOp(ctx, 'Neg', [emitOp(ctx, 'Mul', [x, x])])]);
    return chain(ctx, emitOp(ctx, 'Mul', [density, constant(ctx, 2 / Math.sqrt(Math.PI))]));
  },
  PRelu(ctx) {
    // dX = dY where x > 0, dY·slope elsewhere; dSlope = Σ dY·x over x ≤ 0, reduced to the slope's shape.
    const dy = outputGradient(ctx);
    const positive = isPositive(ctx);
    const gradients: (string | undefined)[] = [undefined, undefined];
    if (ctx.needsGradient(0)) {
      const scaled = reduceBroadcast(ctx, emitOp(ctx, 'Where', [positive, dy, emitOp(ctx, 'Mul', [dy, ctx.inputs[1]!])]), requireOutputType(ctx, 0).shape, 0);
      gradients[0] = scaled;
    }
    if (ctx.needsGradient(1)) {
      const taken = emitOp(ctx, 'Where', [positive, constant(ctx, 0), emitOp(ctx, 'Mul', [dy, ctx.inputs[0]!])]);
      gradients[1] = reduceBroadcast(ctx, taken, requireOutputType(ctx, 0).shape, 1);
    }
    return gradients;
  },
};

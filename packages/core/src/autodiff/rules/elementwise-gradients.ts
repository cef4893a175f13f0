import type { GradientContext } from '../../ops/registry.js';
import { emitOp, reduceBroadcast, requireOutputType, scalarConstant } from '../gradient-helpers.js';
import type { GradientRule } from './gradient-rule.js';

/** The output gradient of a single-output op; rules run only when one flows. */
export function outputGradient(ctx: GradientContext, index = 0): string {
  return ctx.outputGradient(index) ?? ctx.fail(`no gradient flows into output ${index}`);
}

/** Gradient of input `index` of a broadcasting op, reduced to the input's shape. */
function toInput(ctx: GradientContext, index: number, gradient: string): string | undefined {
  if (!ctx.needsGradient(index)) return undefined;
  return reduceBroadcast(ctx, gradient, requireOutputType(ctx, 0).shape, index);
}

/** Only builds a gradient term when its input needs one (saves nodes on frozen paths). */
function when(ctx: GradientContext, index: number, build: () => string): string | undefined {
  return ctx.needsGradient(index) ? toInput(ctx, index, build()) : undefined;
}

function dtypeOf(ctx: GradientContext): Parameters<typeof scalarConstant>[2] {
  return ctx.outputType(0)?.dtype ?? ctx.inputType(0)?.dtype ?? 'float32';
}

export const elementwiseGradients: Record<string, GradientRule> = {
  Add(ctx) {
    const dy = outputGradient(ctx);
    return [toInput(ctx, 0, dy), toInput(ctx, 1, dy)];
  },
  Sum(ctx) {
    const dy = outputGradient(ctx);
    return ctx.inputs.map((_, index) => toInput(ctx, index, dy));
  },
  Sub(ctx) {
    const dy = outputGradient(ctx);
    return [toInput(ctx, 0, dy), when(ctx, 1, () => emitOp(ctx, 'Neg', [dy]))];
  },
  Mul(ctx) {
    const dy = outputGradient(ctx);
    const [left, right] = [ctx.inputs[0]!, ctx.inputs[1]!];
    return [when(ctx, 0, () => emitOp(ctx, 'Mul', [dy, right])), when(ctx, 1, () => emitOp(ctx, 'Mul', [dy, left]))];
  },
  Div(ctx) {
    // y = a / b: da = dy / b, db = -dy * a / b² = -dy * y / b.
    const dy = outputGradient(ctx);
    const [right, output] = [ctx.inputs[1]!, ctx.outputs[0]!];
    return [
      when(ctx, 0, () => emitOp(ctx, 'Div', [dy, right])),
      when(ctx, 1, () => emitOp(ctx, 'Neg', [emitOp(ctx, 'Div', [emitOp(ctx, 'Mul', [dy, output]), right])])),
    ];
  },
  Neg(ctx) {
    return [emitOp(ctx, 'Neg', [outputGradient(ctx)])];
  },
  Identity(ctx) {
    return [outputGradient(ctx)];
  },
  Relu(ctx) {
    const zero = scalarConstant(ctx, 0, dtypeOf(ctx));
    const positive = emitOp(ctx, 'Greater', [ctx.inputs[0]!, zero]);
    return [emitOp(ctx, 'Where', [positive, outputGradient(ctx), zero])];
  },
  Sigmoid(ctx) {
    // dy * y * (1 - y)
    const output = ctx.outputs[0]!;
    const complement = emitOp(ctx, 'Sub', [scalarConstant(ctx, 1, dtypeOf(ctx)), output]);
    return [emitOp(ctx, 'Mul', [outputGradient(ctx), emitOp(ctx, 'Mul', [output, complement])])];
  },
  Tanh(ctx) {
    // dy * (1 - y²)
    const output = ctx.outputs[0]!;
    const complement = emitOp(ctx, 'Sub', [scalarConstant(ctx, 1, dtypeOf(ctx)), emitOp(ctx, 'Mul', [output, output])]);
    return [emitOp(ctx, 'Mul', [outputGradient(ctx), complement])];
  },
  Exp(ctx) {
    return [emitOp(ctx, 'Mul', [outputGradient(ctx), ctx.outputs[0]!])];
  },
  Log(ctx) {
    return [emitOp(ctx, 'Div', [outputGradient(ctx), ctx.inputs[0]!])];
  },
  Sqrt(ctx) {
    // dy / (2 y)
    const output = ctx.outputs[0]!;
    return [emitOp(ctx, 'Div', [outputGradient(ctx), emitOp(ctx, 'Add', [output, output])])];
  },
};

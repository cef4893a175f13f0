import { dtypeToOnnx, isFloatDType } from '../../ir/dtype.js';
import { getFloat } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, reduceBroadcast, reduceSum, requireOutputType, scalarConstant, shapeOfInput } from '../gradient-helpers.js';
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

/** Where(condition, 0, dy): dy with the elements where `condition` holds zeroed. */
function zeroWhere(ctx: GradientContext, condition: string, gradient: string): string {
  return emitOp(ctx, 'Where', [condition, scalarConstant(ctx, 0, dtypeOf(ctx)), gradient]);
}

/** Clip's bounds: attributes before opset 11, optional scalar inputs 1 and 2 since. */
function clipBound(ctx: GradientContext, index: 1 | 2): string | undefined {
  if (ctx.opset >= 11) return ctx.inputs[index] === undefined || ctx.inputs[index] === '' ? undefined : ctx.inputs[index];
  const value = getFloat(ctx.node, index === 1 ? 'min' : 'max');
  return value === undefined ? undefined : scalarConstant(ctx, value, dtypeOf(ctx));
}

export const activationGradients: Record<string, GradientRule> = {
  Clip(ctx) {
    // dy passes where min ≤ x ≤ max (PyTorch's convention at the bounds); a bound input's
    // gradient is the sum of dy where it clipped.
    const dy = outputGradient(ctx);
    const x = ctx.inputs[0]!;
    const [low, high] = [clipBound(ctx, 1), clipBound(ctx, 2)];
    const below = low === undefined ? undefined : emitOp(ctx, 'Less', [x, low]);
    const above = high === undefined ? undefined : emitOp(ctx, 'Greater', [x, high]);
    let gradient = dy;
    if (below !== undefined) gradient = zeroWhere(ctx, below, gradient);
    if (above !== undefined) gradient = zeroWhere(ctx, above, gradient);
    const rank = requireOutputType(ctx, 0).shape.length;
    const allAxes = Array.from({ length: rank }, (_, axis) => axis);
    const boundGradient = (index: number, clipped: string | undefined): string | undefined => {
      if (ctx.opset < 11 || clipped === undefined || !ctx.needsGradient(index)) return undefined;
      const taken = emitOp(ctx, 'Where', [clipped, dy, scalarConstant(ctx, 0, dtypeOf(ctx))]);
      return emitOp(ctx, 'Reshape', [reduceSum(ctx, taken, allAxes, false), shapeOfInput(ctx, index)]);
    };
    return [gradient, boundGradient(1, below), boundGradient(2, above)].slice(0, Math.max(1, ctx.inputs.length));
  },
  LeakyRelu(ctx) {
    const dy = outputGradient(ctx);
    const dtype = dtypeOf(ctx);
    const alpha = scalarConstant(ctx, getFloat(ctx.node, 'alpha', 0.01), dtype);
    const positive = emitOp(ctx, 'Greater', [ctx.inputs[0]!, scalarConstant(ctx, 0, dtype)]);
    return [emitOp(ctx, 'Where', [positive, dy, emitOp(ctx, 'Mul', [dy, alpha])])];
  },
  HardSigmoid(ctx) {
    // y = max(0, min(1, αx + β)): slope α where 0 < αx + β < 1.
    const dtype = dtypeOf(ctx);
    const linear = emitOp(ctx, 'Add', [
      emitOp(ctx, 'Mul', [ctx.inputs[0]!, scalarConstant(ctx, getFloat(ctx.node, 'alpha', 0.2), dtype)]),
      scalarConstant(ctx, getFloat(ctx.node, 'beta', 0.5), dtype),
    ]);
    const inside = emitOp(ctx, 'And', [emitOp(ctx, 'Greater', [linear, scalarConstant(ctx, 0, dtype)]), emitOp(ctx, 'Less', [linear, scalarConstant(ctx, 1, dtype)])]);
    const sloped = emitOp(ctx, 'Mul', [outputGradient(ctx), scalarConstant(ctx, getFloat(ctx.node, 'alpha', 0.2), dtype)]);
    return [emitOp(ctx, 'Where', [inside, sloped, scalarConstant(ctx, 0, dtype)])];
  },
  HardSwish(ctx) {
    // y = x · clip(x/6 + 1/2, 0, 1): slope 0 below −3, 1 above 3, x/3 + 1/2 between.
    const dtype = dtypeOf(ctx);
    const x = ctx.inputs[0]!;
    const between = emitOp(ctx, 'Add', [emitOp(ctx, 'Mul', [x, scalarConstant(ctx, 1 / 3, dtype)]), scalarConstant(ctx, 0.5, dtype)]);
    const upper = emitOp(ctx, 'Where', [emitOp(ctx, 'Greater', [x, scalarConstant(ctx, 3, dtype)]), scalarConstant(ctx, 1, dtype), between]);
    const slope = zeroWhere(ctx, emitOp(ctx, 'Less', [x, scalarConstant(ctx, -3, dtype)]), upper);
    return [emitOp(ctx, 'Mul', [outputGradient(ctx), slope])];
  },
  Where(ctx) {
    const dy = outputGradient(ctx);
    const condition = ctx.inputs[0]!;
    const zero = (): string => scalarConstant(ctx, 0, dtypeOf(ctx));
    return [undefined, when(ctx, 1, () => emitOp(ctx, 'Where', [condition, dy, zero()])), when(ctx, 2, () => zeroWhere(ctx, condition, dy))];
  },
  Cast(ctx) {
    // Only float → float casts carry a gradient (integer values are not differentiated).
    const input = ctx.inputType(0);
    if (input === undefined || !isFloatDType(input.dtype)) return [undefined];
    const output = ctx.outputType(0);
    const dy = outputGradient(ctx);
    return [output?.dtype === input.dtype ? dy : emitOp(ctx, 'Cast', [dy], { to: dtypeToOnnx(input.dtype) })];
  },
};

import { isFloatDType, isIntegerDType, type DType } from '../../ir/dtype.js';
import { getFloat, type Dim } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import type { EvaluateContext, InferenceContext, InferenceResult, OpDefinition } from '../registry.js';
import { broadcastShapes, checkUnidirectionalBroadcast } from './broadcast.js';
import { divide, evaluateBroadcast, evaluateUnary, roundHalfToEven } from './elementwise-kernels.js';
import { requireSameDtype, typeWith } from './rule-helpers.js';

// Elementwise ops are data movement in razor's MAC convention (see estimator/README.md):
// none of them defines `macs`.

type UnaryKernel = (value: number, ctx: EvaluateContext) => number;

interface UnaryOptions {
  /** The op accepts and returns bool only. */
  bool?: boolean;
  /** The op needs a floating-point input. */
  float?: boolean;
}

function unaryOp(opType: string, kernel: UnaryKernel | undefined, options: UnaryOptions = {}): OpDefinition {
  return {
    opType,
    infer(ctx) {
      const input = ctx.requireInput(0);
      if (options.bool && input.dtype !== 'bool') ctx.fail(`input 0 is ${input.dtype} but ${opType} takes bool`);
      if (options.float && !isFloatDType(input.dtype)) {
        ctx.fail(`input 0 is ${input.dtype} but ${opType} takes a floating-point tensor; insert a Cast`);
      }
      return { types: [typeWith(input.dtype, input.shape)] };
    },
    ...(kernel
      ? {
          evaluate(ctx: EvaluateContext): Tensor[] {
            const input = ctx.inputs[0] ?? ctx.fail('input 0 is missing');
            return [evaluateUnary(input, input.dtype, (value) => kernel(value, ctx))];
          },
        }
      : {}),
  };
}

function sigmoid(value: number): number {
  return value >= 0 ? 1 / (1 + Math.exp(-value)) : Math.exp(value) / (1 + Math.exp(value));
}

const unaryOps: OpDefinition[] = [
  unaryOp('Relu', (value) => Math.max(0, value)),
  unaryOp('LeakyRelu', (value, ctx) => (value >= 0 ? value : value * getFloat(ctx.node, 'alpha', 0.01)), { float: true }),
  unaryOp('Sigmoid', sigmoid, { float: true }),
  unaryOp('Tanh', Math.tanh, { float: true }),
  unaryOp(
    'HardSigmoid',
    (value, ctx) => Math.max(0, Math.min(1, getFloat(ctx.node, 'alpha', 0.2) * value + getFloat(ctx.node, 'beta', 0.5))),
    { float: true },
  ),
  unaryOp('HardSwish', (value) => value * Math.max(0, Math.min(1, value / 6 + 0.5)), { float: true }),
  unaryOp('Elu', (value, ctx) => (value >= 0 ? value : getFloat(ctx.node, 'alpha', 1) * (Math.exp(value) - 1)), { float: true }),
  unaryOp(
    'Selu',
    (value, ctx) =>
      getFloat(ctx.node, 'gamma', 1.0507009873554805) *
      (value > 0 ? value : getFloat(ctx.node, 'alpha', 1.6732632423543772) * (Math.exp(value) - 1)),
    { float: true },
  ),
  unaryOp('Softplus', (value) => Math.log1p(Math.exp(value)), { float: true }),
  unaryOp('Softsign', (value) => value / (1 + Math.abs(value)), { float: true }),
  unaryOp('Gelu', undefined, { float: true }),
  unaryOp('Erf', undefined, { float: true }),
  unaryOp('Sqrt', Math.sqrt, { float: true }),
  unaryOp('Exp', Math.exp, { float: true }),
  unaryOp('Log', Math.log, { float: true }),
  unaryOp('Sin', Math.sin, { float: true }),
  unaryOp('Cos', Math.cos, { float: true }),
  unaryOp('Neg', (value) => -value),
  unaryOp('Abs', Math.abs),
  unaryOp('Reciprocal', (value) => 1 / value, { float: true }),
  unaryOp('Sign', Math.sign),
  unaryOp('Floor', Math.floor, { float: true }),
  unaryOp('Ceil', Math.ceil, { float: true }),
  unaryOp('Round', roundHalfToEven, { float: true }),
  unaryOp('Not', (value) => (value ? 0 : 1), { bool: true }),
];

const isNan: OpDefinition = {
  opType: 'IsNaN',
  infer(ctx) {
    return { types: [typeWith('bool', ctx.requireInput(0).shape)] };
  },
};

type BinaryKernel = (left: number, right: number, dtype: DType) => number;

interface BinaryOptions {
  /** Output element type: the inputs' (default) or bool (comparisons). */
  output?: 'same' | 'bool';
  /** Inputs must be bool (And, Or, Xor). */
  bool?: boolean;
  /** Inputs may differ in element type; the output takes input 0's (Pow). */
  mixedTypes?: boolean;
  /** Symbolic propagation of shape arithmetic (Shape → Gather → Mul → Concat → Reshape). */
  symbolic?: (left: Dim, right: Dim) => Dim;
}

function symbolicElementwise(left: Dim[], right: Dim[], combine: (left: Dim, right: Dim) => Dim): Dim[] | undefined {
  if (left.length !== right.length && left.length !== 1 && right.length !== 1) return undefined;
  const length = Math.max(left.length, right.length);
  const result: Dim[] = [];
  for (let index = 0; index < length; index++) {
    result.push(combine(left[left.length === 1 ? 0 : index]!, right[right.length === 1 ? 0 : index]!));
  }
  return result;
}

function binaryOp(opType: string, kernel: BinaryKernel, options: BinaryOptions = {}): OpDefinition {
  return {
    opType,
    infer(ctx): InferenceResult {
      const left = ctx.requireInput(0);
      const right = ctx.requireInput(1);
      if (!options.mixedTypes) requireSameDtype(ctx, [0, 1]);
      if (options.bool && left.dtype !== 'bool') ctx.fail(`inputs are ${left.dtype} but ${opType} takes bool`);
      const shape = broadcastShapes(ctx, [left.shape, right.shape]);
      const dtype = options.output === 'bool' ? 'bool' : left.dtype;
      const result: InferenceResult = { types: [typeWith(dtype, shape)] };
      if (options.symbolic && isIntegerDType(dtype) && (shape === undefined || shape.length <= 1)) {
        const leftValue = ctx.symbolicValue(0);
        const rightValue = ctx.symbolicValue(1);
        if (leftValue && rightValue) {
          const combine = options.symbolic;
          const symbolic = symbolicElementwise(leftValue, rightValue, (a, b) =>
            typeof a === 'number' && typeof b === 'number' ? kernel(a, b, dtype) : combine(a, b),
          );
          if (symbolic) result.symbolic = [symbolic];
        }
      }
      return result;
    },
    evaluate(ctx) {
      const left = ctx.inputs[0] ?? ctx.fail('input 0 is missing');
      const right = ctx.inputs[1] ?? ctx.fail('input 1 is missing');
      const dtype = left.dtype;
      const outputDtype = options.output === 'bool' ? 'bool' : dtype;
      return [evaluateBroadcast(ctx, [left, right], outputDtype, ([a, b]) => kernel(a!, b!, dtype))];
    },
  };
}

const binaryOps: OpDefinition[] = [
  binaryOp('Add', (a, b) => a + b, { symbolic: (a, b) => (b === 0 ? a : a === 0 ? b : null) }),
  binaryOp('Sub', (a, b) => a - b, { symbolic: (a, b) => (b === 0 ? a : a !== null && a === b ? 0 : null) }),
  binaryOp('Mul', (a, b) => a * b, { symbolic: (a, b) => (b === 1 ? a : a === 1 ? b : null) }),
  binaryOp('Div', (a, b, dtype) => divide(dtype, a, b), { symbolic: (a, b) => (b === 1 ? a : a !== null && a === b ? 1 : null) }),
  binaryOp('Pow', (a, b) => a ** b, { mixedTypes: true }),
  binaryOp('Equal', (a, b) => (a === b ? 1 : 0), { output: 'bool' }),
  binaryOp('Greater', (a, b) => (a > b ? 1 : 0), { output: 'bool' }),
  binaryOp('Less', (a, b) => (a < b ? 1 : 0), { output: 'bool' }),
  binaryOp('GreaterOrEqual', (a, b) => (a >= b ? 1 : 0), { output: 'bool' }),
  binaryOp('LessOrEqual', (a, b) => (a <= b ? 1 : 0), { output: 'bool' }),
  binaryOp('And', (a, b) => (a && b ? 1 : 0), { output: 'bool', bool: true }),
  binaryOp('Or', (a, b) => (a || b ? 1 : 0), { output: 'bool', bool: true }),
  binaryOp('Xor', (a, b) => ((a ? 1 : 0) !== (b ? 1 : 0) ? 1 : 0), { output: 'bool', bool: true }),
];

function variadicOp(opType: string, reduce: (values: readonly number[]) => number): OpDefinition {
  return {
    opType,
    infer(ctx) {
      if (ctx.inputCount < 1) ctx.fail(`${opType} needs at least one input`);
      const indices = Array.from({ length: ctx.inputCount }, (_, index) => index);
      const dtype = requireSameDtype(ctx, indices);
      const shape = broadcastShapes(
        ctx,
        indices.map((index) => ctx.requireInput(index).shape),
      );
      return { types: [typeWith(dtype, shape)] };
    },
    evaluate(ctx) {
      const inputs = ctx.inputs.map((input, index) => input ?? ctx.fail(`input ${index} is missing`));
      return [evaluateBroadcast(ctx, inputs, inputs[0]!.dtype, reduce)];
    },
  };
}

const variadicOps: OpDefinition[] = [
  variadicOp('Sum', (values) => values.reduce((sum, value) => sum + value, 0)),
  variadicOp('Mean', (values) => values.reduce((sum, value) => sum + value, 0) / values.length),
  variadicOp('Min', (values) => Math.min(...values)),
  variadicOp('Max', (values) => Math.max(...values)),
];

/** Clip's bounds: attributes before opset 11, optional scalar inputs since. */
function clipBounds(ctx: EvaluateContext): { low: number; high: number } {
  if (ctx.opset < 11) {
    return { low: getFloat(ctx.node, 'min', -Infinity), high: getFloat(ctx.node, 'max', Infinity) };
  }
  return { low: ctx.inputs[1]?.numberAt(0) ?? -Infinity, high: ctx.inputs[2]?.numberAt(0) ?? Infinity };
}

const clip: OpDefinition = {
  opType: 'Clip',
  infer(ctx: InferenceContext) {
    const input = ctx.requireInput(0);
    if (ctx.opset >= 11) {
      for (const index of [1, 2]) {
        const bound = ctx.hasInput(index) ? ctx.inputType(index) : undefined;
        if (bound === undefined) continue;
        if (bound.dtype !== input.dtype) ctx.fail(`bound input ${index} is ${bound.dtype} but input 0 is ${input.dtype}; they must match`);
        if (bound.shape !== undefined && bound.shape.length > 0 && !(bound.shape.length === 1 && bound.shape[0] === 1)) {
          ctx.fail(`bound input ${index} has shape [${bound.shape.join(', ')}] but must be a scalar`);
        }
      }
    }
    return { types: [typeWith(input.dtype, input.shape)] };
  },
  evaluate(ctx) {
    const input = ctx.inputs[0] ?? ctx.fail('input 0 is missing');
    const { low, high } = clipBounds(ctx);
    return [evaluateUnary(input, input.dtype, (value) => Math.min(high, Math.max(low, value)))];
  },
};

const where: OpDefinition = {
  opType: 'Where',
  infer(ctx) {
    const condition = ctx.requireInput(0);
    if (condition.dtype !== 'bool') ctx.fail(`condition (input 0) is ${condition.dtype} but must be bool`);
    const dtype = requireSameDtype(ctx, [1, 2]);
    const shape = broadcastShapes(ctx, [condition.shape, ctx.requireInput(1).shape, ctx.requireInput(2).shape]);
    return { types: [typeWith(dtype, shape)] };
  },
  evaluate(ctx) {
    const inputs = [0, 1, 2].map((index) => ctx.inputs[index] ?? ctx.fail(`input ${index} is missing`));
    return [evaluateBroadcast(ctx, inputs, inputs[1]!.dtype, ([condition, yes, no]) => (condition ? yes! : no!))];
  },
};

/** PRelu: the slope broadcasts unidirectionally to X (per-channel slopes are [C, 1, 1]). */
const prelu: OpDefinition = {
  opType: 'PRelu',
  parameterInputs: [1],
  infer(ctx) {
    const input = ctx.requireInput(0);
    const slope = ctx.requireInput(1);
    requireSameDtype(ctx, [0, 1]);
    checkUnidirectionalBroadcast(ctx, slope.shape, input.shape, 'slope (input 1)');
    return { types: [typeWith(input.dtype, input.shape)] };
  },
  evaluate(ctx) {
    const input = ctx.inputs[0] ?? ctx.fail('input 0 is missing');
    const slope = ctx.inputs[1] ?? ctx.fail('input 1 is missing');
    return [evaluateBroadcast(ctx, [input, slope], input.dtype, ([value, factor]) => (value! >= 0 ? value! : value! * factor!))];
  },
};

/** Activations and elementwise arithmetic, comparisons and logic. */
export const elementwiseOps: OpDefinition[] = [...unaryOps, isNan, ...binaryOps, ...variadicOps, clip, where, prelu];

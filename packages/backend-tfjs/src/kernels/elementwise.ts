import type { Kernel, KernelContext, KernelTable } from '../kernel.js';
import type { TfTensor, TfValue } from '../values.js';
import { isFloating, same, truncatingDivide, wrapInteger } from './common.js';

type Tf = KernelContext['tf'];

/** A unary op: the same dtype out as in. */
function unary(apply: (tf: Tf, x: TfTensor, ctx: KernelContext) => TfTensor): Kernel {
  return (ctx) => {
    const x = ctx.input(0);
    return same(x, apply(ctx.tf, x.tensor, ctx));
  };
}

/** Integer results of 8 and 16 bits wrap as ONNX's do (tfjs computes them in int32). */
function wrapped(ctx: KernelContext, like: TfValue, tensor: TfTensor): TfValue {
  const narrow = like.dtype === 'int8' || like.dtype === 'uint8' || like.dtype === 'int16' || like.dtype === 'uint16';
  return same(like, narrow ? wrapInteger(ctx, tensor, like.dtype) : tensor);
}

function arithmetic(apply: (tf: Tf, a: TfTensor, b: TfTensor) => TfTensor): Kernel {
  return (ctx) => {
    const a = ctx.input(0);
    return wrapped(ctx, a, apply(ctx.tf, a.tensor, ctx.input(1).tensor));
  };
}

function comparison(apply: (tf: Tf, a: TfTensor, b: TfTensor) => TfTensor): Kernel {
  return (ctx) => ({ tensor: apply(ctx.tf, ctx.input(0).tensor, ctx.input(1).tensor), dtype: 'bool' });
}

/** Sum, Mean, Min, Max over any number of broadcasting inputs. */
function variadic(apply: (tf: Tf, a: TfTensor, b: TfTensor) => TfTensor, mean = false): Kernel {
  return (ctx) => {
    const inputs = ctx.inputs.filter((input): input is TfValue => input !== undefined);
    if (inputs.length === 0) ctx.invalid('it needs at least one input');
    let result = inputs[0]!.tensor;
    for (const input of inputs.slice(1)) result = apply(ctx.tf, result, input.tensor);
    if (mean) result = ctx.tf.div(result, inputs.length);
    // A single input passes through unchanged (the executor owns it).
    return wrapped(ctx, inputs[0]!, result);
  };
}

function clip(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = ctx.input(0);
  let low: number | undefined;
  let high: number | undefined;
  if (ctx.opset < 11) {
    low = ctx.float('min');
    high = ctx.float('max');
  } else {
    if (ctx.has(1)) low = ctx.numbers(1)[0];
    if (ctx.has(2)) high = ctx.numbers(2)[0];
  }
  let result = x.tensor;
  if (low !== undefined) result = tf.maximum(result, tf.scalar(low, result.dtype as 'float32'));
  if (high !== undefined) result = tf.minimum(result, tf.scalar(high, result.dtype as 'float32'));
  return same(x, result);
}

/** The shape two or three tensors broadcast to (numpy rules). */
function broadcastShape(...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((shape) => shape.length));
  const result: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    let size = 1;
    for (const shape of shapes) {
      const dim = shape[shape.length - rank + axis] ?? 1;
      if (dim !== 1) size = dim;
    }
    result.push(size);
  }
  return result;
}

function where(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const condition = ctx.input(0).tensor;
  const a = ctx.input(1);
  const b = ctx.input(2).tensor;
  const shape = broadcastShape(condition.shape, a.tensor.shape, b.shape);
  // tf.broadcastTo is slow on wasm (47 ms for a scalar to 500K elements); a broadcasting add of zeros is not.
  const fit = (tensor: TfTensor): TfTensor => {
    if (tensor.shape.length === shape.length && tensor.shape.every((dim, axis) => dim === shape[axis])) return tensor;
    if (tensor.dtype === 'bool') return tf.notEqual(tf.add(tf.zeros(shape, 'int32'), tf.cast(tensor, 'int32')), 0);
    return tf.add(tf.zeros(shape, tensor.dtype as 'float32'), tensor);
  };
  if (a.tensor.dtype === 'bool') {
    // tfjs wasm selects bool operands wrongly: select their int32 twins and compare back.
    const selected = tf.where(fit(condition) as never, fit(tf.cast(a.tensor, 'int32')), fit(tf.cast(b, 'int32')));
    return same(a, tf.notEqual(selected, 0));
  }
  return same(a, tf.where(fit(condition) as never, fit(a.tensor), fit(b)));
}

const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

function elu(tf: Tf, x: TfTensor, alpha: number): TfTensor {
  return tf.where(tf.greater(x, 0), x, tf.mul(tf.sub(tf.exp(x), 1), alpha));
}

function gelu(tf: Tf, x: TfTensor, ctx: KernelContext): TfTensor {
  if (ctx.string('approximate', 'none') === 'tanh') {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1));
}

function divide(ctx: KernelContext): TfValue {
  const a = ctx.input(0);
  const b = ctx.input(1);
  if (isFloating(a.dtype) || a.dtype === 'bool') return same(a, ctx.tf.div(a.tensor, b.tensor));
  return wrapped(ctx, a, truncatingDivide(ctx, a.tensor, b.tensor));
}

function power(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const a = ctx.input(0);
  const exponent = ctx.input(1).tensor;
  if (isFloating(a.dtype)) return same(a, tf.pow(a.tensor, exponent.dtype === 'float32' ? exponent : tf.cast(exponent, 'float32')));
  const result = tf.round(tf.pow(tf.cast(a.tensor, 'float32'), tf.cast(exponent, 'float32')));
  return wrapped(ctx, a, tf.cast(result, 'int32'));
}

export const elementwiseKernels: KernelTable = {
  Relu: unary((tf, x) => tf.relu(x)),
  LeakyRelu: unary((tf, x, ctx) => tf.leakyRelu(x, ctx.float('alpha', 0.01))),
  Sigmoid: unary((tf, x) => tf.sigmoid(x)),
  Tanh: unary((tf, x) => tf.tanh(x)),
  HardSigmoid: unary((tf, x, ctx) => tf.clipByValue(tf.add(tf.mul(x, ctx.float('alpha', 0.2)), ctx.float('beta', 0.5)), 0, 1)),
  HardSwish: unary((tf, x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1))),
  Elu: unary((tf, x, ctx) => elu(tf, x, ctx.float('alpha', 1))),
  Selu: unary((tf, x, ctx) => tf.mul(elu(tf, x, ctx.float('alpha', SELU_ALPHA)), ctx.float('gamma', SELU_GAMMA))),
  Softplus: unary((tf, x) => tf.softplus(x)),
  Softsign: unary((tf, x) => tf.div(x, tf.add(tf.abs(x), 1))),
  Gelu: unary(gelu),
  Erf: unary((tf, x) => tf.erf(x)),
  Sqrt: unary((tf, x) => tf.sqrt(x)),
  Exp: unary((tf, x) => tf.exp(x)),
  Log: unary((tf, x) => tf.log(x)),
  Sin: unary((tf, x) => tf.sin(x)),
  Cos: unary((tf, x) => tf.cos(x)),
  Neg: unary((tf, x) => tf.neg(x)),
  Abs: unary((tf, x) => tf.abs(x)),
  Reciprocal: unary((tf, x) => tf.reciprocal(x)),
  Sign: unary((tf, x) => tf.sign(x)),
  Floor: unary((tf, x) => tf.floor(x)),
  Ceil: unary((tf, x) => tf.ceil(x)),
  Round: unary((tf, x) => tf.round(x)),
  Not: unary((tf, x) => tf.logicalNot(x)),
  IsNaN: (ctx) => ({ tensor: ctx.tf.isNaN(ctx.input(0).tensor), dtype: 'bool' }),
  Add: arithmetic((tf, a, b) => tf.add(a, b)),
  Sub: arithmetic((tf, a, b) => tf.sub(a, b)),
  Mul: arithmetic((tf, a, b) => tf.mul(a, b)),
  Div: divide,
  Pow: power,
  Equal: comparison((tf, a, b) => tf.equal(a, b)),
  Greater: comparison((tf, a, b) => tf.greater(a, b)),
  Less: comparison((tf, a, b) => tf.less(a, b)),
  GreaterOrEqual: comparison((tf, a, b) => tf.greaterEqual(a, b)),
  LessOrEqual: comparison((tf, a, b) => tf.lessEqual(a, b)),
  And: comparison((tf, a, b) => tf.logicalAnd(a, b)),
  Or: comparison((tf, a, b) => tf.logicalOr(a, b)),
  Xor: comparison((tf, a, b) => tf.logicalXor(a, b)),
  Sum: variadic((tf, a, b) => tf.add(a, b)),
  Mean: variadic((tf, a, b) => tf.add(a, b), true),
  Min: variadic((tf, a, b) => tf.minimum(a, b)),
  Max: variadic((tf, a, b) => tf.maximum(a, b)),
  Clip: clip,
  Where: where,
  PRelu: (ctx) => {
    const tf = ctx.tf;
    const x = ctx.input(0);
    return same(x, tf.where(tf.less(x.tensor, 0), tf.mul(x.tensor, ctx.input(1).tensor), x.tensor));
  },
};

import { getInt, getInts, getString } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { GradientContext } from '../../ops/registry.js';
import { readWindowAttributes } from '../../ops/defs/window-shape.js';
import { emitOp, int64Constant, reduceSum, requireInputType, requireStaticShape } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import { convOperandShapes } from './conv-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** The adjoint Conv of a ConvTranspose: the window that maps Y's positions onto X's. */
interface AdjointWindow {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis, then end pads. */
  pads: number[];
  /** Positions the adjoint Conv produces per axis (at least X's; the extra ones are sliced off). */
  produced: number[];
}

/**
 * The begin pads of a ConvTranspose with auto_pad and output_shape resolved, as ONNX and
 * onnxruntime compute them: total = stride·(D − 1) + output_padding + span − O, split with
 * the larger half at the end for SAME_UPPER and at the beginning for SAME_LOWER and for an
 * explicit output_shape.
 */
function beginPads(ctx: GradientContext, spatial: readonly number[], outputSpatial: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[], explicitPads: readonly number[]): number[] {
  const autoPad = getString(ctx.node, 'auto_pad', 'NOTSET');
  const outputShape = getInts(ctx.node, 'output_shape');
  if (autoPad === 'VALID') return spatial.map(() => 0);
  if (autoPad === 'NOTSET' && outputShape === undefined) return explicitPads.slice(0, spatial.length);
  const outputPadding = getInts(ctx.node, 'output_padding') ?? spatial.map(() => 0);
  return spatial.map((size, axis) => {
    const span = (kernel[axis]! - 1) * dilations[axis]! + 1;
    const total = Math.max(0, strides[axis]! * (size - 1) + outputPadding[axis]! + span - outputSpatial[axis]!);
    return autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
  });
}

function adjointWindow(ctx: GradientContext, spatial: readonly number[], outputSpatial: readonly number[], kernel: number[]): AdjointWindow {
  const attributes = readWindowAttributes(ctx, spatial.length, kernel);
  const { strides, dilations } = attributes;
  const begin = beginPads(ctx, spatial, outputSpatial, kernel, strides, dilations, attributes.pads);
  const spans = kernel.map((size, axis) => (size - 1) * dilations[axis]! + 1);
  // Conv over Y yields floor((O + p + e − span)/stride) + 1 positions; the least e ≥ 0 reaching D.
  const end = spatial.map((size, axis) => Math.max(0, strides[axis]! * (size - 1) + spans[axis]! - outputSpatial[axis]! - begin[axis]!));
  const produced = spatial.map((_, axis) => Math.floor((outputSpatial[axis]! + begin[axis]! + end[axis]! - spans[axis]!) / strides[axis]!) + 1);
  return { kernel, strides, dilations, pads: [...begin, ...end], produced };
}

/** Crops the spatial axes of `value` to `spatial` when the adjoint window produced more. */
function cropTo(ctx: GradientContext, value: string, window: AdjointWindow, spatial: readonly number[]): string {
  if (window.produced.every((size, axis) => size === spatial[axis])) return value;
  const axes = spatial.map((_, axis) => axis + 2);
  return emitOp(ctx, 'Slice', [value, int64Constant(ctx, axes.map(() => 0)), int64Constant(ctx, spatial), int64Constant(ctx, axes)]);
}

/**
 * dW[c, m, k] = Σ_n Σ_d X[n, c, d] · dY[n, g(c)·M/g + m, d·stride + k·dilation − pad]: the
 * windows of dY gathered by a depthwise Conv with one-hot kernels (cols [N, M·K, D]), then
 * per sample and group X [C/g, D] × colsᵀ [D, M/g·K], summed over the batch.
 */
function weightGradient(ctx: GradientContext, window: AdjointWindow, spatial: readonly number[], channels: number, outputChannels: number, group: number): string {
  const dtype = requireInputType(ctx, 1).dtype;
  const windowSize = window.kernel.reduce((product, size) => product * size, 1);
  const positions = spatial.reduce((product, size) => product * size, 1);
  const oneHot = new Array<number>(outputChannels * windowSize * windowSize).fill(0);
  for (let channel = 0; channel < outputChannels; channel++) {
    for (let offset = 0; offset < windowSize; offset++) oneHot[(channel * windowSize + offset) * windowSize + offset] = 1;
  }
  const kernels = ctx.addConstant(Tensor.from(dtype, [outputChannels * windowSize, 1, ...window.kernel], oneHot), `${ctx.node.name}_grad_windows`);
  const windows = emitOp(ctx, 'Conv', [outputGradient(ctx), kernels], {
    kernel_shape: window.kernel,
    strides: window.strides,
    dilations: window.dilations,
    pads: window.pads,
    group: outputChannels,
  });
  const cols = emitOp(ctx, 'Reshape', [cropTo(ctx, windows, window, spatial), int64Constant(ctx, [0, group, (outputChannels / group) * windowSize, positions])]);
  // Reshape's 0 copies the (possibly symbolic) batch size.
  const x = emitOp(ctx, 'Reshape', [ctx.inputs[0]!, int64Constant(ctx, [0, group, channels / group, positions])]);
  const product = emitOp(ctx, 'MatMul', [x, emitOp(ctx, 'Transpose', [cols], { perm: [0, 1, 3, 2] })]);
  return emitOp(ctx, 'Reshape', [reduceSum(ctx, product, [0], false), int64Constant(ctx, [channels, outputChannels / group, ...window.kernel])]);
}

/**
 * ConvTranspose is the adjoint of a Conv from its output space back to its input space with
 * the same weights [C, M/g, k], strides, dilations and group: Y[o] collects X[d]·W[k] at
 * o = d·stride + k·dilation − pad. So dX = Conv(dY, W) with those settings (end pads chosen
 * so every d gets a window, extra positions sliced off; output_padding and output_shape only
 * change O), and dW correlates X with the windows of dY.
 */
function convTranspose(ctx: GradientContext): (string | undefined)[] {
  const { outputType, spatial, channels, kernel, outputSpatial } = convOperandShapes(ctx);
  const [outputChannels] = requireStaticShape(ctx, outputType.shape.slice(1, 2), `the channel axis of output Y ('${ctx.outputs[0]!}')`);
  const group = getInt(ctx.node, 'group', 1);
  const window = adjointWindow(ctx, spatial, outputSpatial, kernel);
  const dy = outputGradient(ctx);
  const gradients: (string | undefined)[] = [undefined, undefined, undefined];
  if (ctx.needsGradient(0)) {
    const dx = emitOp(ctx, 'Conv', [dy, ctx.inputs[1]!], { kernel_shape: kernel, strides: window.strides, dilations: window.dilations, pads: window.pads, group });
    gradients[0] = cropTo(ctx, dx, window, spatial);
  }
  if (ctx.needsGradient(1)) gradients[1] = weightGradient(ctx, window, spatial, channels!, outputChannels!, group);
  if (ctx.inputs.length > 2 && ctx.inputs[2] !== '' && ctx.needsGradient(2)) {
    gradients[2] = reduceSum(ctx, dy, [0, ...outputSpatial.map((_, axis) => axis + 2)], false);
  }
  return gradients.slice(0, ctx.inputs.length);
}

export const convTransposeGradients: Record<string, GradientRule> = {
  ConvTranspose: convTranspose,
};

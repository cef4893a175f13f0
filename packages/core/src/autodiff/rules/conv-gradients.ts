import { getInt } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { readWindowAttributes } from '../../ops/defs/window-shape.js';
import { Tensor } from '../../ir/tensor.js';
import { emitOp, int64Constant, reduceSum, requireInputType, requireOutputType, requireStaticShape } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Conv's window with auto_pad resolved to explicit begin/end pads. */
interface ResolvedWindow {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis, then end pads. */
  pads: number[];
}

function resolveWindow(ctx: GradientContext, spatial: readonly number[], outputSpatial: readonly number[], kernel: readonly number[]): ResolvedWindow {
  const window = readWindowAttributes(ctx, spatial.length, kernel);
  const rank = spatial.length;
  const pads = [...window.pads];
  if (window.autoPad === 'VALID') pads.fill(0);
  if (window.autoPad === 'SAME_UPPER' || window.autoPad === 'SAME_LOWER') {
    for (let axis = 0; axis < rank; axis++) {
      const span = (kernel[axis]! - 1) * window.dilations[axis]! + 1;
      const total = Math.max(0, (outputSpatial[axis]! - 1) * window.strides[axis]! + span - spatial[axis]!);
      const begin = window.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      pads[axis] = begin;
      pads[axis + rank] = total - begin;
    }
  }
  return { kernel: [...kernel], strides: window.strides, dilations: window.dilations, pads };
}

/** Swaps axes 0 and 1 of a rank-`rank` value. */
function swapFirstTwo(rank: number): number[] {
  return [1, 0, ...Array.from({ length: rank - 2 }, (_, axis) => axis + 2)];
}

/** The transposed, spatially flipped weights of a grouped Conv: [M, C/g, K] → [C, M/g, K] reversed along K. */
function flippedTransposedWeights(ctx: GradientContext, channels: number, outputChannels: number, kernel: readonly number[], group: number): string {
  const rank = kernel.length;
  const spatialAxes = (first: number): number[] => Array.from({ length: rank }, (_, axis) => axis + first);
  let weights = ctx.inputs[1]!;
  if (group === 1) weights = emitOp(ctx, 'Transpose', [weights], { perm: swapFirstTwo(rank + 2) });
  else {
    const split = emitOp(ctx, 'Reshape', [weights, int64Constant(ctx, [group, outputChannels / group, channels / group, ...kernel])]);
    const moved = emitOp(ctx, 'Transpose', [split], { perm: [0, 2, 1, ...spatialAxes(3)] });
    weights = emitOp(ctx, 'Reshape', [moved, int64Constant(ctx, [channels, outputChannels / group, ...kernel])]);
  }
  const axes = spatialAxes(2);
  return emitOp(ctx, 'Slice', [
    weights,
    int64Constant(ctx, axes.map(() => -1)),
    int64Constant(ctx, kernel.map((size) => -size - 1)),
    int64Constant(ctx, axes),
    int64Constant(ctx, axes.map(() => -1)),
  ]);
}

/**
 * dX. With unit strides, a Conv of dY with the transposed, flipped weights and pads
 * (span − 1 − pad): onnxruntime runs Conv on its blocked kernels, up to 1.7× faster than
 * ConvTranspose here. Otherwise a ConvTranspose of dY with the same weights, strides,
 * dilations, pads and group; output_padding restores the rows and columns a strided forward
 * window never reached.
 */
function inputGradient(ctx: GradientContext, window: ResolvedWindow, spatial: readonly number[], outputSpatial: readonly number[], channels: number, outputChannels: number, group: number): string {
  const rank = spatial.length;
  const spans = window.kernel.map((size, axis) => (size - 1) * window.dilations[axis]! + 1);
  const flippedPads = window.pads.map((pad, index) => spans[index % rank]! - 1 - pad);
  if (window.strides.every((stride) => stride === 1) && flippedPads.every((pad) => pad >= 0)) {
    return emitOp(ctx, 'Conv', [outputGradient(ctx), flippedTransposedWeights(ctx, channels, outputChannels, window.kernel, group)], {
      kernel_shape: window.kernel,
      dilations: window.dilations,
      pads: flippedPads,
      group,
    });
  }
  const outputPadding = spatial.map((size, axis) => size - (window.strides[axis]! * (outputSpatial[axis]! - 1) + spans[axis]! - window.pads[axis]! - window.pads[axis + rank]!));
  return emitOp(ctx, 'ConvTranspose', [outputGradient(ctx), ctx.inputs[1]!], {
    kernel_shape: window.kernel,
    strides: window.strides,
    dilations: window.dilations,
    pads: window.pads,
    group,
    output_padding: outputPadding,
  });
}

/**
 * dW[o, c, k] = Σ_n Σ_p dY[n, o, p] · X[n, g(o)·C/g + c, p·stride + k·dilation], as im2col
 * and a batched MatMul: a grouped Conv of X with one-hot kernels gathers every window
 * (cols [N, C·K, P]; X itself for a 1×1 kernel with unit strides and no pads), then per
 * sample and group cols [C/g·K, P] × dY^T [P, M/g], summed over the batch. onnxruntime runs
 * this 1.6 to 4.6× faster than the equivalent Conv with dY as the kernel.
 */
function weightGradient(ctx: GradientContext, window: ResolvedWindow, channels: number, outputChannels: number, outputSpatial: readonly number[], group: number, dtype: Tensor['dtype']): string {
  const windowSize = window.kernel.reduce((product, size) => product * size, 1);
  const positions = outputSpatial.reduce((product, size) => product * size, 1);
  const channelsPerGroup = channels / group;
  const outputsPerGroup = outputChannels / group;
  let cols = ctx.inputs[0]!;
  const identityWindow = windowSize === 1 && window.strides.every((stride) => stride === 1) && window.pads.every((pad) => pad === 0);
  if (!identityWindow) {
    const oneHot = new Array<number>(channels * windowSize * windowSize).fill(0);
    for (let channel = 0; channel < channels; channel++) {
      for (let offset = 0; offset < windowSize; offset++) oneHot[(channel * windowSize + offset) * windowSize + offset] = 1;
    }
    const kernels = ctx.addConstant(Tensor.from(dtype, [channels * windowSize, 1, ...window.kernel], oneHot), `${ctx.node.name}_grad_windows`);
    cols = emitOp(ctx, 'Conv', [cols, kernels], { kernel_shape: window.kernel, strides: window.strides, dilations: window.dilations, pads: window.pads, group: channels });
  }
  // Reshape's 0 copies the (possibly symbolic) batch size.
  const gathered = emitOp(ctx, 'Reshape', [cols, int64Constant(ctx, [0, group, channelsPerGroup * windowSize, positions])]);
  const dy = emitOp(ctx, 'Reshape', [outputGradient(ctx), int64Constant(ctx, [0, group, outputsPerGroup, positions])]);
  const shape = int64Constant(ctx, [outputChannels, channelsPerGroup, ...window.kernel]);
  // Transpose whichever operand is smaller.
  if (outputsPerGroup <= channelsPerGroup * windowSize) {
    const product = emitOp(ctx, 'MatMul', [gathered, emitOp(ctx, 'Transpose', [dy], { perm: [0, 1, 3, 2] })]);
    const summed = reduceSum(ctx, product, [0], false);
    return emitOp(ctx, 'Reshape', [emitOp(ctx, 'Transpose', [summed], { perm: [0, 2, 1] }), shape]);
  }
  const product = emitOp(ctx, 'MatMul', [dy, emitOp(ctx, 'Transpose', [gathered], { perm: [0, 1, 3, 2] })]);
  return emitOp(ctx, 'Reshape', [reduceSum(ctx, product, [0], false), shape]);
}

/** The static shapes a convolution's gradient needs: X's spatial axes and channels, W's kernel, Y's spatial axes. */
export function convOperandShapes(ctx: GradientContext) {
  const inputType = requireInputType(ctx, 0);
  const weightType = requireInputType(ctx, 1);
  const outputType = requireOutputType(ctx, 0);
  const spatial = requireStaticShape(ctx, inputType.shape.slice(2), `the spatial axes of input X ('${ctx.inputs[0]!}')`);
  const [channels] = requireStaticShape(ctx, inputType.shape.slice(1, 2), `the channel axis of input X ('${ctx.inputs[0]!}')`);
  const kernel = requireStaticShape(ctx, weightType.shape.slice(2), `the kernel of weight W ('${ctx.inputs[1]!}')`);
  const outputSpatial = requireStaticShape(ctx, outputType.shape.slice(2), `the spatial axes of output Y ('${ctx.outputs[0]!}')`);
  return { inputType, weightType, outputType, spatial, channels: channels!, kernel, outputSpatial };
}

export const convGradients: Record<string, GradientRule> = {
  Conv(ctx) {
    const { inputType, weightType, spatial, channels, kernel, outputSpatial } = convOperandShapes(ctx);
    const group = getInt(ctx.node, 'group', 1);
    const [outputChannels] = requireStaticShape(ctx, weightType.shape.slice(0, 1), `the output channels of weight W ('${ctx.inputs[1]!}')`);
    const window = resolveWindow(ctx, spatial, outputSpatial, kernel);
    const gradients: (string | undefined)[] = [undefined, undefined, undefined];
    if (ctx.needsGradient(0)) gradients[0] = inputGradient(ctx, window, spatial, outputSpatial, channels!, outputChannels!, group);
    if (ctx.needsGradient(1)) gradients[1] = weightGradient(ctx, window, channels!, outputChannels!, outputSpatial, group, inputType.dtype);
    if (ctx.inputs.length > 2 && ctx.inputs[2] !== '' && ctx.needsGradient(2)) {
      gradients[2] = reduceSum(ctx, outputGradient(ctx), [0, ...spatial.map((_, axis) => axis + 2)], false);
    }
    return gradients.slice(0, ctx.inputs.length);
  },
};

import { getInt } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';
import { readWindowAttributes } from '../../ops/defs/window-shape.js';
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

/**
 * dX: a ConvTranspose of dY with the same weights, strides, dilations, pads and group;
 * output_padding restores the rows and columns a strided forward window never reached.
 */
function inputGradient(ctx: GradientContext, window: ResolvedWindow, spatial: readonly number[], outputSpatial: readonly number[], group: number): string {
  const rank = spatial.length;
  const outputPadding = spatial.map((size, axis) => {
    const span = (window.kernel[axis]! - 1) * window.dilations[axis]! + 1;
    return size - (window.strides[axis]! * (outputSpatial[axis]! - 1) + span - window.pads[axis]! - window.pads[axis + rank]!);
  });
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
 * dW[o, c, k] = Σ_n Σ_p dY[n, o, p] · X[n, g(o)·C/g + c, p·stride + k·dilation]: a Conv whose
 * batch is X's per-group channels and whose kernel is dY, with strides and dilations
 * swapped. X [N, C, S] becomes [C/g, g·N, S] (group-major channels), dY [N, M, P] becomes
 * the kernel [M, N, P] of a Conv with the forward group count; the result [C/g, M, K'] is
 * sliced to the kernel size K and transposed back to [M, C/g, K].
 */
function weightGradient(ctx: GradientContext, window: ResolvedWindow, channels: number, spatial: readonly number[], outputSpatial: readonly number[], group: number): string {
  const rank = spatial.length;
  const channelsPerGroup = channels / group;
  let input = ctx.inputs[0]!;
  if (group === 1) input = emitOp(ctx, 'Transpose', [input], { perm: swapFirstTwo(rank + 2) });
  else {
    // Reshape's 0 copies the (possibly symbolic) batch size.
    const split = emitOp(ctx, 'Reshape', [input, int64Constant(ctx, [0, group, channelsPerGroup, ...spatial])]);
    const moved = emitOp(ctx, 'Transpose', [split], { perm: [2, 1, 0, ...Array.from({ length: rank }, (_, axis) => axis + 3)] });
    input = emitOp(ctx, 'Reshape', [moved, int64Constant(ctx, [channelsPerGroup, -1, ...spatial])]);
  }
  const kernel = emitOp(ctx, 'Transpose', [outputGradient(ctx)], { perm: swapFirstTwo(rank + 2) });
  const correlated = emitOp(ctx, 'Conv', [input, kernel], {
    strides: window.dilations,
    dilations: window.strides,
    pads: window.pads,
    group,
  });
  const produced = spatial.map(
    (size, axis) => Math.floor((size + window.pads[axis]! + window.pads[axis + rank]! - ((outputSpatial[axis]! - 1) * window.strides[axis]! + 1)) / window.dilations[axis]!) + 1,
  );
  let result = correlated;
  if (produced.some((size, axis) => size !== window.kernel[axis])) {
    const axes = Array.from({ length: rank }, (_, axis) => axis + 2);
    result = emitOp(ctx, 'Slice', [result, int64Constant(ctx, axes.map(() => 0)), int64Constant(ctx, window.kernel), int64Constant(ctx, axes)]);
  }
  return emitOp(ctx, 'Transpose', [result], { perm: swapFirstTwo(rank + 2) });
}

export const convGradients: Record<string, GradientRule> = {
  Conv(ctx) {
    const inputType = requireInputType(ctx, 0);
    const weightType = requireInputType(ctx, 1);
    const outputType = requireOutputType(ctx, 0);
    const spatial = requireStaticShape(ctx, inputType.shape.slice(2), `the spatial axes of input X ('${ctx.inputs[0]!}')`);
    const [channels] = requireStaticShape(ctx, inputType.shape.slice(1, 2), `the channel axis of input X ('${ctx.inputs[0]!}')`);
    const kernel = requireStaticShape(ctx, weightType.shape.slice(2), `the kernel of weight W ('${ctx.inputs[1]!}')`);
    const outputSpatial = requireStaticShape(ctx, outputType.shape.slice(2), `the spatial axes of output Y ('${ctx.outputs[0]!}')`);
    const group = getInt(ctx.node, 'group', 1);
    const window = resolveWindow(ctx, spatial, outputSpatial, kernel);
    const gradients: (string | undefined)[] = [undefined, undefined, undefined];
    if (ctx.needsGradient(0)) gradients[0] = inputGradient(ctx, window, spatial, outputSpatial, group);
    if (ctx.needsGradient(1)) gradients[1] = weightGradient(ctx, window, channels!, spatial, outputSpatial, group);
    if (ctx.inputs.length > 2 && ctx.inputs[2] !== '' && ctx.needsGradient(2)) {
      gradients[2] = reduceSum(ctx, outputGradient(ctx), [0, ...spatial.map((_, axis) => axis + 2)], false);
    }
    return gradients.slice(0, ctx.inputs.length);
  },
};

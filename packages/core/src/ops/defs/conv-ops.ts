import type { DType } from '../../ir/dtype.js';
import { getInt, getInts, type Dim, type TensorType } from '../../ir/graph.js';
import type { InferenceContext, OpDefinition } from '../registry.js';
import { inputElements, outputElements, requireDimsMatch, requireRank, requireSameDtype, staticSize, typeWith } from './rule-helpers.js';
import { readWindowAttributes, transposedOutputDim, windowOutputDim } from './window-shape.js';

function checkBias(ctx: InferenceContext, channels: Dim): void {
  if (!ctx.hasInput(2)) return;
  const bias = ctx.requireInput(2).shape;
  requireRank(ctx, bias, 'bias (input 2)', (rank) => rank === 1, 'rank 1');
  requireDimsMatch(ctx, bias?.[0], channels, `bias (input 2) has ${String(bias?.[0])} elements but the output has ${String(channels)} channels`);
}

/** The operands shared by Conv and ConvTranspose, checked: X, W (laid out as `weightLayout`), dtype, group. */
function convOperands(ctx: InferenceContext, weightLayout: string): { input: TensorType; weight: TensorType; dtype: DType; group: number } {
  const input = ctx.requireInput(0);
  const weight = ctx.requireInput(1);
  const dtype = requireSameDtype(ctx, [0, 1, 2]);
  requireRank(ctx, input.shape, 'input X', (rank) => rank >= 3, 'at least 3 (N, C, spatial...)');
  requireRank(ctx, weight.shape, 'weight W', (rank) => rank >= 3, `at least 3 (${weightLayout}, kernel...)`);
  if (input.shape && weight.shape && input.shape.length !== weight.shape.length) {
    ctx.fail(`input X has rank ${input.shape.length} but weight W has rank ${weight.shape.length}; they must match`);
  }
  const group = getInt(ctx.node, 'group', 1);
  if (group < 1) ctx.fail(`group ${group} must be positive`);
  return { input, weight, dtype, group };
}

/**
 * Conv: X [N, C, D1..Dn] with W [M, C/group, k1..kn] gives [N, M, O1..On] (1-D, 2-D and
 * 3-D alike). MACs: every output element accumulates C/group × k1 × .. × kn products; the
 * bias add rides on the accumulator and is not counted (ptflops, fvcore and the
 * published figures do the same for bias-free convs).
 */
const conv: OpDefinition = {
  opType: 'Conv',
  parameterInputs: [1, 2],
  infer(ctx) {
    const { input, weight, dtype, group } = convOperands(ctx, 'M, C/group');
    const outputChannels = weight.shape?.[0] ?? null;
    if (typeof outputChannels === 'number' && outputChannels % group !== 0) {
      ctx.fail(`weight W has ${outputChannels} output channels, not divisible by group ${group}`);
    }
    const channelsPerGroup = weight.shape?.[1];
    const inputChannels = input.shape?.[1];
    if (typeof channelsPerGroup === 'number' && typeof inputChannels === 'number' && channelsPerGroup * group !== inputChannels) {
      ctx.fail(
        `input X has ${inputChannels} channels but weight W expects ${channelsPerGroup} per group × group ${group} = ${channelsPerGroup * group}; ` +
          'check the weight shape and the group attribute',
      );
    }
    checkBias(ctx, outputChannels);
    if (input.shape === undefined) return { types: [{ dtype }] };
    const spatialRank = input.shape.length - 2;
    const window = readWindowAttributes(ctx, spatialRank, weight.shape?.slice(2));
    const spatial = input.shape.slice(2).map((dim, axis) => windowOutputDim(ctx, dim, axis, window));
    return { types: [typeWith(dtype, [input.shape[0] ?? null, outputChannels, ...spatial])] };
  },
  macs(ctx) {
    const weight = ctx.inputType(1)?.shape;
    const perOutput = staticSize(weight?.slice(1)) ?? Number.NaN;
    return outputElements(ctx) * perOutput;
  },
};

/**
 * ConvTranspose: X [N, C, D1..Dn] with W [C, M/group, k1..kn] gives [N, M, O1..On], where
 * Oi = stride × (Di − 1) + output_padding + (ki − 1) × dilation + 1 − pads, or
 * output_shape when given, or Di × stride with SAME auto_pad. MACs: every input element
 * is multiplied into M/group × k1 × .. × kn outputs.
 */
const convTranspose: OpDefinition = {
  opType: 'ConvTranspose',
  parameterInputs: [1, 2],
  infer(ctx) {
    const { input, weight, dtype, group } = convOperands(ctx, 'C, M/group');
    requireDimsMatch(
      ctx,
      input.shape?.[1],
      weight.shape?.[0],
      `input X has ${String(input.shape?.[1])} channels but weight W has ${String(weight.shape?.[0])} input channels (dimension 0); they must match`,
    );
    const inputChannels = weight.shape?.[0];
    if (typeof inputChannels === 'number' && inputChannels % group !== 0) ctx.fail(`weight W has ${inputChannels} input channels, not divisible by group ${group}`);
    const perGroup = weight.shape?.[1];
    const outputChannels = typeof perGroup === 'number' ? perGroup * group : null;
    checkBias(ctx, outputChannels);
    if (input.shape === undefined) return { types: [{ dtype }] };
    const spatialRank = input.shape.length - 2;
    const window = readWindowAttributes(ctx, spatialRank, weight.shape?.slice(2));
    const outputPadding = getInts(ctx.node, 'output_padding') ?? new Array<number>(spatialRank).fill(0);
    if (outputPadding.length !== spatialRank) ctx.fail(`output_padding has ${outputPadding.length} values but the input has ${spatialRank} spatial axes`);
    outputPadding.forEach((padding, axis) => {
      if (padding >= Math.max(window.strides[axis]!, window.dilations[axis]!)) {
        ctx.fail(`output_padding ${padding} on spatial axis ${axis} must be smaller than the stride or the dilation`);
      }
    });
    const outputShape = getInts(ctx.node, 'output_shape');
    let spatial: Dim[];
    if (outputShape !== undefined) {
      if (outputShape.length !== spatialRank && outputShape.length !== spatialRank + 2) {
        ctx.fail(`output_shape has ${outputShape.length} values but needs ${spatialRank} (the spatial sizes)`);
      }
      spatial = outputShape.slice(outputShape.length - spatialRank);
    } else {
      spatial = input.shape.slice(2).map((dim, axis) => transposedOutputDim(dim, axis, window, outputPadding[axis]!));
      spatial.forEach((dim, axis) => {
        if (typeof dim === 'number' && dim <= 0) ctx.fail(`spatial axis ${axis} would have size ${dim}; reduce pads`);
      });
    }
    return { types: [typeWith(dtype, [input.shape[0] ?? null, outputChannels, ...spatial])] };
  },
  macs(ctx) {
    const weight = ctx.inputType(1)?.shape;
    const perInput = staticSize(weight?.slice(1)) ?? Number.NaN;
    return inputElements(ctx) * perInput;
  },
};

export const convOps: OpDefinition[] = [conv, convTranspose];

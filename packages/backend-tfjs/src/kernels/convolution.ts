import type { KernelContext } from '../kernel.js';
import type { TfTensor } from '../values.js';
import { channelAffine } from './common.js';

type Tf = KernelContext['tf'];
type Pairs = [number, number][];

/** Conv/ConvTranspose/QLinearConv/ConvInteger attributes with auto_pad resolved later against the input. */
export interface ConvolutionAttributes {
  group: number;
  /** One per spatial axis. */
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis, then end pads (ONNX order). */
  pads: number[];
  /** 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID'. */
  autoPad: string;
  /** From the attribute, or the weight's spatial dims. */
  kernelShape: number[];
}

const autoPadValues = new Set(['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);

/** Reads a convolution node's attributes; `weightShape` is [M, C/group, k1, ..., kn]. */
export function readConvolutionAttributes(ctx: KernelContext, weightShape: readonly number[]): ConvolutionAttributes {
  const rank = weightShape.length - 2;
  if (rank < 1) ctx.invalid(`weight W has shape [${weightShape.join(', ')}]; it needs rank 3 or more (channels, channels per group, kernel...)`);
  const kernelShape = ctx.intList('kernel_shape') ?? weightShape.slice(2);
  const strides = ctx.intList('strides') ?? new Array<number>(rank).fill(1);
  const dilations = ctx.intList('dilations') ?? new Array<number>(rank).fill(1);
  const pads = ctx.intList('pads') ?? new Array<number>(2 * rank).fill(0);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  const group = ctx.int('group', 1);
  const check = (name: string, values: number[], length: number): void => {
    if (values.length !== length) ctx.invalid(`attribute ${name} has ${values.length} values but the weight has ${rank} spatial axes (${length} expected)`);
  };
  check('kernel_shape', kernelShape, rank);
  check('strides', strides, rank);
  check('dilations', dilations, rank);
  check('pads', pads, 2 * rank);
  kernelShape.forEach((size, axis) => {
    if (size !== weightShape[axis + 2]) ctx.invalid(`kernel_shape [${kernelShape.join(', ')}] does not match the weight's spatial shape [${weightShape.slice(2).join(', ')}]`);
  });
  if (!autoPadValues.has(autoPad)) ctx.invalid(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  if (strides.some((value) => value < 1) || dilations.some((value) => value < 1)) ctx.invalid(`strides [${strides.join(', ')}] and dilations [${dilations.join(', ')}] must be positive`);
  if (pads.some((value) => value < 0)) ctx.invalid(`pads [${pads.join(', ')}] must not be negative`);
  if (group < 1) ctx.invalid(`group ${group} must be positive`);
  return { group, strides, dilations, pads, autoPad, kernelShape };
}

/**
 * The explicit pads (begin of every spatial axis, then end) of a forward convolution or pooling
 * window over `spatial`: auto_pad SAME pads to ceil(size / stride) outputs, the odd pad at the
 * end (SAME_UPPER) or the beginning (SAME_LOWER), as onnxruntime does.
 */
export function convolutionPads(attributes: Pick<ConvolutionAttributes, 'autoPad' | 'pads' | 'strides' | 'dilations' | 'kernelShape'>, spatial: readonly number[]): number[] {
  const rank = spatial.length;
  if (attributes.autoPad === 'VALID') return new Array<number>(2 * rank).fill(0);
  if (attributes.autoPad !== 'SAME_UPPER' && attributes.autoPad !== 'SAME_LOWER') return [...attributes.pads];
  const pads = new Array<number>(2 * rank).fill(0);
  for (let axis = 0; axis < rank; axis++) {
    const stride = attributes.strides[axis]!;
    const span = (attributes.kernelShape[axis]! - 1) * attributes.dilations[axis]! + 1;
    const output = Math.ceil(spatial[axis]! / stride);
    const total = Math.max(0, (output - 1) * stride + span - spatial[axis]!);
    const begin = attributes.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    pads[axis] = begin;
    pads[axis + rank] = total - begin;
  }
  return pads;
}

/** The tfjs engine running now ('cpu', 'wasm', 'webgl', 'tensorflow', ...). */
export function engineName(ctx: KernelContext): string {
  return ctx.tf.getBackend();
}

/** Moves the channel axis last: [N, C, ...] to [N, ..., C]. */
export function toChannelsLast(tf: Tf, x: TfTensor): TfTensor {
  const rank = x.rank;
  return tf.transpose(x, [0, ...Array.from({ length: rank - 2 }, (_, axis) => axis + 2), 1]);
}

/** Moves the channel axis back: [N, ..., C] to [N, C, ...]. */
export function toChannelsFirst(tf: Tf, x: TfTensor): TfTensor {
  const rank = x.rank;
  return tf.transpose(x, [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, axis) => axis + 1)]);
}

/**
 * Spreads the spatial axes of an [A, B, ...spatial] tensor: factor − 1 zeros between
 * neighbours along each axis (none after the last). Dilates a weight [A, B, k...] so a
 * convolution with dilation 1 computes the dilated one (tfjs refuses strides and dilations
 * both above 1, and its transposed convolutions have no dilation); spreads a transposed
 * convolution's input by its strides. One axis at a time, as rank-4 views: wasm pads at most
 * six axes.
 */
function interleaveZeros(tf: Tf, x: TfTensor, factors: readonly number[]): TfTensor {
  let result = x;
  factors.forEach((factor, index) => {
    if (factor === 1) return;
    const shape = result.shape.slice();
    const axis = index + 2;
    const size = shape[axis]!;
    const outer = shape.slice(0, axis).reduce((total, dim) => total * dim, 1);
    const inner = shape.slice(axis + 1).reduce((total, dim) => total * dim, 1);
    const padded = tf.pad(tf.reshape(result, [outer, size, 1, inner]), [[0, 0], [0, 0], [0, factor - 1], [0, 0]]);
    const spread = tf.slice(tf.reshape(padded, [outer, size * factor, inner]), [0, 0, 0], [outer, (size - 1) * factor + 1, inner]);
    shape[axis] = (size - 1) * factor + 1;
    result = tf.reshape(spread, shape);
  });
  return result;
}

/** Explicit window geometry: pads resolved, one value per spatial axis. */
interface Window {
  group: number;
  strides: number[];
  dilations: number[];
  /** Begin pads, then end pads. */
  pads: number[];
}

/**
 * Whether every group of a weight [C·m, 1, k...] holds the same m filters (a convolution that
 * treats every channel alike, such as the one-hot window kernels autodiff uses to gather
 * im2col patches). Read on the host once per weight tensor: weights are small, and the
 * answer lets such a convolution run as one single-channel convolution over N·C images.
 */
const sharedFilters = new WeakMap<TfTensor, boolean>();

function hasSharedFilters(w: TfTensor, groups: number): boolean {
  let known = sharedFilters.get(w);
  if (known === undefined) {
    const values = w.dataSync() as Float32Array;
    const perGroup = values.length / groups;
    known = true;
    for (let index = perGroup; index < values.length && known; index++) if (values[index] !== values[index % perGroup]) known = false;
    sharedFilters.set(w, known);
  }
  return known;
}

/** Splits x [N, H, W, C] and filter [kh, kw, C/g, M] into groups, convolves each, concatenates. */
function groupedConvolution2d(tf: Tf, xh: TfTensor, filter: TfTensor, group: number, strides: [number, number], pad: Pairs, dilations: [number, number]): TfTensor {
  const inputs = tf.split(xh, group, 3);
  const filters = tf.split(filter, group, 3);
  const outputs = inputs.map((input, index) => tf.conv2d(input as never, filters[index] as never, strides, pad as never, 'NHWC', dilations));
  return tf.concat(outputs, 3);
}

/** A 2-D convolution of x [N, C, H, W] with w [M, C/g, kh, kw] and explicit pads; [N, M, OH, OW]. */
function convolution2d(ctx: KernelContext, x: TfTensor, w: TfTensor, bias: TfTensor | undefined, window: Window): TfTensor {
  const tf = ctx.tf;
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  const [outputChannels, channelsPerGroup] = w.shape as [number, number, number, number];
  const group = window.group;
  if (channelsPerGroup * group !== channels) ctx.invalid(`input X has ${channels} channels but weight W expects ${channelsPerGroup} per group × group ${group}`);
  if (outputChannels % group !== 0) ctx.invalid(`weight W has ${outputChannels} output channels, not divisible by group ${group}`);
  let dilations = window.dilations as [number, number];
  const strides = window.strides as [number, number];
  // tfjs takes strides or dilations above 1, not both.
  if (strides.some((stride) => stride > 1) && dilations.some((dilation) => dilation > 1)) {
    w = interleaveZeros(tf, w, dilations);
    dilations = [1, 1];
  }
  const [top, left, bottom, right] = window.pads as [number, number, number, number];
  const engine = engineName(ctx);
  const nhwcPad: Pairs = [[0, 0], [top, bottom], [left, right], [0, 0]];

  if (group === 1) {
    const filter = ctx.derived(w, 'conv2d-hwio', () => tf.transpose(w, [2, 3, 1, 0]));
    if (engine === 'cpu') {
      // tfjs's cpu Conv2D reads NCHW directly; its transposes cost as much as the convolution.
      const y = tf.conv2d(x as never, filter as never, strides, [[0, 0], [0, 0], [top, bottom], [left, right]] as never, 'NCHW', dilations);
      return bias === undefined ? y : channelAffine(ctx, y, undefined, bias);
    }
    const xh = toChannelsLast(tf, x);
    const plain = (): TfTensor => tf.conv2d(xh as never, filter as never, strides, nhwcPad as never, 'NHWC', dilations);
    let y: TfTensor;
    if (bias === undefined) y = plain();
    else {
      try {
        y = tf.fused.conv2d({ x: xh as never, filter: filter as never, strides, pad: nhwcPad as never, dataFormat: 'NHWC', dilations, bias });
      } catch {
        // wasm's FusedConv2D reads the shape the bias's data was made with: a bias reshaped
        // from another shape fails there, and is added apart.
        y = tf.add(plain(), bias);
      }
    }
    return toChannelsFirst(tf, y);
  }

  if (channelsPerGroup === 1) {
    const multiplier = outputChannels / channels;
    const [kernelHeight, kernelWidth] = w.shape.slice(2) as [number, number];
    if (multiplier > 1 && (engine === 'cpu' || engine === 'wasm') && hasSharedFilters(w, channels)) {
      // Every channel convolved with the same m filters: N·C single-channel images, whose
      // outputs [N·C, m, OH, OW] are already [N, C·m, OH, OW].
      const shared = tf.slice(w, [0, 0, 0, 0], [multiplier, 1, kernelHeight, kernelWidth]);
      const filter = tf.transpose(shared, [2, 3, 1, 0]);
      let y: TfTensor;
      if (engine === 'cpu') {
        y = tf.conv2d(tf.reshape(x, [batch * channels, 1, height, width]) as never, filter as never, strides, [[0, 0], [0, 0], [top, bottom], [left, right]] as never, 'NCHW', dilations);
      } else {
        const images = tf.reshape(x, [batch * channels, height, width, 1]);
        y = tf.transpose(tf.depthwiseConv2d(images as never, filter as never, strides, nhwcPad as never, 'NHWC', dilations), [0, 3, 1, 2]);
      }
      y = tf.reshape(y, [batch, outputChannels, y.shape[2]!, y.shape[3]!]);
      return bias === undefined ? y : channelAffine(ctx, y, undefined, bias);
    }
    // Depthwise: output channel c·m + q reads input channel c, as tfjs's channel multiplier.
    const filter = ctx.derived(w, 'depthwise-hwcm', () => tf.reshape(tf.transpose(w, [2, 3, 0, 1]), [kernelHeight, kernelWidth, channels, multiplier]));
    let y = tf.depthwiseConv2d(toChannelsLast(tf, x) as never, filter as never, strides, nhwcPad as never, 'NHWC', dilations) as TfTensor;
    if (bias !== undefined) y = tf.add(y, bias);
    return toChannelsFirst(tf, y);
  }

  const filter = tf.transpose(w, [2, 3, 1, 0]);
  let y = groupedConvolution2d(tf, toChannelsLast(tf, x), filter, group, strides, nhwcPad, dilations);
  if (bias !== undefined) y = tf.add(y, bias);
  return toChannelsFirst(tf, y);
}

/** A 3-D convolution of x [N, C, D, H, W] with w [M, C/g, kd, kh, kw] and explicit pads. */
function convolution3d(ctx: KernelContext, x: TfTensor, w: TfTensor, bias: TfTensor | undefined, window: Window): TfTensor {
  const tf = ctx.tf;
  const channels = x.shape[1]!;
  const [outputChannels, channelsPerGroup] = w.shape as number[];
  const group = window.group;
  if (channelsPerGroup! * group !== channels) ctx.invalid(`input X has ${channels} channels but weight W expects ${channelsPerGroup} per group × group ${group}`);
  if (outputChannels! % group !== 0) ctx.invalid(`weight W has ${outputChannels} output channels, not divisible by group ${group}`);
  let dilations = window.dilations as [number, number, number];
  const strides = window.strides as [number, number, number];
  if (strides.some((stride) => stride > 1) && dilations.some((dilation) => dilation > 1)) {
    w = interleaveZeros(tf, w, dilations);
    dilations = [1, 1, 1];
  }
  // tfjs's conv3d pads only 'same' or 'valid': explicit pads go on the input.
  let xh = toChannelsLast(tf, x);
  if (window.pads.some((pad) => pad > 0)) xh = tf.pad(xh, [[0, 0], ...[0, 1, 2].map((axis): [number, number] => [window.pads[axis]!, window.pads[axis + 3]!]), [0, 0]]);
  const filter = tf.transpose(w, [2, 3, 4, 1, 0]);
  const convolve = (input: TfTensor, kernel: TfTensor): TfTensor => tf.conv3d(input as never, kernel as never, strides, 'valid', 'NDHWC', dilations);
  let y: TfTensor;
  if (group === 1) y = convolve(xh, filter);
  else {
    const inputs = tf.split(xh, group, 4);
    const filters = tf.split(filter, group, 4);
    y = tf.concat(
      inputs.map((input, index) => convolve(input, filters[index]!)),
      4,
    );
  }
  if (bias !== undefined) y = tf.add(y, bias);
  return toChannelsFirst(tf, y);
}

/** A convolution with explicit pads, any spatial rank this backend runs (1-D runs as 2-D). */
function convolutionExplicit(ctx: KernelContext, x: TfTensor, w: TfTensor, bias: TfTensor | undefined, window: Window): TfTensor {
  const tf = ctx.tf;
  const rank = x.rank - 2;
  if (w.rank !== x.rank) ctx.invalid(`input X has rank ${x.rank} but weight W has rank ${w.rank}; they must match`);
  if (rank === 2) return convolution2d(ctx, x, w, bias, window);
  if (rank === 1) {
    const [batch, channels, length] = x.shape as [number, number, number];
    const [outputChannels, perGroup, kernel] = w.shape as [number, number, number];
    const lifted: Window = {
      group: window.group,
      strides: [1, window.strides[0]!],
      dilations: [1, window.dilations[0]!],
      pads: [0, window.pads[0]!, 0, window.pads[1]!],
    };
    const y = convolution2d(ctx, tf.reshape(x, [batch, channels, 1, length]), tf.reshape(w, [outputChannels, perGroup, 1, kernel]), bias, lifted);
    return tf.reshape(y, [batch, y.shape[1]!, y.shape[3]!]);
  }
  if (rank === 3) return convolution3d(ctx, x, w, bias, window);
  return ctx.unsupported(`does not run ${rank}-D convolutions (1-D, 2-D and 3-D only)`);
}

/**
 * An ONNX Conv on float32 tfjs tensors in ONNX layout: x [N, C, ...spatial], w [M, C/group,
 * ...kernel], optional bias [M]; returns [N, M, ...outputSpatial]. 1-D and 2-D convolutions
 * (3-D where tfjs supports it), any group count, dilations, strides, explicit or auto pads.
 */
export function convolution(ctx: KernelContext, x: TfTensor, w: TfTensor, bias: TfTensor | undefined, attributes: ConvolutionAttributes): TfTensor {
  const spatial = x.shape.slice(2) as number[];
  if (attributes.kernelShape.length !== spatial.length) ctx.invalid(`the kernel has ${attributes.kernelShape.length} spatial axes but input X has ${spatial.length}`);
  const pads = convolutionPads(attributes, spatial);
  spatial.forEach((size, axis) => {
    const span = (attributes.kernelShape[axis]! - 1) * attributes.dilations[axis]! + 1;
    if (size + pads[axis]! + pads[axis + spatial.length]! < span) {
      ctx.invalid(`spatial axis ${axis} has size ${size} (padded ${size + pads[axis]! + pads[axis + spatial.length]!}), smaller than the kernel span ${span}`);
    }
  });
  return convolutionExplicit(ctx, x, w, bias, { group: attributes.group, strides: attributes.strides, dilations: attributes.dilations, pads });
}

/** ConvTranspose's pads and output sizes, as onnxruntime resolves output_shape, auto_pad and output_padding. */
export function transposedConvolutionGeometry(
  attributes: ConvolutionAttributes,
  spatial: readonly number[],
  outputPadding: readonly number[],
  outputShape: readonly number[] | undefined,
): { pads: number[]; outputSpatial: number[] } {
  const rank = spatial.length;
  const pads = attributes.autoPad === 'VALID' ? new Array<number>(2 * rank).fill(0) : [...attributes.pads];
  const outputSpatial: number[] = [];
  const requested = outputShape?.slice(outputShape.length - rank);
  for (let axis = 0; axis < rank; axis++) {
    const stride = attributes.strides[axis]!;
    const full = (spatial[axis]! - 1) * stride + outputPadding[axis]! + (attributes.kernelShape[axis]! - 1) * attributes.dilations[axis]! + 1;
    const target = requested?.[axis];
    const same = attributes.autoPad === 'SAME_UPPER' || attributes.autoPad === 'SAME_LOWER';
    if (target !== undefined || same) {
      const total = Math.max(0, full - (target ?? spatial[axis]! * stride));
      // The ONNX rule: SAME_UPPER crops the odd row at the end, otherwise at the beginning.
      pads[axis] = attributes.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
      pads[axis + rank] = total - pads[axis]!;
    }
    outputSpatial.push(full - pads[axis]! - pads[axis + rank]!);
  }
  return { pads, outputSpatial };
}

/**
 * A 2-D transposed convolution with equal strides s as one stride-1 convolution and a
 * depth-to-space shuffle ("sub-pixel" form). Output row s·q + a reads input rows q + c − u
 * through taps r + s·u, where r and c are the remainder and quotient of a + begin pad by s:
 * every phase a is a small correlation, and all s² phases run as the output channels of one
 * convolution whose kernel covers their common window, zero where a phase has no tap. About
 * (⌈k/s⌉·s / k)² of the direct form's products, none of the s² zeros the spread input adds.
 */
function subPixelTransposedConvolution(
  ctx: KernelContext,
  x: TfTensor,
  w: TfTensor,
  bias: TfTensor | undefined,
  stride: number,
  begins: readonly number[],
  outputSpatial: readonly number[],
): TfTensor {
  const tf = ctx.tf;
  const [batch, channels, ...spatial] = x.shape as [number, number, number, number];
  const [, outputChannels, ...kernel] = w.shape as [number, number, number, number];
  // Per axis: the common window [low, high] of input offsets, and the tap each (offset, phase) uses.
  const axes = [0, 1].map((axis) => {
    const size = kernel[axis]!;
    const phases = Array.from({ length: stride }, (_, phase) => {
      const remainder = (phase + begins[axis]!) % stride;
      const quotient = Math.floor((phase + begins[axis]!) / stride);
      return { remainder, quotient, taps: Math.max(0, Math.ceil((size - remainder) / stride)) };
    });
    const used = phases.filter((phase) => phase.taps > 0);
    const low = Math.min(...used.map((phase) => phase.quotient - phase.taps + 1));
    const high = Math.max(...used.map((phase) => phase.quotient));
    const tap = (offset: number, phase: number): number => {
      const { remainder, quotient, taps } = phases[phase]!;
      const step = quotient - (low + offset);
      return step >= 0 && step < taps ? remainder + stride * step : -1;
    };
    const blocks = Math.ceil(outputSpatial[axis]! / stride);
    return { low, window: high - low + 1, tap, blocks, endPad: blocks - 1 + high - (spatial[axis]! - 1) };
  });
  const [rows, columns] = axes as [(typeof axes)[0], (typeof axes)[0]];
  const taps = kernel[0]! * kernel[1]!;
  const indices: number[] = [];
  for (let row = 0; row < rows.window; row++) {
    for (let column = 0; column < columns.window; column++) {
      for (let rowPhase = 0; rowPhase < stride; rowPhase++) {
        for (let columnPhase = 0; columnPhase < stride; columnPhase++) {
          const rowTap = rows.tap(row, rowPhase);
          const columnTap = columns.tap(column, columnPhase);
          indices.push(rowTap >= 0 && columnTap >= 0 ? rowTap * kernel[1]! + columnTap : taps);
        }
      }
    }
  }
  // [kh·kw + 1, C, M] (a last tap of zeros), gathered into [Th, Tw, C, s·s·M] in depth-to-space order.
  const weightTaps = tf.concat([tf.reshape(tf.transpose(w, [2, 3, 0, 1]), [taps, channels, outputChannels]), tf.zeros([1, channels, outputChannels])], 0);
  const gathered = tf.reshape(tf.gather(weightTaps, tf.tensor1d(indices, 'int32')), [rows.window, columns.window, stride, stride, channels, outputChannels]);
  const filter = tf.reshape(tf.transpose(gathered, [0, 1, 4, 2, 3, 5]), [rows.window, columns.window, channels, stride * stride * outputChannels]);
  // Input offsets low ... high around every block: pad (or crop) the input to match.
  let xh = toChannelsLast(tf, x);
  const cropBegin = [Math.max(0, rows.low), Math.max(0, columns.low)];
  const cropEnd = [Math.max(0, -rows.endPad), Math.max(0, -columns.endPad)];
  if (cropBegin.some((value) => value > 0) || cropEnd.some((value) => value > 0)) {
    xh = tf.slice(xh, [0, cropBegin[0]!, cropBegin[1]!, 0], [batch, spatial[0]! - cropBegin[0]! - cropEnd[0]!, spatial[1]! - cropBegin[1]! - cropEnd[1]!, channels]);
  }
  const pad = [[0, 0], [Math.max(0, -rows.low), Math.max(0, rows.endPad)], [Math.max(0, -columns.low), Math.max(0, columns.endPad)], [0, 0]];
  const blockBias = bias === undefined ? undefined : tf.tile(bias, [stride * stride]);
  const blocks =
    blockBias === undefined
      ? tf.conv2d(xh as never, filter as never, 1, pad as never)
      : tf.fused.conv2d({ x: xh as never, filter: filter as never, strides: 1, pad: pad as never, bias: blockBias });
  let y = tf.depthToSpace(blocks as never, stride) as TfTensor;
  if (rows.blocks * stride > outputSpatial[0]! || columns.blocks * stride > outputSpatial[1]!) {
    y = tf.slice(y, [0, 0, 0, 0], [batch, outputSpatial[0]!, outputSpatial[1]!, outputChannels]);
  }
  return toChannelsFirst(tf, y);
}

/**
 * An ONNX ConvTranspose on tfjs tensors in ONNX layout: x [N, C, ...], w [C, M/group, k...],
 * optional bias [M], with pads already resolved (`transposedConvolutionGeometry`); returns
 * [N, M, ...outputSpatial].
 *
 * 2-D, ungrouped and undilated, tfjs's own conv2dTranspose serves every engine but wasm,
 * whose Conv2DBackpropInput is a plain loop; there equal strides take the sub-pixel form on
 * XNNPACK (about twice as fast). Otherwise the general form: x spread out by the strides
 * (zeros between its elements), padded by span − 1 − pad (cropped where that is negative),
 * convolved at stride 1 with the flipped weights, their channel axes swapped per group.
 */
export function transposedConvolution(
  ctx: KernelContext,
  x: TfTensor,
  w: TfTensor,
  bias: TfTensor | undefined,
  attributes: ConvolutionAttributes,
  pads: readonly number[],
  outputSpatial: readonly number[],
): TfTensor {
  const tf = ctx.tf;
  const rank = x.rank - 2;
  const [batch, channels] = x.shape as [number, number];
  const [weightChannels, perGroup] = w.shape as [number, number];
  const group = attributes.group;
  if (weightChannels !== channels) ctx.invalid(`input X has ${channels} channels but weight W has ${weightChannels} input channels (dimension 0)`);
  if (channels % group !== 0) ctx.invalid(`weight W has ${channels} input channels, not divisible by group ${group}`);
  const outputChannels = perGroup * group;
  const spatial = x.shape.slice(2) as number[];
  const kernel = w.shape.slice(2) as number[];
  if (rank < 1 || rank > 3) ctx.unsupported(`does not run ${rank}-D transposed convolutions (1-D, 2-D and 3-D only)`);

  if (rank === 1) {
    const lifted: ConvolutionAttributes = { ...attributes, strides: [1, attributes.strides[0]!], dilations: [1, attributes.dilations[0]!], kernelShape: [1, kernel[0]!], pads: [0, pads[0]!, 0, pads[1]!] };
    const y = transposedConvolution(ctx, tf.reshape(x, [batch, channels, 1, spatial[0]!]), tf.reshape(w, [channels, perGroup, 1, kernel[0]!]), bias, lifted, lifted.pads, [1, outputSpatial[0]!]);
    return tf.reshape(y, [batch, outputChannels, outputSpatial[0]!]);
  }

  const engine = engineName(ctx);
  const dilated = attributes.dilations.some((dilation) => dilation > 1);
  if (rank === 2 && group === 1 && !dilated && engine !== 'wasm') {
    const [top, left] = pads as [number, number];
    const [outputHeight, outputWidth] = outputSpatial as [number, number];
    const [strideHeight, strideWidth] = attributes.strides as [number, number];
    // conv2dTranspose is the input gradient of a convolution over the output with these pads:
    // the begin pads are ONNX's, the end pads any that make that convolution's output X's size.
    const endPad = (axis: number, size: number, begin: number): number => {
      const stride = attributes.strides[axis]!;
      const room = (spatial[axis]! - 1) * stride + kernel[axis]! - size - begin;
      return room >= 0 ? room : room > -stride ? 0 : -1;
    };
    const bottom = endPad(0, outputHeight, top);
    const right = endPad(1, outputWidth, left);
    if (bottom >= 0 && right >= 0) {
      const filter = tf.transpose(w, [2, 3, 1, 0]);
      const pad = [[0, 0], [top, bottom], [left, right], [0, 0]];
      let y = tf.conv2dTranspose(toChannelsLast(tf, x) as never, filter as never, [batch, outputHeight, outputWidth, outputChannels], [strideHeight, strideWidth], pad as never) as TfTensor;
      if (bias !== undefined) y = tf.add(y, bias);
      return toChannelsFirst(tf, y);
    }
  }

  const [strideHeight, strideWidth] = attributes.strides as [number, number];
  if (rank === 2 && group === 1 && !dilated && strideHeight > 1 && strideHeight === strideWidth) {
    return subPixelTransposedConvolution(ctx, x, w, bias, strideHeight, pads.slice(0, 2), outputSpatial);
  }

  // The spread-out input: stride − 1 zeros between elements along every axis.
  let spread = interleaveZeros(tf, x, attributes.strides);
  // Pads of the stride-1 convolution: span − 1 − pad before, whatever reaches the output size after.
  const spreadSpatial = spread.shape.slice(2) as number[];
  const begins: number[] = [];
  const ends: number[] = [];
  const crop: [number, number][] = [];
  for (let axis = 0; axis < rank; axis++) {
    const span = (kernel[axis]! - 1) * attributes.dilations[axis]! + 1;
    const begin = span - 1 - pads[axis]!;
    const end = outputSpatial[axis]! + pads[axis]! - spreadSpatial[axis]!;
    crop.push([Math.max(0, -begin), Math.max(0, -end)]);
    begins.push(Math.max(0, begin));
    ends.push(Math.max(0, end));
  }
  if (crop.some(([head, tail]) => head > 0 || tail > 0)) {
    spread = tf.slice(spread, [0, 0, ...crop.map(([head]) => head)], [batch, channels, ...spreadSpatial.map((size, axis) => size - crop[axis]![0] - crop[axis]![1])]);
  }
  // Weights [C, M/g, k...] to a convolution's [M, C/g, k...], flipped along every spatial axis.
  const spatialAxes = kernel.map((_, axis) => axis + 2);
  let weights = w;
  if (group === 1) weights = tf.transpose(w, [1, 0, ...spatialAxes]);
  else {
    const split = tf.reshape(w, [group, channels / group, perGroup, ...kernel]);
    weights = tf.reshape(tf.transpose(split, [0, 2, 1, ...kernel.map((_, axis) => axis + 3)]), [outputChannels, channels / group, ...kernel]);
  }
  weights = tf.reverse(weights, spatialAxes);
  return convolutionExplicit(ctx, spread, weights, bias, { group, strides: new Array<number>(rank).fill(1), dilations: attributes.dilations, pads: [...begins, ...ends] });
}

import { ErrorCodes, Tensor, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';

/**
 * Interleaves the channels of [N, C, H, W] across `groups` (ShuffleNet): Reshape to
 * [N, groups, C/groups, H·W], Transpose to [N, C/groups, groups, H·W], Reshape back to
 * the input's shape (read with Shape, so batch and spatial sizes may be symbolic).
 * The channel count must be static.
 */
export function channelShuffle(builder: GraphBuilder, input: string, groups: number): string {
  const shape = builder.requireShape(input, builder.describe(), 4);
  const channels = shape[1];
  if (typeof channels !== 'number' || channels % groups !== 0) {
    fail(ErrorCodes.SHAPE_MISMATCH, `${builder.describe()}: channel shuffle in ${groups} groups needs a static channel count divisible by ${groups}; value '${input}' has shape [${shape.join(', ')}]`);
  }
  const spatial = typeof shape[2] === 'number' && typeof shape[3] === 'number' ? shape[2] * shape[3] : null;
  const grouped = builder.constant(Tensor.int64([0, groups, channels / groups, -1]), `shuffle_shape_${groups}x${channels / groups}`);
  const split = builder.emit1('Reshape', [input, grouped], { name: 'ShuffleReshape', outputShapes: [[shape[0]!, groups, channels / groups, spatial]] });
  const transposed = builder.emit1('Transpose', [split], { attributes: { perm: [0, 2, 1, 3] }, outputShapes: [[shape[0]!, channels / groups, groups, spatial]] });
  const inputShape = builder.emit1('Shape', [input]);
  builder.setShape(inputShape, [4], 'int64');
  return builder.emit1('Reshape', [transposed, inputShape], { name: 'ShuffleRestore', outputShapes: [shape] });
}

/** Splits [N, C, H, W] into `parts` equal channel chunks (`torch.chunk(x, parts, 1)`): ONNX Split. */
export function chunkChannels(builder: GraphBuilder, input: string, parts: number): string[] {
  const shape = builder.requireShape(input, builder.describe(), 4);
  const channels = shape[1];
  if (typeof channels !== 'number' || channels % parts !== 0) {
    fail(ErrorCodes.SHAPE_MISMATCH, `${builder.describe()}: splitting into ${parts} channel chunks needs a static channel count divisible by ${parts}; value '${input}' has shape [${shape.join(', ')}]`);
  }
  const size = channels / parts;
  const sizes = builder.constant(Tensor.int64(new Array<number>(parts).fill(size)), `split_${parts}x${size}`);
  const partShape = [shape[0]!, size, shape[2]!, shape[3]!];
  return builder.emit('Split', [input, sizes], { attributes: { axis: 1 }, outputs: parts, outputShapes: new Array(parts).fill(partShape) });
}

/** Concatenates values along the channel axis: ONNX Concat, axis 1. */
export function concatChannels(builder: GraphBuilder, inputs: readonly string[]): string {
  const shapes = inputs.map((value) => builder.requireShape(value, builder.describe(), 4));
  const channels = shapes.every((shape) => typeof shape[1] === 'number') ? shapes.reduce((sum, shape) => sum + (shape[1] as number), 0) : null;
  const first = shapes[0]!;
  return builder.emit1('Concat', inputs, { attributes: { axis: 1 }, outputShapes: [[first[0]!, channels, first[2]!, first[3]!]] });
}

/** ChannelShuffle as a module (`torch.nn.ChannelShuffle`). */
export class ChannelShuffle extends Module {
  readonly groups: number;

  constructor(groups: number) {
    super();
    if (!Number.isInteger(groups) || groups < 1) fail(ErrorCodes.INVALID_ARGUMENT, `ChannelShuffle: groups must be a positive integer, got ${groups}`);
    this.groups = groups;
  }

  forward(builder: GraphBuilder, input: string): string {
    return channelShuffle(builder, input, this.groups);
  }
}

import { ErrorCodes, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { kaimingUniform, uniformBias } from '../init.js';
import { Module } from '../module.js';
import { currentRandom, type SeededRandom } from '../random.js';
import { pair, windowOutputSize, type Size2d } from './spatial.js';

/** Options of Conv2d, as `torch.nn.Conv2d`. */
export interface Conv2dOptions {
  stride?: Size2d;
  /** Zero padding per side, or 'same' (stride 1 only; an odd total pads one more at the end) or 'valid'. */
  padding?: Size2d | 'same' | 'valid';
  dilation?: Size2d;
  /** Groups of channels; `groups = inChannels` is a depthwise convolution. */
  groups?: number;
  /** Add a learned bias (default true). */
  bias?: boolean;
  /** The generator for the initial weights (default: the current default generator). */
  random?: SeededRandom;
}

/**
 * A 2-D convolution over [N, C, H, W]: ONNX Conv. Parameters `weight`
 * [out, in/groups, kH, kW] (kaiming_uniform, a = √5) and `bias` [out].
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  /** [top, left, bottom, right], ONNX's order. */
  readonly pads: [number, number, number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: Size2d, options: Conv2dOptions = {}) {
    super();
    const groups = options.groups ?? 1;
    for (const [what, value] of [['inChannels', inChannels], ['outChannels', outChannels], ['groups', groups]] as const) {
      if (!Number.isInteger(value) || value < 1) fail(ErrorCodes.INVALID_ARGUMENT, `Conv2d: ${what} must be a positive integer, got ${value}`);
    }
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      fail(ErrorCodes.INVALID_ARGUMENT, `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${groups})`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.groups = groups;
    this.kernelSize = pair(kernelSize, 'Conv2d kernelSize');
    this.stride = pair(options.stride ?? 1, 'Conv2d stride');
    this.dilation = pair(options.dilation ?? 1, 'Conv2d dilation');
    const padding = options.padding ?? 0;
    if (padding === 'same') {
      if (this.stride[0] !== 1 || this.stride[1] !== 1) fail(ErrorCodes.INVALID_ARGUMENT, `Conv2d: padding 'same' needs stride 1, got stride [${this.stride.join(', ')}]`);
      const total = this.kernelSize.map((kernel, axis) => this.dilation[axis]! * (kernel - 1));
      const begin = total.map((value) => Math.floor(value / 2));
      this.pads = [begin[0]!, begin[1]!, total[0]! - begin[0]!, total[1]! - begin[1]!];
    } else if (padding === 'valid') {
      this.pads = [0, 0, 0, 0];
    } else {
      const [height, width] = pair(padding, 'Conv2d padding', 0);
      this.pads = [height, width, height, width];
    }
    const random = options.random ?? currentRandom();
    const shape = [outChannels, inChannels / groups, ...this.kernelSize];
    this.registerParameter('weight', kaimingUniform(shape, random));
    if (options.bias ?? true) this.registerParameter('bias', uniformBias(outChannels, (inChannels / groups) * this.kernelSize[0] * this.kernelSize[1], random));
  }

  get weight() {
    return this.getParameter('weight');
  }

  get bias() {
    return this.hasParameter('bias') ? this.getParameter('bias') : undefined;
  }

  forward(builder: GraphBuilder, input: string): string {
    const shape = builder.requireShape(input, builder.describe(), 4);
    if (typeof shape[1] === 'number' && shape[1] !== this.inChannels) {
      fail(ErrorCodes.SHAPE_MISMATCH, `${builder.describe()}: expects ${this.inChannels} input channels but value '${input}' has shape [${shape.join(', ')}]`);
    }
    const inputs = [input, builder.parameter('weight', this.weight)];
    const bias = this.bias;
    if (bias) inputs.push(builder.parameter('bias', bias));
    const outputShape = [
      shape[0]!,
      this.outChannels,
      windowOutputSize(shape[2], this.kernelSize[0], this.stride[0], this.pads[0], this.pads[2], this.dilation[0]),
      windowOutputSize(shape[3], this.kernelSize[1], this.stride[1], this.pads[1], this.pads[3], this.dilation[1]),
    ];
    return builder.emit1('Conv', inputs, {
      attributes: {
        kernel_shape: this.kernelSize,
        strides: this.stride,
        pads: this.pads,
        dilations: this.dilation,
        group: this.groups,
      },
      outputShapes: [outputShape],
    });
  }
}

import { ErrorCodes, Tensor, fail, type Dim } from '@razor/core';
import { add } from '../functional.js';
import type { GraphBuilder } from '../graph-builder.js';
import { ReLU } from '../layers/activations.js';
import { BatchNorm2d } from '../layers/batch-norm2d.js';
import { Conv2d } from '../layers/conv2d.js';
import { Flatten } from '../layers/flatten.js';
import { Linear } from '../layers/linear.js';
import { AdaptiveAvgPool2d } from '../layers/pooling.js';
import { Sequential } from '../layers/sequential.js';
import { Module } from '../module.js';
import { SeededRandom } from '../random.js';
import { resolveModelOptions, type ModelOptions, type ZooModel } from './model-options.js';

/**
 * How a CIFAR ResNet block changes width and resolution on its shortcut: 'A' (the
 * paper's CIFAR choice, no parameters) subsamples by 2 and zero-pads the new channels;
 * 'B' uses a 1×1 convolution and BatchNorm.
 */
export type CifarShortcut = 'A' | 'B';

/** Options of the CIFAR ResNets. */
export interface CifarResNetOptions extends ModelOptions {
  /** Default 'A', the variant with the published 0.27M / 0.85M parameters. */
  shortcut?: CifarShortcut;
}

/** The basic block of the CIFAR ResNets: conv1, bn1, conv2, bn2, and `shortcut` when B-style. */
export class CifarBasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly relu: ReLU;
  readonly shortcut: Sequential | undefined;
  readonly #zeroPadChannels: number;
  readonly #stride: number;

  constructor(inChannels: number, planes: number, stride: number, shortcut: CifarShortcut, random: SeededRandom) {
    super();
    this.conv1 = this.addModule('conv1', new Conv2d(inChannels, planes, 3, { stride, padding: 1, bias: false, random }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.addModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false, random }));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(planes));
    this.relu = this.addModule('relu', new ReLU());
    this.#stride = stride;
    const reshapes = stride !== 1 || inChannels !== planes;
    if (reshapes && shortcut === 'A' && (planes - inChannels) % 2 !== 0) {
      fail(ErrorCodes.UNKNOWN_MODEL, `CIFAR ResNet: an A-style shortcut from ${inChannels} to ${planes} channels needs an even difference; use shortcut 'B'`);
    }
    this.#zeroPadChannels = reshapes && shortcut === 'A' ? (planes - inChannels) / 2 : 0;
    this.shortcut =
      reshapes && shortcut === 'B'
        ? this.addModule('shortcut', new Sequential(new Conv2d(inChannels, planes, 1, { stride, bias: false, random }), new BatchNorm2d(planes)))
        : undefined;
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.relu, builder.call(this.bn1, builder.call(this.conv1, input)));
    x = builder.call(this.bn2, builder.call(this.conv2, x));
    let identity = input;
    if (this.shortcut) identity = builder.call(this.shortcut, input);
    else if (this.#zeroPadChannels > 0 || this.#stride !== 1) identity = this.#zeroPadShortcut(builder, input);
    return builder.call(this.relu, add(builder, x, identity));
  }

  /** x[:, :, ::stride, ::stride] padded with zero channels on both sides (option A). */
  #zeroPadShortcut(builder: GraphBuilder, input: string): string {
    const shape = builder.requireShape(input, builder.describe(), 4);
    const stride = this.#stride;
    const subsample = (dim: Dim | undefined): Dim => (typeof dim === 'number' ? Math.ceil(dim / stride) : null);
    const starts = builder.constant(Tensor.int64([0, 0]), 'slice_starts_0_0');
    const ends = builder.constant(Tensor.int64([Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]), 'slice_ends_max');
    const axes = builder.constant(Tensor.int64([2, 3]), 'slice_axes_2_3');
    const steps = builder.constant(Tensor.int64([stride, stride]), `slice_steps_${stride}`);
    const sampled = builder.emit1('Slice', [input, starts, ends, axes, steps], {
      outputShapes: [[shape[0]!, shape[1]!, subsample(shape[2]), subsample(shape[3])]],
    });
    const extra = this.#zeroPadChannels;
    const pads = builder.constant(Tensor.int64([0, extra, 0, 0, 0, extra, 0, 0]), `pad_channels_${extra}`);
    const channels = typeof shape[1] === 'number' ? shape[1] + 2 * extra : null;
    return builder.emit1('Pad', [sampled, pads], {
      attributes: { mode: 'constant' },
      outputShapes: [[shape[0]!, channels, subsample(shape[2]), subsample(shape[3])]],
    });
  }
}

/**
 * The CIFAR ResNets of He et al. 2016 (§4.2): a 3×3 stem of 16 channels, three stages
 * of n basic blocks at 16/32/64 channels (depth = 6n + 2), global average pooling, fc.
 * Names: conv1, bn1, layer1…3, fc. widthMultiplier scales 16/32/64 (rounded to an even
 * number so A-style shortcuts stay symmetric).
 */
export class CifarResNet extends Module implements ZooModel {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly depth: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly flatten: Flatten;
  readonly fc: Linear;

  constructor(depth: number, options: CifarResNetOptions = {}) {
    super();
    const name = `resnet${depth}`;
    if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) fail(ErrorCodes.UNKNOWN_MODEL, `CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110), got ${depth}`);
    const resolved = resolveModelOptions(name, options, { numClasses: 10, inputChannels: 3, inputSize: 32 });
    const shortcut = options.shortcut ?? 'A';
    if (shortcut !== 'A' && shortcut !== 'B') fail(ErrorCodes.UNKNOWN_MODEL, `${name}: option shortcut must be 'A' or 'B', got '${String(shortcut)}'`);
    this.depth = depth;
    this.numClasses = resolved.numClasses;
    this.inputShape = [resolved.inputChannels, resolved.inputSize, resolved.inputSize];
    const random = new SeededRandom(resolved.seed);
    const blocks = (depth - 2) / 6;
    const widths = [16, 32, 64].map((width) => Math.max(2, 2 * Math.round((width * resolved.widthMultiplier) / 2)));
    this.conv1 = this.addModule('conv1', new Conv2d(resolved.inputChannels, widths[0]!, 3, { padding: 1, bias: false, random }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(widths[0]!));
    this.relu = this.addModule('relu', new ReLU());
    let channels = widths[0]!;
    const makeLayer = (planes: number, stride: number): Sequential => {
      const layer = new Sequential();
      for (let index = 0; index < blocks; index++) {
        layer.append(new CifarBasicBlock(channels, planes, index === 0 ? stride : 1, shortcut, random));
        channels = planes;
      }
      return layer;
    };
    this.layer1 = this.addModule('layer1', makeLayer(widths[0]!, 1));
    this.layer2 = this.addModule('layer2', makeLayer(widths[1]!, 2));
    this.layer3 = this.addModule('layer3', makeLayer(widths[2]!, 2));
    this.avgpool = this.addModule('avgpool', new AdaptiveAvgPool2d(1));
    this.flatten = this.addModule('flatten', new Flatten());
    this.fc = this.addModule('fc', new Linear(channels, resolved.numClasses, { random }));
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.relu, builder.call(this.bn1, builder.call(this.conv1, input)));
    for (const layer of [this.layer1, this.layer2, this.layer3]) x = builder.call(layer, x);
    x = builder.call(this.flatten, builder.call(this.avgpool, x));
    return builder.call(this.fc, x);
  }
}

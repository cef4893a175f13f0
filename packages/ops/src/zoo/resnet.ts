import { ErrorCodes, fail } from '@razor/core';
import { add } from '../functional.js';
import type { GraphBuilder } from '../graph-builder.js';
import { ReLU } from '../layers/activations.js';
import { BatchNorm2d } from '../layers/batch-norm2d.js';
import { Conv2d } from '../layers/conv2d.js';
import { Flatten } from '../layers/flatten.js';
import { Linear } from '../layers/linear.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../layers/pooling.js';
import { Sequential } from '../layers/sequential.js';
import { Module } from '../module.js';
import { SeededRandom } from '../random.js';
import { resolveModelOptions, type ModelOptions, type ZooModel } from './model-options.js';

/** A residual block with torchvision's names (conv1, bn1, …, downsample.0/1). */
interface ResidualBlock extends Module {
  readonly outChannels: number;
}

/** torchvision's BasicBlock: two 3×3 convolutions (ResNet-18/34). */
export class BasicBlock extends Module implements ResidualBlock {
  static readonly expansion = 1;
  readonly outChannels: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | undefined;

  constructor(inChannels: number, planes: number, stride: number, random: SeededRandom) {
    super();
    this.outChannels = planes;
    this.conv1 = this.addModule('conv1', new Conv2d(inChannels, planes, 3, { stride, padding: 1, bias: false, random }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(planes));
    this.relu = this.addModule('relu', new ReLU());
    this.conv2 = this.addModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false, random }));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(planes));
    this.downsample = stride !== 1 || inChannels !== planes ? this.addModule('downsample', projection(inChannels, planes, stride, random)) : undefined;
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.relu, builder.call(this.bn1, builder.call(this.conv1, input)));
    x = builder.call(this.bn2, builder.call(this.conv2, x));
    const identity = this.downsample ? builder.call(this.downsample, input) : input;
    return builder.call(this.relu, add(builder, x, identity));
  }
}

/** torchvision's Bottleneck (ResNet V1.5: the stride sits on the 3×3 convolution), expansion 4. */
export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly outChannels: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Sequential | undefined;

  constructor(inChannels: number, planes: number, stride: number, random: SeededRandom) {
    super();
    const width = planes;
    this.outChannels = planes * Bottleneck.expansion;
    this.conv1 = this.addModule('conv1', new Conv2d(inChannels, width, 1, { bias: false, random }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(width));
    this.conv2 = this.addModule('conv2', new Conv2d(width, width, 3, { stride, padding: 1, bias: false, random }));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(width));
    this.conv3 = this.addModule('conv3', new Conv2d(width, this.outChannels, 1, { bias: false, random }));
    this.bn3 = this.addModule('bn3', new BatchNorm2d(this.outChannels));
    this.relu = this.addModule('relu', new ReLU());
    this.downsample =
      stride !== 1 || inChannels !== this.outChannels ? this.addModule('downsample', projection(inChannels, this.outChannels, stride, random)) : undefined;
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.relu, builder.call(this.bn1, builder.call(this.conv1, input)));
    x = builder.call(this.relu, builder.call(this.bn2, builder.call(this.conv2, x)));
    x = builder.call(this.bn3, builder.call(this.conv3, x));
    const identity = this.downsample ? builder.call(this.downsample, input) : input;
    return builder.call(this.relu, add(builder, x, identity));
  }
}

function projection(inChannels: number, outChannels: number, stride: number, random: SeededRandom): Sequential {
  return new Sequential(new Conv2d(inChannels, outChannels, 1, { stride, bias: false, random }), new BatchNorm2d(outChannels));
}

/** Which block and how many per stage. */
export interface ResNetArchitecture {
  block: 'basic' | 'bottleneck';
  layers: readonly [number, number, number, number];
}

export const RESNET18: ResNetArchitecture = { block: 'basic', layers: [2, 2, 2, 2] };
export const RESNET34: ResNetArchitecture = { block: 'basic', layers: [3, 4, 6, 3] };
export const RESNET50: ResNetArchitecture = { block: 'bottleneck', layers: [3, 4, 6, 3] };

/**
 * torchvision's ResNet (He et al. 2016) with its module structure and state-dict names
 * (conv1, bn1, layer1.0.conv1, …, fc), so a torchvision state dict loads 1:1.
 * widthMultiplier scales the stage widths 64/128/256/512 (rounded, at least 1); at 1
 * the model is torchvision's exactly. Weights use PyTorch's layer defaults, not
 * torchvision's kaiming_normal re-initialisation.
 */
export class ResNet extends Module implements ZooModel {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly flatten: Flatten;
  readonly fc: Linear;

  constructor(architecture: ResNetArchitecture, options: ModelOptions = {}, name = 'resnet') {
    super();
    const resolved = resolveModelOptions(name, options, { numClasses: 1000, inputChannels: 3, inputSize: 224 });
    this.numClasses = resolved.numClasses;
    this.inputShape = [resolved.inputChannels, resolved.inputSize, resolved.inputSize];
    const random = new SeededRandom(resolved.seed);
    const widths = [64, 128, 256, 512].map((width) => Math.max(1, Math.round(width * resolved.widthMultiplier)));
    const stem = widths[0]!;
    this.conv1 = this.addModule('conv1', new Conv2d(resolved.inputChannels, stem, 7, { stride: 2, padding: 3, bias: false, random }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(stem));
    this.relu = this.addModule('relu', new ReLU());
    this.maxpool = this.addModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    let channels = stem;
    const makeLayer = (planes: number, blocks: number, stride: number): Sequential => {
      const layer = new Sequential();
      for (let index = 0; index < blocks; index++) {
        const block: ResidualBlock =
          architecture.block === 'basic'
            ? new BasicBlock(channels, planes, index === 0 ? stride : 1, random)
            : new Bottleneck(channels, planes, index === 0 ? stride : 1, random);
        layer.append(block);
        channels = block.outChannels;
      }
      return layer;
    };
    if (architecture.layers.some((blocks) => !Number.isInteger(blocks) || blocks < 1)) {
      fail(ErrorCodes.UNKNOWN_MODEL, `${name}: every stage needs at least one block, got [${architecture.layers.join(', ')}]`);
    }
    this.layer1 = this.addModule('layer1', makeLayer(widths[0]!, architecture.layers[0], 1));
    this.layer2 = this.addModule('layer2', makeLayer(widths[1]!, architecture.layers[1], 2));
    this.layer3 = this.addModule('layer3', makeLayer(widths[2]!, architecture.layers[2], 2));
    this.layer4 = this.addModule('layer4', makeLayer(widths[3]!, architecture.layers[3], 2));
    this.avgpool = this.addModule('avgpool', new AdaptiveAvgPool2d(1));
    this.flatten = this.addModule('flatten', new Flatten());
    this.fc = this.addModule('fc', new Linear(channels, resolved.numClasses, { random }));
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.relu, builder.call(this.bn1, builder.call(this.conv1, input)));
    x = builder.call(this.maxpool, x);
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) x = builder.call(layer, x);
    x = builder.call(this.flatten, builder.call(this.avgpool, x));
    return builder.call(this.fc, x);
  }
}

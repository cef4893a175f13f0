import { add } from '../functional.js';
import type { GraphBuilder } from '../graph-builder.js';
import { ReLU6 } from '../layers/activations.js';
import { BatchNorm2d } from '../layers/batch-norm2d.js';
import { Conv2d } from '../layers/conv2d.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import { Linear } from '../layers/linear.js';
import { AdaptiveAvgPool2d } from '../layers/pooling.js';
import { Sequential } from '../layers/sequential.js';
import { Module } from '../module.js';
import { SeededRandom } from '../random.js';
import { makeDivisible, resolveModelOptions, type ModelOptions, type ZooModel } from './model-options.js';

/**
 * torchvision's Conv2dNormActivation with ReLU6: children 0 (Conv2d, no bias),
 * 1 (BatchNorm2d), 2 (ReLU6); padding (kernel - 1) / 2.
 */
export class ConvBNReLU6 extends Sequential {
  constructor(inChannels: number, outChannels: number, kernelSize: number, stride: number, groups: number, random: SeededRandom) {
    super(
      new Conv2d(inChannels, outChannels, kernelSize, { stride, padding: (kernelSize - 1) / 2, groups, bias: false, random }),
      new BatchNorm2d(outChannels),
      new ReLU6(),
    );
  }
}

/**
 * MobileNetV2's inverted residual block (torchvision names: `conv.0`, `conv.1`, …):
 * optional 1×1 expansion, 3×3 depthwise, linear 1×1 projection, and a residual sum
 * when stride is 1 and the width is unchanged.
 */
export class InvertedResidual extends Module {
  readonly useResidual: boolean;
  readonly conv: Sequential;

  constructor(inChannels: number, outChannels: number, stride: number, expandRatio: number, random: SeededRandom) {
    super();
    const hidden = Math.round(inChannels * expandRatio);
    this.useResidual = stride === 1 && inChannels === outChannels;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(new ConvBNReLU6(inChannels, hidden, 1, 1, 1, random));
    layers.push(
      new ConvBNReLU6(hidden, hidden, 3, stride, hidden, random),
      new Conv2d(hidden, outChannels, 1, { bias: false, random }),
      new BatchNorm2d(outChannels),
    );
    this.conv = this.addModule('conv', new Sequential(...layers));
  }

  forward(builder: GraphBuilder, input: string): string {
    const output = builder.call(this.conv, input);
    return this.useResidual ? add(builder, input, output) : output;
  }
}

/** [expand ratio t, channels c, repeats n, first stride s] of each stage (Sandler et al. 2018, table 2). */
const INVERTED_RESIDUAL_SETTING: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Options of MobileNetV2. */
export interface MobileNetV2Options extends ModelOptions {
  /** Dropout before the classifier (default 0.2). */
  dropout?: number;
  /** Channel counts are rounded to multiples of this (default 8). */
  roundNearest?: number;
}

/**
 * torchvision's MobileNetV2 (`features.*`, `classifier.1`): 3,504,872 parameters at
 * width 1 with 1000 classes. widthMultiplier scales every width through torchvision's
 * `_make_divisible`; the last layer keeps 1280 channels below width 1.
 */
export class MobileNetV2 extends Module implements ZooModel {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly lastChannels: number;
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly flatten: Flatten;
  readonly classifier: Sequential;

  constructor(options: MobileNetV2Options = {}) {
    super();
    const resolved = resolveModelOptions('mobilenet_v2', options, { numClasses: 1000, inputChannels: 3, inputSize: 224 });
    this.numClasses = resolved.numClasses;
    this.inputShape = [resolved.inputChannels, resolved.inputSize, resolved.inputSize];
    const random = new SeededRandom(resolved.seed);
    const roundNearest = options.roundNearest ?? 8;
    const width = resolved.widthMultiplier;
    let channels = makeDivisible(32 * width, roundNearest);
    this.lastChannels = makeDivisible(1280 * Math.max(1, width), roundNearest);
    const features = new Sequential(new ConvBNReLU6(resolved.inputChannels, channels, 3, 2, 1, random));
    for (const [expandRatio, stageChannels, repeats, stride] of INVERTED_RESIDUAL_SETTING) {
      const outChannels = makeDivisible(stageChannels * width, roundNearest);
      for (let index = 0; index < repeats; index++) {
        features.append(new InvertedResidual(channels, outChannels, index === 0 ? stride : 1, expandRatio, random));
        channels = outChannels;
      }
    }
    features.append(new ConvBNReLU6(channels, this.lastChannels, 1, 1, 1, random));
    this.features = this.addModule('features', features);
    this.avgpool = this.addModule('avgpool', new AdaptiveAvgPool2d(1));
    this.flatten = this.addModule('flatten', new Flatten());
    this.classifier = this.addModule(
      'classifier',
      new Sequential(new Dropout(options.dropout ?? 0.2), new Linear(this.lastChannels, resolved.numClasses, { random })),
    );
  }

  forward(builder: GraphBuilder, input: string): string {
    const x = builder.call(this.flatten, builder.call(this.avgpool, builder.call(this.features, input)));
    return builder.call(this.classifier, x);
  }
}

import { ErrorCodes, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { ReLU } from '../layers/activations.js';
import { Conv2d } from '../layers/conv2d.js';
import { Flatten } from '../layers/flatten.js';
import { Linear } from '../layers/linear.js';
import { MaxPool2d } from '../layers/pooling.js';
import { Module } from '../module.js';
import { SeededRandom } from '../random.js';
import { rejectWidthMultiplier, resolveModelOptions, type ModelOptions, type ZooModel } from './model-options.js';

/**
 * LeNet-5 with the classic layer sizes (LeCun et al. 1998): conv 6@5×5, pool, conv
 * 16@5×5, pool, fully connected 400→120→84→classes; 61,706 parameters for 10 classes.
 * ReLU and max pooling replace the original's scaled tanh and trainable subsampling.
 *
 * inputSize 32 (the paper's) uses unpadded convolutions; inputSize 28 (MNIST as
 * shipped, the default) pads the first convolution by 2, which gives the same 28×28
 * feature map and the same parameter count. Parameters: conv1, conv2, fc1, fc2, fc3.
 */
export class LeNet5 extends Module implements ZooModel {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly fc3: Linear;
  readonly relu: ReLU;
  readonly pool: MaxPool2d;
  readonly flatten: Flatten;

  constructor(options: ModelOptions = {}) {
    super();
    const resolved = resolveModelOptions('lenet5', options, { numClasses: 10, inputChannels: 1, inputSize: 28 });
    rejectWidthMultiplier('lenet5', resolved);
    if (resolved.inputSize !== 28 && resolved.inputSize !== 32) {
      fail(ErrorCodes.UNKNOWN_MODEL, `lenet5: inputSize must be 28 (padded first convolution) or 32 (the paper's), got ${resolved.inputSize}`);
    }
    this.numClasses = resolved.numClasses;
    this.inputShape = [resolved.inputChannels, resolved.inputSize, resolved.inputSize];
    const random = new SeededRandom(resolved.seed);
    this.conv1 = this.addModule('conv1', new Conv2d(resolved.inputChannels, 6, 5, { padding: resolved.inputSize === 28 ? 2 : 0, random }));
    this.conv2 = this.addModule('conv2', new Conv2d(6, 16, 5, { random }));
    this.fc1 = this.addModule('fc1', new Linear(16 * 5 * 5, 120, { random }));
    this.fc2 = this.addModule('fc2', new Linear(120, 84, { random }));
    this.fc3 = this.addModule('fc3', new Linear(84, resolved.numClasses, { random }));
    this.relu = this.addModule('relu', new ReLU());
    this.pool = this.addModule('pool', new MaxPool2d(2));
    this.flatten = this.addModule('flatten', new Flatten());
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.pool, builder.call(this.relu, builder.call(this.conv1, input)));
    x = builder.call(this.pool, builder.call(this.relu, builder.call(this.conv2, x)));
    x = builder.call(this.flatten, x);
    x = builder.call(this.relu, builder.call(this.fc1, x));
    x = builder.call(this.relu, builder.call(this.fc2, x));
    return builder.call(this.fc3, x);
  }
}

import { ErrorCodes, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { ReLU } from '../layers/activations.js';
import { BatchNorm2d } from '../layers/batch-norm2d.js';
import { channelShuffle, chunkChannels, concatChannels } from '../layers/channel-shuffle.js';
import { Conv2d } from '../layers/conv2d.js';
import { Linear } from '../layers/linear.js';
import { MaxPool2d } from '../layers/pooling.js';
import { Sequential } from '../layers/sequential.js';
import { spatialMean } from '../functional.js';
import { Module } from '../module.js';
import { SeededRandom } from '../random.js';
import { resolveModelOptions, type ModelOptions, type ZooModel } from './model-options.js';

/**
 * ShuffleNetV2's unit (torchvision's InvertedResidual): with stride 1 the input is split
 * in two channel halves and only the second goes through `branch2`; with stride 2 both
 * `branch1` and `branch2` see the whole input. The halves are concatenated and shuffled
 * in 2 groups.
 */
export class ShuffleBlock extends Module {
  readonly stride: number;
  readonly branch1: Sequential;
  readonly branch2: Sequential;

  constructor(inChannels: number, outChannels: number, stride: number, random: SeededRandom) {
    super();
    if (stride !== 1 && stride !== 2) fail(ErrorCodes.INVALID_ARGUMENT, `ShuffleBlock: stride must be 1 or 2, got ${stride}`);
    const branchChannels = outChannels / 2;
    if (!Number.isInteger(branchChannels)) fail(ErrorCodes.INVALID_ARGUMENT, `ShuffleBlock: outChannels must be even, got ${outChannels}`);
    if (stride === 1 && inChannels !== outChannels) {
      fail(ErrorCodes.INVALID_ARGUMENT, `ShuffleBlock: with stride 1 inChannels (${inChannels}) must equal outChannels (${outChannels})`);
    }
    this.stride = stride;
    const depthwise = (channels: number): Conv2d => new Conv2d(channels, channels, 3, { stride, padding: 1, groups: channels, bias: false, random });
    // An empty branch1 with stride 1 keeps torchvision's child list (it holds no parameters).
    this.branch1 = this.addModule(
      'branch1',
      stride > 1
        ? new Sequential(
            depthwise(inChannels),
            new BatchNorm2d(inChannels),
            new Conv2d(inChannels, branchChannels, 1, { bias: false, random }),
            new BatchNorm2d(branchChannels),
            new ReLU(),
          )
        : new Sequential(),
    );
    this.branch2 = this.addModule(
      'branch2',
      new Sequential(
        new Conv2d(stride > 1 ? inChannels : branchChannels, branchChannels, 1, { bias: false, random }),
        new BatchNorm2d(branchChannels),
        new ReLU(),
        depthwise(branchChannels),
        new BatchNorm2d(branchChannels),
        new Conv2d(branchChannels, branchChannels, 1, { bias: false, random }),
        new BatchNorm2d(branchChannels),
        new ReLU(),
      ),
    );
  }

  forward(builder: GraphBuilder, input: string): string {
    let joined: string;
    if (this.stride === 1) {
      const [left, right] = chunkChannels(builder, input, 2);
      joined = concatChannels(builder, [left!, builder.call(this.branch2, right!)]);
    } else {
      joined = concatChannels(builder, [builder.call(this.branch1, input), builder.call(this.branch2, input)]);
    }
    return channelShuffle(builder, joined, 2);
  }
}

/** Stage output channels per width multiplier (Ma et al. 2018, table 5; torchvision). */
const STAGE_CHANNELS: ReadonlyMap<number, readonly number[]> = new Map([
  [0.5, [24, 48, 96, 192, 1024]],
  [1, [24, 116, 232, 464, 1024]],
  [1.5, [24, 176, 352, 704, 1024]],
  [2, [24, 244, 488, 976, 2048]],
]);
const STAGE_REPEATS = [4, 8, 4] as const;

/**
 * torchvision's ShuffleNetV2 (conv1, maxpool, stage2…4, conv5, fc) at width 0.5, 1.0,
 * 1.5 or 2.0 (widthMultiplier); 2,278,604 parameters at 1.0 with 1000 classes.
 */
export class ShuffleNetV2 extends Module implements ZooModel {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly conv1: Sequential;
  readonly maxpool: MaxPool2d;
  readonly stage2: Sequential;
  readonly stage3: Sequential;
  readonly stage4: Sequential;
  readonly conv5: Sequential;
  readonly fc: Linear;

  constructor(options: ModelOptions = {}) {
    super();
    const resolved = resolveModelOptions('shufflenet_v2', options, { numClasses: 1000, inputChannels: 3, inputSize: 224 });
    const channels = STAGE_CHANNELS.get(resolved.widthMultiplier);
    if (channels === undefined) {
      fail(ErrorCodes.UNKNOWN_MODEL, `shufflenet_v2: widthMultiplier must be one of ${[...STAGE_CHANNELS.keys()].join(', ')}, got ${resolved.widthMultiplier}`);
    }
    this.numClasses = resolved.numClasses;
    this.inputShape = [resolved.inputChannels, resolved.inputSize, resolved.inputSize];
    const random = new SeededRandom(resolved.seed);
    const convBNReLU = (inChannels: number, outChannels: number, kernel: number, stride: number): Sequential =>
      new Sequential(
        new Conv2d(inChannels, outChannels, kernel, { stride, padding: (kernel - 1) / 2, bias: false, random }),
        new BatchNorm2d(outChannels),
        new ReLU(),
      );
    let inChannels = channels[0]!;
    this.conv1 = this.addModule('conv1', convBNReLU(resolved.inputChannels, inChannels, 3, 2));
    this.maxpool = this.addModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    const makeStage = (repeats: number, outChannels: number): Sequential => {
      const stage = new Sequential(new ShuffleBlock(inChannels, outChannels, 2, random));
      for (let index = 1; index < repeats; index++) stage.append(new ShuffleBlock(outChannels, outChannels, 1, random));
      inChannels = outChannels;
      return stage;
    };
    this.stage2 = this.addModule('stage2', makeStage(STAGE_REPEATS[0], channels[1]!));
    this.stage3 = this.addModule('stage3', makeStage(STAGE_REPEATS[1], channels[2]!));
    this.stage4 = this.addModule('stage4', makeStage(STAGE_REPEATS[2], channels[3]!));
    this.conv5 = this.addModule('conv5', convBNReLU(inChannels, channels[4]!, 1, 1));
    this.fc = this.addModule('fc', new Linear(channels[4]!, resolved.numClasses, { random }));
  }

  forward(builder: GraphBuilder, input: string): string {
    let x = builder.call(this.maxpool, builder.call(this.conv1, input));
    for (const stage of [this.stage2, this.stage3, this.stage4, this.conv5]) x = builder.call(stage, x);
    return builder.call(this.fc, spatialMean(builder, x));
  }
}

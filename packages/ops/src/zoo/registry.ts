import { ErrorCodes, fail } from '@razor/core';
import { CifarResNet, type CifarResNetOptions } from './cifar-resnet.js';
import { LeNet5 } from './lenet5.js';
import { MobileNetV2, type MobileNetV2Options } from './mobilenet-v2.js';
import type { ModelOptions, ZooModel } from './model-options.js';
import { RESNET18, RESNET34, RESNET50, ResNet } from './resnet.js';
import { ShuffleNetV2 } from './shufflenet-v2.js';

/** Options accepted by `createModel`: the common ones plus model-specific extras. */
export type CreateModelOptions = ModelOptions & Pick<CifarResNetOptions, 'shortcut'> & Pick<MobileNetV2Options, 'dropout' | 'roundNearest'>;

interface ZooEntry {
  description: string;
  create(options: CreateModelOptions): ZooModel;
}

const shufflenet = (width: number) => (options: CreateModelOptions): ZooModel => {
  if (options.widthMultiplier !== undefined && options.widthMultiplier !== width) {
    fail(ErrorCodes.UNKNOWN_MODEL, `shufflenet_v2_x${String(width).replace('.', '_')} has width ${width}; use 'shufflenet_v2' to choose the width`);
  }
  return new ShuffleNetV2({ ...options, widthMultiplier: width });
};

const entries = new Map<string, ZooEntry>([
  ['lenet5', { description: 'LeNet-5, 1×28×28 (padded) or 1×32×32 input, 61,706 parameters', create: (options) => new LeNet5(options) }],
  ['resnet20', { description: 'CIFAR ResNet-20 (He et al. 2016), 3×32×32, 0.27M parameters', create: (options) => new CifarResNet(20, options) }],
  ['resnet56', { description: 'CIFAR ResNet-56 (He et al. 2016), 3×32×32, 0.85M parameters', create: (options) => new CifarResNet(56, options) }],
  ['resnet18', { description: 'torchvision ResNet-18, 11,689,512 parameters', create: (options) => new ResNet(RESNET18, options, 'resnet18') }],
  ['resnet34', { description: 'torchvision ResNet-34, 21,797,672 parameters', create: (options) => new ResNet(RESNET34, options, 'resnet34') }],
  ['resnet50', { description: 'torchvision ResNet-50, 25,557,032 parameters', create: (options) => new ResNet(RESNET50, options, 'resnet50') }],
  ['mobilenet_v2', { description: 'torchvision MobileNetV2, 3,504,872 parameters at width 1', create: (options) => new MobileNetV2(options) }],
  ['shufflenet_v2', { description: 'torchvision ShuffleNetV2, width 0.5/1.0/1.5/2.0 (default 1.0)', create: (options) => new ShuffleNetV2(options) }],
  ['shufflenet_v2_x0_5', { description: 'torchvision ShuffleNetV2 0.5×', create: shufflenet(0.5) }],
  ['shufflenet_v2_x1_0', { description: 'torchvision ShuffleNetV2 1.0×, 2,278,604 parameters', create: shufflenet(1) }],
  ['shufflenet_v2_x1_5', { description: 'torchvision ShuffleNetV2 1.5×', create: shufflenet(1.5) }],
  ['shufflenet_v2_x2_0', { description: 'torchvision ShuffleNetV2 2.0×', create: shufflenet(2) }],
]);

/** The names `createModel` accepts, in a stable order. */
export function listModels(): string[] {
  return [...entries.keys()];
}

/** A one-line description of a zoo model (architecture, input, parameter count). */
export function describeModel(name: string): string {
  return requireEntry(name).description;
}

/**
 * A zoo model by name, with deterministic seeded weights. Unknown names fail with
 * RAZOR_UNKNOWN_MODEL listing the valid ones.
 */
export function createModel(name: string, options: CreateModelOptions = {}): ZooModel {
  return requireEntry(name).create(options);
}

function requireEntry(name: string): ZooEntry {
  const entry = entries.get(name);
  if (entry === undefined) fail(ErrorCodes.UNKNOWN_MODEL, `unknown model '${name}'; valid models: ${listModels().join(', ')}`);
  return entry;
}

import { ErrorCodes, fail } from '@razor/core';
import type { Module } from '../module.js';

/** Options every zoo model takes. */
export interface ModelOptions {
  /** Classifier outputs (default 1000 for ImageNet models, 10 for CIFAR and MNIST models). */
  numClasses?: number;
  /** Channels of the input image (default 3; LeNet-5: 1). */
  inputChannels?: number;
  /** Height and width of the input image the model is meant for (default per model). */
  inputSize?: number;
  /** Scales every layer's width, where the model defines it (default 1). */
  widthMultiplier?: number;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/** A zoo model: a Module that knows the input it is built for. */
export interface ZooModel extends Module {
  /** [channels, height, width] of one input sample, for `toGraph({ inputShape })`. */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
}

/** Options with defaults applied and checked. */
export interface ResolvedModelOptions {
  numClasses: number;
  inputChannels: number;
  inputSize: number;
  widthMultiplier: number;
  seed: number;
}

/** Applies defaults and checks values; RAZOR_UNKNOWN_MODEL names the model and option at fault. */
export function resolveModelOptions(model: string, options: ModelOptions, defaults: { numClasses: number; inputChannels: number; inputSize: number }): ResolvedModelOptions {
  const resolved: ResolvedModelOptions = {
    numClasses: options.numClasses ?? defaults.numClasses,
    inputChannels: options.inputChannels ?? defaults.inputChannels,
    inputSize: options.inputSize ?? defaults.inputSize,
    widthMultiplier: options.widthMultiplier ?? 1,
    seed: options.seed ?? 0,
  };
  for (const key of ['numClasses', 'inputChannels', 'inputSize'] as const) {
    const value = resolved[key];
    if (!Number.isInteger(value) || value < 1) fail(ErrorCodes.UNKNOWN_MODEL, `${model}: option ${key} must be a positive integer, got ${String(value)}`);
  }
  if (!(Number.isFinite(resolved.widthMultiplier) && resolved.widthMultiplier > 0)) {
    fail(ErrorCodes.UNKNOWN_MODEL, `${model}: option widthMultiplier must be a positive number, got ${String(resolved.widthMultiplier)}`);
  }
  if (!Number.isInteger(resolved.seed)) fail(ErrorCodes.UNKNOWN_MODEL, `${model}: option seed must be an integer, got ${String(resolved.seed)}`);
  return resolved;
}

/** Fails when a model without a width multiplier is given one other than 1. */
export function rejectWidthMultiplier(model: string, options: ResolvedModelOptions): void {
  if (options.widthMultiplier !== 1) fail(ErrorCodes.UNKNOWN_MODEL, `${model} has no width multiplier; leave widthMultiplier at 1 (got ${options.widthMultiplier})`);
}

/**
 * torchvision's `_make_divisible`: the nearest multiple of `divisor` to `value`, at
 * least `minimum` (default `divisor`) and never below 90% of `value`.
 */
export function makeDivisible(value: number, divisor: number, minimum = divisor): number {
  let result = Math.max(minimum, Math.floor(Math.trunc(value + divisor / 2) / divisor) * divisor);
  if (result < 0.9 * value) result += divisor;
  return result;
}

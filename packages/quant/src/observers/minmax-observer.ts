/**
 * The running minimum and maximum, or their moving average (onnxruntime's MinMax calibration with
 * `moving_average`, PyTorch's MovingAverageMinMaxObserver), per tensor or per channel.
 */
import { ErrorCodes, fail, type Tensor } from '@razor/core';
import type { TensorRange } from '../types.js';
import { observeBatch, observerName, requireObserved, type ChannelLayout } from './observed-batch.js';
import { checkCommonOptions } from './observer-options.js';
import type { Observer, ObserverOptions } from './observer.js';

/** onnxruntime's and PyTorch's default moving-average constant. */
export const DEFAULT_AVERAGING_CONSTANT = 0.01;

/**
 * Records the minimum and maximum of every batch. Plain: the global extremes. With a moving average
 * (constant c): the first batch's extremes, then `min ← min + c·(batch min − min)` and the same for
 * the maximum, per channel when `axis` is set. Empty tensors are counted but change nothing.
 */
export class MinMaxObserver implements Observer {
  readonly method = 'minmax' as const;
  readonly axis?: number;
  /** The moving-average constant, or undefined for the global extremes. */
  readonly averagingConstant: number | undefined;
  #count = 0;
  #layout: ChannelLayout | undefined;
  #min: Float64Array | undefined;
  #max: Float64Array | undefined;

  constructor(options: ObserverOptions = {}) {
    const who = observerName('minmax', options.axis);
    checkCommonOptions(options, who);
    if (options.axis !== undefined) this.axis = options.axis;
    const moving = options.movingAverage ?? options.averagingConstant !== undefined;
    if (moving) {
      const constant = options.averagingConstant ?? DEFAULT_AVERAGING_CONSTANT;
      if (!(constant > 0 && constant <= 1)) {
        fail(ErrorCodes.INVALID_ARGUMENT, `${who}: the averaging constant must be in (0, 1], got ${constant}`);
      }
      this.averagingConstant = constant;
    } else {
      this.averagingConstant = undefined;
    }
  }

  get count(): number {
    return this.#count;
  }

  observe(tensor: Tensor): void {
    const batch = observeBatch(tensor, this.axis, this.#layout, observerName('minmax', this.axis));
    this.#layout = batch.layout;
    this.#count++;
    const channels = batch.layout.channels;
    // Channels either all have values or none do (an empty tensor).
    if (channels === 0 || !(batch.min[0]! <= batch.max[0]!)) return;
    if (this.#min === undefined || this.#max === undefined) {
      this.#min = batch.min;
      this.#max = batch.max;
      return;
    }
    const constant = this.averagingConstant;
    for (let channel = 0; channel < channels; channel++) {
      const low = this.#min[channel]!;
      const high = this.#max[channel]!;
      if (constant === undefined) {
        this.#min[channel] = Math.min(low, batch.min[channel]!);
        this.#max[channel] = Math.max(high, batch.max[channel]!);
      } else {
        this.#min[channel] = low + constant * (batch.min[channel]! - low);
        this.#max[channel] = high + constant * (batch.max[channel]! - high);
      }
    }
  }

  range(): TensorRange {
    requireObserved(this.#count, observerName('minmax', this.axis));
    const channels = this.#layout!.channels;
    const range: TensorRange = {
      min: this.#min ? Float32Array.from(this.#min) : new Float32Array(channels),
      max: this.#max ? Float32Array.from(this.#max) : new Float32Array(channels),
    };
    if (this.#layout!.axis !== undefined) range.axis = this.#layout!.axis;
    return range;
  }
}

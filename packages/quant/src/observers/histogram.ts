/**
 * A histogram of bounded memory, shared by the percentile, entropy and MSE observers, and the base
 * class of those observers (one histogram per channel).
 */
import type { Tensor } from '@razor/core';
import type { TensorRange } from '../types.js';
import { observeBatch, observerName, requireObserved, type ChannelLayout, type FloatValues } from './observed-batch.js';
import { checkCommonOptions } from './observer-options.js';
import type { Observer, ObserverMethod, ObserverOptions } from './observer.js';

/**
 * A histogram with a fixed number of equal bins over [−limit, limit] (`signed`, for x) or
 * [0, limit] (unsigned, for |x|). The first values set `limit` to their largest magnitude; when
 * later values fall outside, `limit` grows by the smallest integer factor that covers them and the
 * old counts merge into the wider bins, which is exact because every old bin lies inside one new
 * bin. Memory never grows. Also keeps the minimum, maximum, total and the count of exact zeros.
 */
export class Histogram {
  /** Number of bins. */
  readonly bins: number;
  /** True: bins over [−limit, limit] of x (needs an even bin count); false: over [0, limit] of |x|. */
  readonly signed: boolean;
  /** Counts per bin. */
  readonly counts: Float64Array;
  #limit = 0;
  #total = 0;
  #zeros = 0;
  #min = Infinity;
  #max = -Infinity;

  constructor(bins: number, signed: boolean) {
    this.bins = bins;
    this.signed = signed;
    this.counts = new Float64Array(bins);
  }

  /** The largest magnitude the bins cover (0 until a non-zero value arrives). */
  get limit(): number {
    return this.#limit;
  }

  /** Values recorded. */
  get total(): number {
    return this.#total;
  }

  /** Values recorded that were exactly 0. */
  get zeros(): number {
    return this.#zeros;
  }

  /** The smallest value recorded (Infinity before any). */
  get min(): number {
    return this.#min;
  }

  /** The largest value recorded (−Infinity before any). */
  get max(): number {
    return this.#max;
  }

  /** The lowest edge: −limit when signed, 0 otherwise. */
  get low(): number {
    return this.signed ? -this.#limit : 0;
  }

  /** Width of one bin. */
  get width(): number {
    return ((this.signed ? 2 : 1) * this.#limit) / this.bins;
  }

  /** The index of the bin that holds 0. */
  get zeroBin(): number {
    return this.signed ? this.bins / 2 : 0;
  }

  /** Edge `index` (0 … bins), as numpy.linspace computes it. */
  edge(index: number): number {
    return index === this.bins ? this.low + (this.signed ? 2 : 1) * this.#limit : this.low + index * this.width;
  }

  /** Widens the bins to cover magnitudes up to `limit`, merging the old counts (see the class comment). */
  cover(limit: number): void {
    if (!(limit > this.#limit)) return;
    if (this.#limit === 0) {
      // Every value so far was 0 and sits in the zero bin, which stays the zero bin.
      this.#limit = limit;
      return;
    }
    let factor = Math.ceil(limit / this.#limit);
    while (factor * this.#limit < limit) factor++;
    const counts = this.counts;
    const bins = this.bins;
    if (this.signed) {
      // Old bin k lands in new bin ⌊(k + (factor − 1)·bins/2) / factor⌋: the lower half moves up and
      // the upper half down, so each half is merged in place walking away from the centre.
      const offset = ((factor - 1) * bins) / 2;
      for (let index = bins / 2; index < bins; index++) moveCount(counts, index, Math.floor((index + offset) / factor));
      for (let index = bins / 2 - 1; index >= 0; index--) moveCount(counts, index, Math.floor((index + offset) / factor));
    } else {
      for (let index = 0; index < bins; index++) moveCount(counts, index, Math.floor(index / factor));
    }
    this.#limit *= factor;
  }

  /**
   * Records the finite values `values[((o × channels) + channel) × inner + k]` (o < outer, k < inner),
   * whose extremes are `min` and `max`: the layout of one channel of a tensor.
   */
  add(values: FloatValues, layout: ChannelLayout, channel: number, min: number, max: number): void {
    if (!(min <= max)) return;
    this.cover(Math.max(-min, max));
    if (min < this.#min) this.#min = min;
    if (max > this.#max) this.#max = max;
    const { channels, inner, outer } = layout;
    const counts = this.counts;
    const last = this.bins - 1;
    let zeros = 0;
    if (this.#limit === 0) {
      zeros = inner * outer;
      counts[this.zeroBin] = counts[this.zeroBin]! + zeros;
    } else if (this.signed) {
      const limit = this.#limit;
      const scale = this.bins / (2 * limit);
      for (let block = 0; block < outer; block++) {
        const start = (block * channels + channel) * inner;
        for (let index = start; index < start + inner; index++) {
          const value = values[index]!;
          if (value === 0) zeros++;
          const bin = Math.floor((value + limit) * scale);
          const target = bin > last ? last : bin < 0 ? 0 : bin;
          counts[target] = counts[target]! + 1;
        }
      }
    } else {
      const scale = this.bins / this.#limit;
      for (let block = 0; block < outer; block++) {
        const start = (block * channels + channel) * inner;
        for (let index = start; index < start + inner; index++) {
          const value = values[index]!;
          if (value === 0) zeros++;
          const bin = Math.floor(Math.abs(value) * scale);
          const target = bin > last ? last : bin;
          counts[target] = counts[target]! + 1;
        }
      }
    }
    this.#zeros += zeros;
    this.#total += inner * outer;
  }
}

function moveCount(counts: Float64Array, from: number, to: number): void {
  if (from === to) return;
  counts[to] = counts[to]! + counts[from]!;
  counts[from] = 0;
}

/**
 * The base of the histogram observers: one Histogram per channel, fed by `observe`; `range` asks
 * the subclass for each channel's range.
 */
export abstract class HistogramObserver implements Observer {
  abstract readonly method: ObserverMethod;
  readonly axis?: number;
  /** Bins of each histogram. */
  readonly bins: number;
  /** Whether the histograms are of x over [−limit, limit] (true) or of |x| (false). */
  readonly signed: boolean;
  #count = 0;
  #layout: ChannelLayout | undefined;
  #histograms: Histogram[] = [];

  protected constructor(options: ObserverOptions, method: ObserverMethod, bins: number, signed: boolean) {
    checkCommonOptions(options, observerName(method, options.axis));
    if (options.axis !== undefined) this.axis = options.axis;
    this.bins = bins;
    this.signed = signed;
  }

  get count(): number {
    return this.#count;
  }

  /** The histograms, one per channel (one per tensor when not per channel); empty before the first tensor. */
  get histograms(): readonly Histogram[] {
    return this.#histograms;
  }

  observe(tensor: Tensor): void {
    const batch = observeBatch(tensor, this.axis, this.#layout, observerName(this.method, this.axis));
    if (this.#layout === undefined) {
      this.#histograms = Array.from({ length: batch.layout.channels }, () => new Histogram(this.bins, this.signed));
    }
    this.#layout = batch.layout;
    this.#count++;
    for (let channel = 0; channel < batch.layout.channels; channel++) {
      this.#histograms[channel]!.add(batch.values, batch.layout, channel, batch.min[channel]!, batch.max[channel]!);
    }
  }

  range(): TensorRange {
    requireObserved(this.#count, observerName(this.method, this.axis));
    const channels = this.#histograms.length;
    const min = new Float32Array(channels);
    const max = new Float32Array(channels);
    for (let channel = 0; channel < channels; channel++) {
      const histogram = this.#histograms[channel]!;
      if (histogram.total === 0) continue;
      const [low, high] = this.channelRange(histogram);
      min[channel] = low;
      max[channel] = high;
    }
    const range: TensorRange = { min, max };
    if (this.#layout!.axis !== undefined) range.axis = this.#layout!.axis;
    return range;
  }

  /** The range of one channel's histogram, which holds at least one value. */
  protected abstract channelRange(histogram: Histogram): readonly [number, number];
}

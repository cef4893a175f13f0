/**
 * The range of least expected squared quantization error, searched over a bounded histogram.
 */
import { quantRange, roundHalfToEven } from '../quant-params.js';
import type { QuantScheme } from '../types.js';
import { Histogram, HistogramObserver } from './histogram.js';
import { observerName } from './observed-batch.js';
import { DEFAULT_HISTOGRAM_BINS, DEFAULT_OBSERVER_SCHEME, checkBins } from './observer-options.js';
import type { ObserverOptions } from './observer.js';

/** float32's smallest normal number: quantParamsFromRange gives scale 1 below it. */
const FLOAT32_TINY = 1.1754943508222875e-38;
/** Candidates per side of the coarse grid of the asymmetric search. */
const COARSE_CANDIDATES = 64;

/**
 * Chooses the clipping range that minimizes the expected squared error of quantizing the observed
 * values with the observer's scheme (its integer range, symmetry and reduce_range, scale and zero
 * point as `quantParamsFromRange` computes them). The error of a range is, over a histogram of x
 * whose values are taken as spread evenly within each bin: scale²/12 for every value the integers
 * cover (rounding; exact zeros excepted, since 0 is always representable), plus the squared
 * distance to the nearest representable bound for every value beyond them (clipping).
 *
 * Symmetric schemes try every bin edge t in (0, max|x|] as [−t, t]. Asymmetric schemes shrink the
 * minimum and the maximum over bin edges: a coarse grid of 64 × 64 pairs, then every pair around the
 * best one. The result is clamped to the observed [min, max]. Default: 2048 bins.
 */
export class MseObserver extends HistogramObserver {
  readonly method = 'mse' as const;
  /** The scheme the error is measured for. */
  readonly scheme: QuantScheme;

  constructor(options: ObserverOptions = {}) {
    const bins = checkBins(options.bins ?? DEFAULT_HISTOGRAM_BINS, 2, true, observerName('mse', options.axis));
    super(options, 'mse', bins, true);
    this.scheme = { ...(options.scheme ?? DEFAULT_OBSERVER_SCHEME) };
  }

  protected channelRange(histogram: Histogram): readonly [number, number] {
    if (histogram.limit === 0) return [histogram.min, histogram.max];
    const error = new QuantizationError(histogram, this.scheme);
    const zeroBin = histogram.zeroBin;
    if (this.scheme.symmetric) {
      const magnitude = Math.max(-histogram.min, histogram.max);
      let best = Infinity;
      let bestThreshold = magnitude;
      for (let index = 1; index <= zeroBin; index++) {
        const threshold = Math.min(histogram.edge(zeroBin + index), magnitude);
        const value = error.of(-threshold, threshold);
        if (value < best) {
          best = value;
          bestThreshold = threshold;
        }
        if (threshold >= magnitude) break;
      }
      return [Math.max(-bestThreshold, histogram.min), Math.min(bestThreshold, histogram.max)];
    }

    // Candidate bounds: bin edges from 0 outwards, the last one replaced by the observed extreme.
    const lows = [0];
    for (let index = zeroBin - 1; histogram.min < lows[lows.length - 1]! && index >= 0; index--) lows.push(Math.max(histogram.edge(index), histogram.min));
    const highs = [0];
    for (let index = zeroBin + 1; histogram.max > highs[highs.length - 1]! && index <= histogram.bins; index++) highs.push(Math.min(histogram.edge(index), histogram.max));
    const search = (lowIndices: readonly number[], highIndices: readonly number[], start: readonly [number, number, number]): [number, number, number] => {
      let [best, bestLow, bestHigh] = start;
      for (const low of lowIndices) {
        for (const high of highIndices) {
          const value = error.of(lows[low]!, highs[high]!);
          if (value < best) [best, bestLow, bestHigh] = [value, low, high];
        }
      }
      return [best, bestLow, bestHigh];
    };
    const lowStride = Math.max(1, Math.ceil(lows.length / COARSE_CANDIDATES));
    const highStride = Math.max(1, Math.ceil(highs.length / COARSE_CANDIDATES));
    const full = error.of(lows[lows.length - 1]!, highs[highs.length - 1]!);
    const [, coarseLow, coarseHigh] = search(grid(0, lows.length - 1, lowStride), grid(0, highs.length - 1, highStride), [full, lows.length - 1, highs.length - 1]);
    const [, bestLow, bestHigh] = search(
      grid(Math.max(0, coarseLow - lowStride), Math.min(lows.length - 1, coarseLow + lowStride), 1),
      grid(Math.max(0, coarseHigh - highStride), Math.min(highs.length - 1, coarseHigh + highStride), 1),
      [error.of(lows[coarseLow]!, highs[coarseHigh]!), coarseLow, coarseHigh],
    );
    return [lows[bestLow]!, highs[bestHigh]!];
  }
}

/** Indices from..to stepping by `stride`, always ending with `to`. */
function grid(from: number, to: number, stride: number): number[] {
  const indices: number[] = [];
  for (let index = from; index < to; index += stride) indices.push(index);
  indices.push(to);
  return indices;
}

/**
 * The expected squared error of quantizing a histogram's values with a scheme and a range, each
 * range evaluated in constant time from prefix sums of the counts and of the first two moments of
 * each bin (values spread evenly within a bin; exact zeros set apart, they quantize exactly).
 */
export class QuantizationError {
  readonly #histogram: Histogram;
  readonly #scheme: QuantScheme;
  readonly #qmin: number;
  readonly #qmax: number;
  /** Counts per bin, exact zeros removed. */
  readonly #counts: Float64Array;
  readonly #prefixCount: Float64Array;
  readonly #prefixFirst: Float64Array;
  readonly #prefixSecond: Float64Array;

  constructor(histogram: Histogram, scheme: QuantScheme) {
    this.#histogram = histogram;
    this.#scheme = scheme;
    [this.#qmin, this.#qmax] = quantRange(scheme);
    const bins = histogram.bins;
    this.#counts = Float64Array.from(histogram.counts);
    this.#counts[histogram.zeroBin] = this.#counts[histogram.zeroBin]! - histogram.zeros;
    this.#prefixCount = new Float64Array(bins + 1);
    this.#prefixFirst = new Float64Array(bins + 1);
    this.#prefixSecond = new Float64Array(bins + 1);
    for (let index = 0; index < bins; index++) {
      const count = this.#counts[index]!;
      const left = histogram.edge(index);
      const right = histogram.edge(index + 1);
      this.#prefixCount[index + 1] = this.#prefixCount[index]! + count;
      this.#prefixFirst[index + 1] = this.#prefixFirst[index]! + (count * (left + right)) / 2;
      this.#prefixSecond[index + 1] = this.#prefixSecond[index]! + (count * (left * left + left * right + right * right)) / 3;
    }
  }

  /** Expected total squared error when the range [low, high] sets the scale and zero point. */
  of(low: number, high: number): number {
    let rangeLow = Math.min(low, 0);
    let rangeHigh = Math.max(high, 0);
    if (this.#scheme.symmetric) {
      const magnitude = Math.max(-rangeLow, rangeHigh);
      rangeLow = -magnitude;
      rangeHigh = magnitude;
    }
    const qmin = this.#qmin;
    const qmax = this.#qmax;
    const scale = Math.fround((rangeHigh - rangeLow) / (qmax - qmin));
    if (scale < FLOAT32_TINY) return this.#clipped(0, 0).error;
    const zeroPoint = this.#scheme.symmetric ? roundHalfToEven((qmin + qmax) / 2) : roundHalfToEven(qmin - rangeLow / scale);
    const { error, count } = this.#clipped((qmin - zeroPoint) * scale, (qmax - zeroPoint) * scale);
    return error + ((this.#prefixCount[this.#histogram.bins]! - count) * scale * scale) / 12;
  }

  /** Squared error and count of the values below `lowest` or above `highest`. */
  #clipped(lowest: number, highest: number): { error: number; count: number } {
    const histogram = this.#histogram;
    const bins = histogram.bins;
    const width = histogram.width;
    const counts = this.#counts;
    const count = this.#prefixCount;
    const first = this.#prefixFirst;
    const second = this.#prefixSecond;
    let error = 0;
    let clipped = 0;
    if (highest < histogram.edge(bins)) {
      const bin = Math.min(bins - 1, Math.max(0, Math.floor((highest - histogram.low) / width)));
      const right = histogram.edge(bin + 1);
      const part = Math.max(0, Math.min(right - highest, width));
      // Whole bins above, then the part of this bin above `highest`.
      error += second[bins]! - second[bin + 1]! - 2 * highest * (first[bins]! - first[bin + 1]!) + highest * highest * (count[bins]! - count[bin + 1]!);
      clipped += count[bins]! - count[bin + 1]!;
      error += (counts[bin]! * part ** 3) / (3 * width);
      clipped += (counts[bin]! * part) / width;
    }
    if (lowest > histogram.low) {
      const bin = Math.min(bins - 1, Math.max(0, Math.floor((lowest - histogram.low) / width)));
      const left = histogram.edge(bin);
      const part = Math.max(0, Math.min(lowest - left, width));
      error += second[bin]! - 2 * lowest * first[bin]! + lowest * lowest * count[bin]!;
      clipped += count[bin]!;
      error += (counts[bin]! * part ** 3) / (3 * width);
      clipped += (counts[bin]! * part) / width;
    }
    return { error, count: clipped };
  }
}

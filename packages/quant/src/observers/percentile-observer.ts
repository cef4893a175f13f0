/**
 * The percentile range: onnxruntime's calibrate.py HistogramCollector.compute_percentile on a
 * bounded histogram.
 */
import { ErrorCodes, fail } from '@razor/core';
import { Histogram, HistogramObserver } from './histogram.js';
import { observerName } from './observed-batch.js';
import { DEFAULT_HISTOGRAM_BINS, DEFAULT_OBSERVER_SCHEME, checkBins } from './observer-options.js';
import type { ObserverOptions } from './observer.js';

/** onnxruntime's default percentile. */
export const DEFAULT_PERCENTILE = 99.999;

/**
 * Keeps the given percentile of the values. Symmetric schemes: a histogram of |x|, and the range
 * [−t, t] with t the edge of the bin where the cumulative share reaches p/100. Asymmetric schemes: a
 * histogram of x and (100 − p)/2 percent cut from each tail, each bound at the edge of the bin where
 * the cumulative share reaches it. Both bounds are then clamped to the observed [min, max], as
 * onnxruntime does. Defaults: 2048 bins, 99.999.
 */
export class PercentileObserver extends HistogramObserver {
  readonly method = 'percentile' as const;
  /** The percentile kept. */
  readonly percentile: number;

  constructor(options: ObserverOptions = {}) {
    const who = observerName('percentile', options.axis);
    const symmetric = (options.scheme ?? DEFAULT_OBSERVER_SCHEME).symmetric;
    super(options, 'percentile', checkBins(options.bins ?? DEFAULT_HISTOGRAM_BINS, 1, !symmetric, who), !symmetric);
    const percentile = options.percentile ?? DEFAULT_PERCENTILE;
    if (!(percentile > 0 && percentile <= 100)) fail(ErrorCodes.INVALID_ARGUMENT, `${who}: percentile must be in (0, 100], got ${percentile}`);
    this.percentile = percentile;
  }

  protected channelRange(histogram: Histogram): readonly [number, number] {
    let low: number;
    let high: number;
    if (!histogram.signed) {
      high = histogram.edge(searchCumulative(histogram, this.percentile / 100));
      low = -high;
    } else {
      const cut = (100 - this.percentile) / 200;
      low = histogram.edge(searchCumulative(histogram, cut));
      high = histogram.edge(searchCumulative(histogram, 1 - cut));
    }
    return [Math.max(low, histogram.min), Math.min(high, histogram.max)];
  }
}

/**
 * The first bin whose cumulative share (a running sum of count/total, as numpy.cumsum) reaches
 * `share`, or `bins` when none does: numpy.searchsorted(cdf, share).
 */
export function searchCumulative(histogram: Histogram, share: number): number {
  const counts = histogram.counts;
  const total = histogram.total;
  let cumulative = 0;
  for (let index = 0; index < counts.length; index++) {
    cumulative += counts[index]! / total;
    if (cumulative >= share) return index;
  }
  return counts.length;
}

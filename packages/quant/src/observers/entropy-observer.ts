/**
 * The entropy (KL-divergence) threshold of TensorRT's 8-bit calibration, as onnxruntime's
 * calibrate.py HistogramCollector.get_entropy_threshold computes it, on a bounded histogram.
 */
import { ErrorCodes, fail } from '@razor/core';
import { Histogram, HistogramObserver } from './histogram.js';
import { observerName } from './observed-batch.js';
import { DEFAULT_HISTOGRAM_BINS, checkBins } from './observer-options.js';
import type { ObserverOptions } from './observer.js';

/** onnxruntime's default number of quantized bins. */
export const DEFAULT_QUANTIZED_BINS = 128;

/** numpy's float32 rounding of smooth_distribution's epsilon. */
const EPSILON = Math.fround(0.0001);

/**
 * Chooses the clipping range whose quantized distribution is closest, in KL divergence, to the
 * observed one. The histogram is of x over [−limit, limit]; for each half-width i from
 * quantizedBins/2 to bins/2 bins around the centre, the reference P is the slice with the outliers
 * folded into its end bins, Q merges the slice into `quantizedBins` bins and spreads each back over
 * its bins (onnxruntime's integer division included), both are smoothed and KL(P‖Q) is measured;
 * the slice of least divergence gives the range, clamped to the observed [min, max].
 *
 * Defaults: 2048 bins and 128 quantized bins (or `bins` when fewer). onnxruntime starts with 128 bins and lets the count
 * grow as ranges widen; with a fixed 128 there is only one candidate (the whole range), so razor uses
 * TensorRT's 2048.
 */
export class EntropyObserver extends HistogramObserver {
  readonly method = 'entropy' as const;
  /** Bins of the quantized distribution. */
  readonly quantizedBins: number;

  constructor(options: ObserverOptions = {}) {
    const who = observerName('entropy', options.axis);
    const bins = checkBins(options.bins ?? DEFAULT_HISTOGRAM_BINS, 2, true, who);
    super(options, 'entropy', bins, true);
    const quantizedBins = options.quantizedBins ?? Math.min(DEFAULT_QUANTIZED_BINS, bins);
    if (!Number.isInteger(quantizedBins) || quantizedBins < 2 || quantizedBins > bins) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${who}: quantizedBins must be an integer in [2, bins = ${bins}], got ${quantizedBins}`);
    }
    this.quantizedBins = quantizedBins;
  }

  protected channelRange(histogram: Histogram): readonly [number, number] {
    if (histogram.limit === 0) return [histogram.min, histogram.max];
    const [start, end] = entropyThresholdBins(histogram.counts, this.quantizedBins);
    return [Math.max(histogram.edge(start), histogram.min), Math.min(histogram.edge(end), histogram.max)];
  }
}

/**
 * onnxruntime's get_entropy_threshold on bin counts centred on 0: the [start, end) bins of the slice
 * with the least KL divergence (the first of equals).
 */
export function entropyThresholdBins(counts: Float64Array, quantizedBins: number): readonly [number, number] {
  const bins = counts.length;
  const zeroBin = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const prefix = new Float64Array(bins + 1);
  for (let index = 0; index < bins; index++) prefix[index + 1] = prefix[index]! + counts[index]!;
  const total = prefix[bins]!;
  const p = new Float64Array(bins);
  const q = new Float64Array(bins);
  const quantized = new Float64Array(quantizedBins);
  let best = Infinity;
  let bestStart = zeroBin - halfQuantized;
  let bestEnd = Math.min(zeroBin + halfQuantized + 1, bins);
  for (let half = halfQuantized; half <= zeroBin; half++) {
    const start = zeroBin - half;
    const end = Math.min(zeroBin + half + 1, bins);
    const size = end - start;
    for (let index = 0; index < size; index++) p[index] = counts[start + index]!;
    p[0] = p[0]! + prefix[start]!;
    p[size - 1] = p[size - 1]! + (total - prefix[end]!);

    const merged = Math.floor(size / quantizedBins);
    for (let bin = 0; bin < quantizedBins; bin++) {
      quantized[bin] = prefix[start + (bin + 1) * merged]! - prefix[start + bin * merged]!;
    }
    quantized[quantizedBins - 1] = quantized[quantizedBins - 1]! + (prefix[end]! - prefix[start + quantizedBins * merged]!);
    q.fill(0, 0, size);
    for (let bin = 0; bin < quantizedBins; bin++) {
      const from = bin * merged;
      let nonZero = 0;
      for (let index = from; index < from + merged; index++) if (p[index] !== 0) nonZero++;
      // onnxruntime expands into an int64 array: the average is truncated.
      if (nonZero !== 0) q.fill(Math.trunc(quantized[bin]! / nonZero), from, from + merged);
    }
    const divergence = smooth(p, size) && smooth(q, size) ? klDivergence(p, q, size) : Infinity;
    if (divergence < best) {
      best = divergence;
      bestStart = start;
      bestEnd = end;
    }
  }
  return [bestStart, bestEnd];
}

/**
 * onnxruntime's smooth_distribution in place, in float32 as numpy computes it: zeros become ε and
 * the non-zero entries give up ε·zeros/nonzeros each. False when every entry is 0.
 */
function smooth(values: Float64Array, size: number): boolean {
  let zeros = 0;
  for (let index = 0; index < size; index++) if (values[index] === 0) zeros++;
  const nonZeros = size - zeros;
  if (nonZeros === 0) return false;
  const taken = Math.fround(-(0.0001 * zeros) / nonZeros);
  for (let index = 0; index < size; index++) {
    const value = values[index]!;
    values[index] = value === 0 ? EPSILON : Math.fround(Math.fround(value) + taken);
  }
  return true;
}

/** KL(P‖Q) of two positive vectors after normalizing each to sum 1 (scipy.stats.entropy). */
function klDivergence(p: Float64Array, q: Float64Array, size: number): number {
  let pTotal = 0;
  let qTotal = 0;
  for (let index = 0; index < size; index++) {
    pTotal += p[index]!;
    qTotal += q[index]!;
  }
  let divergence = 0;
  for (let index = 0; index < size; index++) {
    const pShare = p[index]! / pTotal;
    divergence += pShare * Math.log(pShare / (q[index]! / qTotal));
  }
  return divergence;
}

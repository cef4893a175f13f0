// MseObserver: its range against the real quantization error of the data (quantize, dequantize, compare), against
// a brute-force search over candidate ranges done here on the data itself, and against the analytic optimum for
// Laplace data.
import { Tensor, createRandom } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { concatenateBatches, loadObserverBatches } from '../__fixtures__/observers/observer-reference.js';
import { quantParamsFromRange, quantRange, roundHalfToEven } from '../quant-params.js';
import type { QuantScheme } from '../types.js';
import type { HistogramObserver } from './histogram.js';
import { createObserver } from './observer.js';

/** Mean squared error of quantizing `values` with the range [low, high]: q = clamp(round(x / s) + z, qmin, qmax). */
function quantizationMse(values: Float32Array, low: number, high: number, scheme: QuantScheme): number {
  const params = quantParamsFromRange({ min: Float32Array.of(low), max: Float32Array.of(high) }, scheme);
  const [qmin, qmax] = quantRange(scheme);
  const scale = params.scale[0]!;
  const zeroPoint = params.zeroPoint[0]!;
  let total = 0;
  for (const value of values) {
    const q = Math.min(qmax, Math.max(qmin, roundHalfToEven(Math.fround(value / scale)) + zeroPoint));
    total += ((q - zeroPoint) * scale - value) ** 2;
  }
  return total / values.length;
}

/**
 * Laplace samples (scale 1 below 0, `right` above), seeded: light tails, but with many samples the extremes lie far
 * beyond the bulk, so that clipping them pays at 8 bits.
 */
function laplace(size: number, seed: number, right = 1): Float32Array {
  const random = createRandom(seed);
  return new Float32Array(size).map(() => {
    const uniform = random() - 0.5;
    const magnitude = -Math.log(1 - 2 * Math.abs(uniform));
    return uniform < 0 ? -magnitude : right * magnitude;
  });
}

function rangeOf(method: 'mse' | 'minmax', values: Float32Array, scheme: QuantScheme, bins?: number): [number, number] {
  const observer = createObserver(method, { scheme, ...(bins ? { bins } : {}) });
  observer.observe(new Tensor('float32', [values.length], values));
  const range = observer.range();
  return [range.min[0]!, range.max[0]!];
}

describe('MseObserver', () => {
  const skewed = laplace(200000, 5, 2);

  for (const scheme of [
    { type: 'int8', symmetric: true },
    { type: 'int8', symmetric: false },
    { type: 'uint8', symmetric: false },
    { type: 'uint8', symmetric: false, reduceRange: true },
  ] satisfies QuantScheme[]) {
    it(`quantizes long-tailed data with less error than MinMax: ${JSON.stringify(scheme)}`, () => {
      const mse = quantizationMse(skewed, ...rangeOf('mse', skewed, scheme), scheme);
      const minmax = quantizationMse(skewed, ...rangeOf('minmax', skewed, scheme), scheme);
      expect(mse).toBeLessThan(0.8 * minmax);
    });
  }

  it('finds the analytic optimum of symmetric clipping for Laplace data (8 and 7 bits)', () => {
    // For |x| ~ Exp(1): E[error](t) ≈ P(|x| ≤ t)·s²/12 + 2·e^(−t), with s = 2t / (qmax − qmin) (Banner et al., ACIQ).
    const values = laplace(1000000, 17);
    for (const scheme of [{ type: 'int8', symmetric: true }, { type: 'int8', symmetric: true, reduceRange: true }] satisfies QuantScheme[]) {
      const [qmin, qmax] = quantRange(scheme);
      let optimum = 0;
      let least = Infinity;
      for (let threshold = 1; threshold < 20; threshold += 0.001) {
        const error = (1 - Math.exp(-threshold)) * (2 * threshold / (qmax - qmin)) ** 2 / 12 + 2 * Math.exp(-threshold);
        if (error < least) [least, optimum] = [error, threshold];
      }
      const threshold = Math.max(...rangeOf('mse', values, scheme).map(Math.abs));
      expect(Math.abs(threshold - optimum) / optimum).toBeLessThan(0.03);
    }
  });

  it('finds the symmetric threshold of a brute-force search over bin edges, within two bins', () => {
    const scheme: QuantScheme = { type: 'int8', symmetric: true };
    const values = laplace(200000, 23);
    const observer = createObserver('mse', { scheme, bins: 512 }) as HistogramObserver;
    observer.observe(new Tensor('float32', [values.length], values));
    const threshold = Math.max(-observer.range().min[0]!, observer.range().max[0]!);
    const histogram = observer.histograms[0]!;
    const magnitude = Math.max(-histogram.min, histogram.max);
    let best = Infinity;
    let bestThreshold = 0;
    for (let edge = histogram.zeroBin + 1; edge <= histogram.bins; edge++) {
      const candidate = histogram.edge(edge);
      if (candidate < magnitude / 2) continue;
      const error = quantizationMse(values, -candidate, candidate, scheme);
      if (error < best) [best, bestThreshold] = [error, candidate];
      if (candidate > magnitude) break;
    }
    // The optimum clips: it lies well inside the observed magnitude, and inside the window searched.
    expect(bestThreshold).toBeLessThan(0.85 * magnitude);
    expect(bestThreshold).toBeGreaterThan(0.55 * magnitude);
    // The range comes back as float32: allow its rounding on top of two bins.
    expect(Math.abs(threshold - bestThreshold)).toBeLessThanOrEqual(2 * histogram.width + 1e-6);
    expect(quantizationMse(values, -threshold, threshold, scheme)).toBeLessThanOrEqual(best * 1.01);
  });

  it('finds the asymmetric range of a brute-force search over pairs of bin edges, within two bins', () => {
    const scheme: QuantScheme = { type: 'uint8', symmetric: false };
    const values = skewed.subarray(0, 100000);
    const observer = createObserver('mse', { scheme, bins: 128 }) as HistogramObserver;
    observer.observe(new Tensor('float32', [values.length], values));
    const range = observer.range();
    const histogram = observer.histograms[0]!;
    let best = Infinity;
    let bestRange = [0, 0];
    // Lower bounds over the lower half of [min, 0], upper bounds over the upper half of [0, max].
    for (let low = 0; histogram.edge(low) < histogram.min / 2; low++) {
      if (histogram.edge(low + 1) <= histogram.min) continue;
      for (let high = histogram.bins; histogram.edge(high) > histogram.max / 2; high--) {
        if (histogram.edge(high - 1) >= histogram.max) continue;
        const candidate = [Math.max(histogram.edge(low), histogram.min), Math.min(histogram.edge(high), histogram.max)] as const;
        const error = quantizationMse(values, candidate[0], candidate[1], scheme);
        if (error < best) [best, bestRange] = [error, [...candidate]];
      }
    }
    expect(bestRange[1]).toBeLessThan(histogram.max - 2 * histogram.width);
    expect(Math.abs(range.min[0]! - bestRange[0]!)).toBeLessThanOrEqual(2 * histogram.width + 1e-6);
    expect(Math.abs(range.max[0]! - bestRange[1]!)).toBeLessThanOrEqual(2 * histogram.width + 1e-6);
    expect(quantizationMse(values, range.min[0]!, range.max[0]!, scheme)).toBeLessThanOrEqual(best * 1.01);
  });

  it('keeps 0 as the lower bound of ReLU outputs and clips their upper tail', () => {
    const relu = skewed.map((value) => Math.max(value, 0));
    const scheme: QuantScheme = { type: 'uint8', symmetric: false };
    const [low, high] = rangeOf('mse', relu, scheme);
    const [, max] = rangeOf('minmax', relu, scheme);
    expect(low).toBe(0);
    expect(high).toBeLessThan(0.9 * max);
    expect(quantizationMse(relu, low, high, scheme)).toBeLessThan(0.95 * quantizationMse(relu, 0, max, scheme));
  });

  it('measures the error of its own scheme: fewer levels clip more, int16 hardly clips', () => {
    const values = laplace(200000, 29);
    const magnitude = values.reduce((largest, value) => Math.max(largest, Math.abs(value)), 0);
    // A symmetric range is [max(−t, min), min(t, max)]: its threshold is the larger magnitude.
    const threshold = (scheme: QuantScheme): number => Math.max(...rangeOf('mse', values, scheme).map(Math.abs));
    const int8 = threshold({ type: 'int8', symmetric: true });
    const reduced = threshold({ type: 'int8', symmetric: true, reduceRange: true });
    const int16 = threshold({ type: 'int16', symmetric: true });
    expect(reduced).toBeLessThan(int8);
    expect(int8).toBeLessThan(int16);
    expect(int16).toBeGreaterThan(0.95 * magnitude);
  });

  it('searches each channel separately, batch by batch', () => {
    const batches = loadObserverBatches('channels');
    const scheme: QuantScheme = { type: 'int8', symmetric: true };
    const observer = createObserver('mse', { axis: 1, scheme });
    for (const batch of batches) observer.observe(batch);
    const range = observer.range();
    expect(range.axis).toBe(1);
    const all = concatenateBatches(batches);
    const [outer, channels, inner] = all.shape as [number, number, number];
    const thresholds: number[] = [];
    for (let channel = 0; channel < channels; channel++) {
      const slice = new Float32Array(outer * inner);
      for (let block = 0; block < outer; block++) slice.set(all.data.subarray((block * channels + channel) * inner, (block * channels + channel + 1) * inner), block * inner);
      const [low, high] = rangeOf('mse', slice, scheme);
      thresholds.push(high);
      // One pass over the channel and three batches differ only in histogram resolution.
      expect(Math.abs(range.max[channel]! - high) / high).toBeLessThan(0.05);
      expect(Math.abs(range.min[channel]! - low) / high).toBeLessThan(0.05);
    }
    // The channels' scales span 0.05 to 8: so must their ranges.
    expect(Math.max(...thresholds) / Math.min(...thresholds)).toBeGreaterThan(50);
  });
});

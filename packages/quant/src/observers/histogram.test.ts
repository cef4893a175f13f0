// The bounded histogram: fixed memory while ranges grow, exact merging of old counts, and observers that give
// (nearly) the same answer batch by batch as in one pass.
import { createRandom } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { concatenateBatches, loadObserverBatches } from '../__fixtures__/observers/observer-reference.js';
import { Histogram, type HistogramObserver } from './histogram.js';
import { createObserver } from './observer.js';

const random = createRandom(20240611);

function uniform(size: number, scale: number): Float32Array {
  return new Float32Array(size).map(() => scale * (2 * random() - 1));
}

function addAll(histogram: Histogram, values: Float32Array): void {
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  histogram.add(values, { channels: 1, inner: values.length, outer: 1 }, 0, min, max);
}

function sum(values: Float64Array): number {
  return values.reduce((total, value) => total + value, 0);
}

describe('Histogram', () => {
  for (const signed of [true, false]) {
    it(`keeps ${signed ? 'a signed' : 'an |x|'} histogram's memory fixed while ranges grow, and merges old counts exactly`, () => {
      const histogram = new Histogram(512, signed);
      const counts = histogram.counts;
      const seen: Float32Array[] = [];
      let magnitude = 0;
      // An all-zero batch first (no width yet), then ranges that grow by uneven factors and shrink.
      for (const scale of [0, 1, 3.3, 10, 0.5, 40, 41, 1000]) {
        const values = uniform(4000, scale);
        for (const value of values) magnitude = Math.max(magnitude, Math.abs(value));
        addAll(histogram, values);
        seen.push(values);
        expect(histogram.counts).toBe(counts);
        expect(histogram.counts.length).toBe(512);
        expect(histogram.total).toBe(4000 * seen.length);
        expect(sum(histogram.counts)).toBe(histogram.total);
        expect(histogram.limit).toBeGreaterThanOrEqual(magnitude);
      }
      expect(histogram.zeros).toBe(4000);
      expect(histogram.counts[histogram.zeroBin]).toBeGreaterThanOrEqual(4000);
      // One pass over everything at the final limit bins every value exactly where the merges put it.
      const direct = new Histogram(512, signed);
      direct.cover(histogram.limit);
      const all = new Float32Array(seen.reduce((total, values) => total + values.length, 0));
      seen.reduce((offset, values) => (all.set(values, offset), offset + values.length), 0);
      addAll(direct, all);
      expect(direct.limit).toBe(histogram.limit);
      expect(Array.from(histogram.counts)).toEqual(Array.from(direct.counts));
      expect(histogram.min).toBe(direct.min);
      expect(histogram.max).toBe(direct.max);
    });
  }

  it('bins like numpy.histogram over [−limit, limit], the maximum in the last bin', () => {
    const histogram = new Histogram(4, true);
    addAll(histogram, Float32Array.of(-2, -1.5, -0.5, 0, 0.25, 1, 2));
    // Edges −2, −1, 0, 1, 2: [−2, −1) holds −2 and −1.5; [−1, 0) −0.5; [0, 1) 0 and 0.25; [1, 2] 1 and 2.
    expect(Array.from(histogram.counts)).toEqual([2, 1, 2, 2]);
    expect([0, 1, 2, 3, 4].map((index) => histogram.edge(index))).toEqual([-2, -1, 0, 1, 2]);
    expect(histogram.zeros).toBe(1);
  });
});

describe('histogram observers batch by batch', () => {
  it('give the percentile of the concatenated data within one bin', () => {
    for (const name of ['gaussian', 'laplace', 'channels']) {
      const batches = loadObserverBatches(name);
      for (const symmetric of [true, false]) {
        const options = { percentile: 99.9, scheme: { type: 'int8' as const, symmetric } };
        const onePass = createObserver('percentile', options) as HistogramObserver;
        onePass.observe(concatenateBatches(batches));
        const batched = createObserver('percentile', options) as HistogramObserver;
        for (const batch of batches) batched.observe(batch);
        // The batches widen, so the batched histogram grew and its bins are coarser.
        expect(batched.histograms[0]!.limit).toBeGreaterThan(onePass.histograms[0]!.limit);
        const width = batched.histograms[0]!.width;
        const [expected, actual] = [onePass.range(), batched.range()];
        expect(Math.abs(actual.min[0]! - expected.min[0]!)).toBeLessThanOrEqual(width);
        expect(Math.abs(actual.max[0]! - expected.max[0]!)).toBeLessThanOrEqual(width);
        expect(batched.histograms[0]!.total).toBe(onePass.histograms[0]!.total);
      }
    }
  });
});

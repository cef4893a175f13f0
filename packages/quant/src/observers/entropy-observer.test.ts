// EntropyObserver against onnxruntime's calibrate.py get_entropy_threshold (with collect_value and
// smooth_distribution), ported to numpy in make-observer-reference.py and run on the same data.
import { Tensor, createRandom } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { concatenateBatches, loadObserverBatches, loadObserverReference } from '../__fixtures__/observers/observer-reference.js';
import { EntropyObserver, entropyThresholdBins } from './entropy-observer.js';
import { Histogram, type HistogramObserver } from './histogram.js';
import { createObserver } from './observer.js';

const reference = loadObserverReference();

describe('EntropyObserver', () => {
  for (const dataset of reference.histograms) {
    const batches = loadObserverBatches(dataset.name);
    const all = concatenateBatches(batches);

    for (const entry of dataset.cases) {
      if (entry.method !== 'entropy') continue;
      it(`matches onnxruntime: ${dataset.name}, ${entry.bins} bins, ${entry.quantizedBins} quantized bins`, () => {
        const observer = createObserver('entropy', { bins: entry.bins, quantizedBins: entry.quantizedBins }) as HistogramObserver;
        observer.observe(all);
        // The same bins as onnxruntime's one pass: the same edges, up to float32 rounding (one bin allowed by the issue).
        const width = observer.histograms[0]!.width;
        const range = observer.range();
        expect(Math.abs(range.min[0]! - entry.range[0])).toBeLessThanOrEqual(0.05 * width);
        expect(Math.abs(range.max[0]! - entry.range[1])).toBeLessThanOrEqual(0.05 * width);
      });
    }

    it(`matches onnxruntime per channel: ${dataset.name}`, () => {
      const { axis, bins, quantizedBins, entropyRanges } = dataset.perChannel;
      const observer = createObserver('entropy', { axis, bins, quantizedBins }) as HistogramObserver;
      observer.observe(all);
      const range = observer.range();
      expect(range.axis).toBe(axis);
      entropyRanges.forEach(([low, high], channel) => {
        const width = observer.histograms[channel]!.width;
        expect(Math.abs(range.min[channel]! - low)).toBeLessThanOrEqual(0.05 * width);
        expect(Math.abs(range.max[channel]! - high)).toBeLessThanOrEqual(0.05 * width);
      });
    });

    it(`batch by batch gives the threshold of one pass over bins of the same width: ${dataset.name}`, () => {
      const batched = createObserver('entropy') as HistogramObserver;
      for (const batch of batches) batched.observe(batch);
      const histogram = batched.histograms[0]!;
      const direct = new Histogram(histogram.bins, true);
      direct.cover(histogram.limit);
      const values = all.data;
      let [min, max] = [Infinity, -Infinity];
      for (const value of values) [min, max] = [Math.min(min, value), Math.max(max, value)];
      direct.add(values, { channels: 1, inner: values.length, outer: 1 }, 0, min, max);
      const [start, end] = entropyThresholdBins(direct.counts, 128);
      const range = batched.range();
      expect(range.min[0]).toBe(Math.fround(Math.max(direct.edge(start), min)));
      expect(range.max[0]).toBe(Math.fround(Math.min(direct.edge(end), max)));
    });
  }

  it('clips rare outliers far from the bulk and keeps the range of data without them', () => {
    const random = createRandom(11);
    const bulk = new Float32Array(200000).map(() => 2 * random() - 1);
    const keep = new EntropyObserver();
    keep.observe(new Tensor('float32', [bulk.length], bulk));
    const kept = keep.range();
    expect(kept.max[0]).toBeGreaterThan(0.95);
    expect(kept.min[0]).toBeLessThan(-0.95);
    const outliers = bulk.slice();
    for (let index = 0; index < 10; index++) outliers[index * 1000] = index % 2 ? 30 : -30;
    const clip = new EntropyObserver();
    clip.observe(new Tensor('float32', [outliers.length], outliers));
    const clipped = clip.range();
    expect(clipped.max[0]).toBeLessThan(5);
    expect(clipped.min[0]).toBeGreaterThan(-5);
  });

  it('uses 2048 bins and onnxruntime 128 quantized bins by default, and checks them', () => {
    const observer = new EntropyObserver();
    expect([observer.bins, observer.quantizedBins]).toEqual([2048, 128]);
    expect(() => new EntropyObserver({ bins: 64, quantizedBins: 128 })).toThrow(/quantizedBins/);
    expect(() => new EntropyObserver({ bins: 255 })).toThrow(/even/);
  });
});

// PercentileObserver against onnxruntime's calibrate.py HistogramCollector (collect_value / collect_absolute_value
// and compute_percentile), ported to numpy in make-observer-reference.py and run on the same data.
import { Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { concatenateBatches, loadObserverBatches, loadObserverReference } from '../__fixtures__/observers/observer-reference.js';
import type { HistogramObserver } from './histogram.js';
import { createObserver } from './observer.js';
import { PercentileObserver } from './percentile-observer.js';

const reference = loadObserverReference();

describe('PercentileObserver', () => {
  for (const dataset of reference.histograms) {
    const batches = loadObserverBatches(dataset.name);
    const all = concatenateBatches(batches);

    for (const entry of dataset.cases) {
      if (entry.method !== 'percentile') continue;
      const kind = entry.symmetric ? 'symmetric (|x|)' : 'asymmetric (both tails)';
      it(`matches onnxruntime: ${dataset.name}, ${kind}, ${entry.percentile}th, ${entry.bins} bins`, () => {
        const options = { bins: entry.bins, percentile: entry.percentile, scheme: { type: 'int8' as const, symmetric: entry.symmetric } };
        // onnxruntime sees all batches in one collect_data call. Fed the same way, this observer builds the same
        // bins (|x| histograms start at 0 here, at min|x| there) and lands on the same edge; fed batch by batch, its
        // bins are wider and the edge may move by up to one bin.
        for (const [feed, tolerance] of [[[all], 0.05], [batches, 1]] as const) {
          const observer = createObserver('percentile', options) as HistogramObserver;
          for (const batch of feed) observer.observe(batch);
          const width = observer.histograms[0]!.width;
          const range = observer.range();
          expect(Math.abs(range.min[0]! - entry.range[0])).toBeLessThanOrEqual(tolerance * width);
          expect(Math.abs(range.max[0]! - entry.range[1])).toBeLessThanOrEqual(tolerance * width);
        }
      });
    }

    it(`matches onnxruntime per channel: ${dataset.name}`, () => {
      const { axis, bins, percentile, percentileRanges } = dataset.perChannel;
      const observer = createObserver('percentile', { axis, bins, percentile }) as HistogramObserver;
      observer.observe(all);
      const range = observer.range();
      expect(range.axis).toBe(axis);
      expect(range.min).toHaveLength(percentileRanges.length);
      percentileRanges.forEach(([low, high], channel) => {
        const width = observer.histograms[channel]!.width;
        expect(Math.abs(range.min[channel]! - low)).toBeLessThanOrEqual(0.05 * width);
        expect(Math.abs(range.max[channel]! - high)).toBeLessThanOrEqual(0.05 * width);
      });
    });
  }

  it('cuts outliers: a 99th percentile range excludes the 0.5% largest magnitudes', () => {
    const values = new Float32Array(10000);
    for (let index = 0; index < values.length; index++) values[index] = ((index % 1000) / 1000) * (index % 2 ? 1 : -1);
    for (let index = 0; index < 20; index++) values[index * 500] = 100 * (index % 2 ? 1 : -1);
    const observer = new PercentileObserver({ percentile: 99, scheme: { type: 'int8', symmetric: true } });
    observer.observe(new Tensor('float32', [values.length], values));
    const range = observer.range();
    expect(range.max[0]).toBeLessThan(1.1);
    expect(range.max[0]).toBeGreaterThan(0.95);
    expect(range.min[0]).toBe(-range.max[0]!);
  });

  it('uses onnxruntime defaults: 2048 bins, 99.999th percentile', () => {
    const observer = new PercentileObserver();
    expect(observer.bins).toBe(2048);
    expect(observer.percentile).toBe(99.999);
    expect(() => new PercentileObserver({ percentile: 0 })).toThrow(/percentile/);
    expect(() => new PercentileObserver({ bins: 7 })).toThrow(/even/);
  });
});

// MinMaxObserver against PyTorch's MinMaxObserver, MovingAverageMinMaxObserver, PerChannelMinMaxObserver and
// MovingAveragePerChannelMinMaxObserver on the same batches (make-observer-reference.py).
import { Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { loadObserverReference, type MinMaxStep } from '../__fixtures__/observers/observer-reference.js';
import { MinMaxObserver } from './minmax-observer.js';
import { createObserver, type ObserverOptions } from './observer.js';

const reference = loadObserverReference();
const batches = reference.minmaxBatches.values.map((values) => new Tensor('float32', reference.minmaxBatches.shape, Float32Array.from(values)));

/** PyTorch computes the moving average in float32; allow a few float32 ulps. */
function expectClose(actual: Float32Array, expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length);
  for (let index = 0; index < expected.length; index++) {
    expect(Math.abs(actual[index]! - expected[index]!)).toBeLessThanOrEqual(4e-7 * Math.max(1, Math.abs(expected[index]!)));
  }
}

function checkSteps(options: ObserverOptions, steps: readonly MinMaxStep[], axis?: number): void {
  const observer = createObserver('minmax', options);
  batches.forEach((batch, index) => {
    observer.observe(batch);
    expect(observer.count).toBe(index + 1);
    const range = observer.range();
    expect(range.axis).toBe(axis);
    expectClose(range.min, steps[index]!.min);
    expectClose(range.max, steps[index]!.max);
  });
}

describe('MinMaxObserver', () => {
  const { steps, averagingConstant, axis } = reference.minmax;

  it('keeps the global min and max, as PyTorch MinMaxObserver', () => {
    checkSteps({}, steps.plain);
    // The batches drift, so the global range keeps widening: the test would catch a range reset per batch.
    expect(steps.plain[3]!.max[0]).toBeGreaterThan(steps.plain[0]!.max[0]!);
  });

  it('follows the moving average of batch extremes, as PyTorch MovingAverageMinMaxObserver', () => {
    checkSteps({ averagingConstant }, steps.movingAverage);
    expect(steps.movingAverage[3]!.max[0]).toBeLessThan(steps.plain[3]!.max[0]!);
  });

  it('uses onnxruntime and PyTorch default constant 0.01 with movingAverage', () => {
    const observer = new MinMaxObserver({ movingAverage: true });
    expect(observer.averagingConstant).toBe(0.01);
    checkSteps({ movingAverage: true }, steps.movingAverageDefault);
  });

  it('keeps per-channel extremes, as PyTorch PerChannelMinMaxObserver', () => {
    checkSteps({ axis }, steps.perChannel, axis);
    expect(steps.perChannel[0]!.min).toHaveLength(reference.minmaxBatches.shape[axis]!);
  });

  it('follows per-channel moving averages, as PyTorch MovingAveragePerChannelMinMaxObserver', () => {
    checkSteps({ axis, averagingConstant }, steps.perChannelMovingAverage, axis);
  });

  it('counts a negative axis from the end and reports the axis as non-negative', () => {
    const observer = createObserver('minmax', { axis: axis - reference.minmaxBatches.shape.length });
    for (const batch of batches) observer.observe(batch);
    const range = observer.range();
    expect(range.axis).toBe(axis);
    expectClose(range.min, steps.perChannel[3]!.min);
  });

  it('counts an empty tensor without changing the range', () => {
    const observer = createObserver('minmax');
    observer.observe(new Tensor('float32', [0, 3]));
    expect(observer.range().min[0]).toBe(0);
    observer.observe(batches[0]!);
    observer.observe(new Tensor('float32', [0, 3]));
    expect(observer.count).toBe(3);
    expectClose(observer.range().min, steps.plain[0]!.min);
  });

  it('rejects an averaging constant outside (0, 1]', () => {
    expect(() => new MinMaxObserver({ averagingConstant: 0 })).toThrow(/averaging constant/);
    expect(() => new MinMaxObserver({ averagingConstant: 1.5 })).toThrow(/averaging constant/);
  });
});

// The Observer contract shared by every method: errors for bad tensors, no state change on a failed call,
// float16/float64 input, and createObserver.
import { ErrorCodes, RazorError, Tensor, float32ToFloat16 } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { OBSERVER_METHODS, createObserver, type ObserverMethod } from './observer.js';

function catchError(action: () => unknown): RazorError {
  try {
    action();
  } catch (error) {
    if (RazorError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a RazorError');
}

const values = Float32Array.from({ length: 48 }, (_, index) => Math.sin(index) * (1 + (index % 5)));
const batch = new Tensor('float32', [2, 4, 6], values);

describe.each(OBSERVER_METHODS.map((method) => [method] as [ObserverMethod]))('%s observer', (method) => {
  it('fails on NaN and infinite values with their count, and records nothing', () => {
    const observer = createObserver(method, { bins: 64 });
    observer.observe(batch);
    const before = observer.range();
    const poisoned = values.slice();
    poisoned[5] = Number.NaN;
    poisoned[7] = Infinity;
    poisoned[40] = -Infinity;
    const error = catchError(() => observer.observe(new Tensor('float32', [2, 4, 6], poisoned)));
    expect(error.code).toBe(ErrorCodes.NON_FINITE);
    expect(error.message).toContain('3 of 48 values');
    expect(error.message).toContain('flat index 5');
    expect(error.message).toMatch(/calibration data or the model/);
    expect(observer.count).toBe(1);
    expect(observer.range()).toEqual(before);
  });

  it('fails on integer tensors, naming the dtype', () => {
    const observer = createObserver(method, {});
    const error = catchError(() => observer.observe(new Tensor('int64', [2, 3])));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_DTYPE);
    expect(error.message).toContain('int64');
    expect(error.message).toContain('[2, 3]');
    expect(catchError(() => observer.observe(new Tensor('int8', [4]))).code).toBe(ErrorCodes.UNSUPPORTED_DTYPE);
    expect(observer.count).toBe(0);
  });

  it('fails per channel when the channel count changes, naming both counts', () => {
    const observer = createObserver(method, { axis: 1, bins: 64 });
    observer.observe(batch);
    const error = catchError(() => observer.observe(new Tensor('float32', [2, 5, 6], new Float32Array(60))));
    expect(error.code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(error.message).toContain('4 channel(s)');
    expect(error.message).toContain('has 5');
    expect(observer.count).toBe(1);
    expect(observer.range().min).toHaveLength(4);
    expect(catchError(() => observer.observe(new Tensor('float32', [6], new Float32Array(6)))).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });

  it('fails when asked for a range before any tensor', () => {
    const error = catchError(() => createObserver(method).range());
    expect(error.code).toBe(ErrorCodes.INVALID_STATE);
  });

  it('reads float16 and float64 tensors as their float values', () => {
    // Values exactly representable in float16.
    const halves = Float32Array.from(values, (value) => Math.round(value * 64) / 64);
    const reference = createObserver(method, { bins: 64 });
    reference.observe(new Tensor('float32', [2, 4, 6], halves));
    const half = createObserver(method, { bins: 64 });
    half.observe(new Tensor('float16', [2, 4, 6], Uint16Array.from(halves, float32ToFloat16)));
    const double = createObserver(method, { bins: 64 });
    double.observe(new Tensor('float64', [2, 4, 6], Float64Array.from(halves)));
    expect(half.range()).toEqual(reference.range());
    expect(double.range()).toEqual(reference.range());
    const range = reference.range();
    expect(range.max[0]).toBeGreaterThan(0);
    expect(range.min[0]).toBeLessThan(0);
  });

  it('returns zeros for tensors that are all zero or empty', () => {
    const observer = createObserver(method, { bins: 64 });
    observer.observe(new Tensor('float32', [0, 4]));
    observer.observe(new Tensor('float32', [3, 4]));
    expect(observer.count).toBe(2);
    expect(observer.range()).toEqual({ min: Float32Array.of(0), max: Float32Array.of(0) });
  });
});

describe('createObserver', () => {
  it('rejects an unknown method, listing the known ones', () => {
    const error = catchError(() => createObserver('kl' as ObserverMethod));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain("'minmax', 'percentile', 'entropy', 'mse'");
  });

  it('rejects a non-integer axis and an axis outside the tensor', () => {
    expect(catchError(() => createObserver('minmax', { axis: 0.5 })).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    const observer = createObserver('percentile', { axis: 3 });
    const error = catchError(() => observer.observe(batch));
    expect(error.code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(error.message).toContain('rank 3');
  });

  it('creates each method with its own class', () => {
    for (const method of OBSERVER_METHODS) expect(createObserver(method).method).toBe(method);
  });
});

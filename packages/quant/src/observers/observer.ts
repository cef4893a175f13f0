/**
 * Observers watch the tensors a float model produces (or its weights) and estimate the real range
 * to quantize: the running min/max, a percentile, the KL-divergence threshold or the range of least
 * squared error. `createObserver` picks one by name.
 */
import { ErrorCodes, fail, type Tensor } from '@razor/core';
import type { QuantScheme, TensorRange } from '../types.js';
import { EntropyObserver } from './entropy-observer.js';
import { MinMaxObserver } from './minmax-observer.js';
import { MseObserver } from './mse-observer.js';
import { PercentileObserver } from './percentile-observer.js';

/** How an observer estimates a range. */
export type ObserverMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';

/** The observer methods, in the order the documentation lists them. */
export const OBSERVER_METHODS: readonly ObserverMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];

/** Settings of an observer; each method reads the ones it needs and ignores the rest. */
export interface ObserverOptions {
  /** Per channel along this axis (negative counts from the end); per tensor when absent. */
  axis?: number;
  /**
   * The scheme the range is for (default int8, asymmetric). Percentile uses a histogram of |x| when
   * symmetric and cuts both tails otherwise; MSE measures the error with this scheme's integer range.
   */
  scheme?: QuantScheme;
  /** Histogram bins (percentile, entropy, mse; default 2048). Fixed: memory never grows. */
  bins?: number;
  /** Entropy: the bins of the quantized distribution, at most `bins` (default 128 as onnxruntime, or `bins` when fewer). */
  quantizedBins?: number;
  /** Percentile: the percentile kept, in (0, 100] (default 99.999, as onnxruntime). */
  percentile?: number;
  /** MinMax: follow a moving average of each batch's min and max instead of the global extremes. */
  movingAverage?: boolean;
  /** MinMax moving-average constant c in (0, 1] (default 0.01); giving it turns the moving average on. */
  averagingConstant?: number;
}

/** Watches tensors and estimates the real range to quantize them with. */
export interface Observer {
  /** How the range is estimated. */
  readonly method: ObserverMethod;
  /** Tensors observed so far. */
  readonly count: number;
  /** The channel axis as given, when per channel. */
  readonly axis?: number;
  /**
   * Records a float tensor (float32, float64, float16, bfloat16). Fails with RAZOR_UNSUPPORTED_DTYPE
   * for other dtypes, RAZOR_SHAPE_MISMATCH when the channel count changes, RAZOR_NON_FINITE for NaN
   * or infinite values; a failed call records nothing.
   */
  observe(tensor: Tensor): void;
  /**
   * The range found so far, per tensor (length 1) or per channel (with `axis` set, non-negative).
   * Fails with RAZOR_INVALID_STATE before the first tensor.
   */
  range(): TensorRange;
}

/** Creates an observer by method name. Fails with RAZOR_INVALID_ARGUMENT for an unknown method or invalid options. */
export function createObserver(method: ObserverMethod, options: ObserverOptions = {}): Observer {
  switch (method) {
    case 'minmax':
      return new MinMaxObserver(options);
    case 'percentile':
      return new PercentileObserver(options);
    case 'entropy':
      return new EntropyObserver(options);
    case 'mse':
      return new MseObserver(options);
    default:
      return fail(ErrorCodes.INVALID_ARGUMENT, `unknown observer method '${String(method)}'; use one of ${OBSERVER_METHODS.map((name) => `'${name}'`).join(', ')}`);
  }
}

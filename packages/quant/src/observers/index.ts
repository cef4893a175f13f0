// Observers: estimate the real range to quantize a tensor with, from the tensors seen in calibration.
export { createObserver, OBSERVER_METHODS } from './observer.js';
export { DEFAULT_OBSERVER_SCHEME, DEFAULT_HISTOGRAM_BINS } from './observer-options.js';
export type { Observer, ObserverMethod, ObserverOptions } from './observer.js';
export { MinMaxObserver, DEFAULT_AVERAGING_CONSTANT } from './minmax-observer.js';
export { Histogram, HistogramObserver } from './histogram.js';
export { PercentileObserver, DEFAULT_PERCENTILE } from './percentile-observer.js';
export { EntropyObserver, DEFAULT_QUANTIZED_BINS } from './entropy-observer.js';
export { MseObserver, QuantizationError } from './mse-observer.js';

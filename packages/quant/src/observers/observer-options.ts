/**
 * Defaults and checks of observer options, apart from observer.ts so the observer classes need only
 * its types.
 */
import { ErrorCodes, fail } from '@razor/core';
import type { QuantScheme } from '../types.js';
import type { ObserverOptions } from './observer.js';

/** The scheme observers assume when none is given: int8, asymmetric (onnxruntime's activation default). */
export const DEFAULT_OBSERVER_SCHEME: Readonly<QuantScheme> = Object.freeze({ type: 'int8', symmetric: false });

/** Default histogram bins of the percentile, entropy and MSE observers. */
export const DEFAULT_HISTOGRAM_BINS = 2048;

/** Checks the options every observer shares. */
export function checkCommonOptions(options: ObserverOptions, who: string): void {
  if (options.axis !== undefined && !Number.isInteger(options.axis)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${who}: axis ${options.axis} is not an integer`);
  }
}

/** Checks a histogram bin count: an integer of at least `minimum`, even for histograms centred on 0. */
export function checkBins(bins: number, minimum: number, even: boolean, who: string): number {
  if (!Number.isInteger(bins) || bins < minimum || (even && bins % 2 !== 0)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${who}: bins must be ${even ? 'an even' : 'an'} integer of at least ${minimum}, got ${bins}`);
  }
  return bins;
}

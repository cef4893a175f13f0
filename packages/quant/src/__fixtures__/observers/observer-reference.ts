// Typed access to the observer reference values (made by make-observer-reference.py next to this file).
import { readFileSync } from 'node:fs';
import { Tensor, decodeNpy } from '@razor/core';
import type { QuantType } from '../../types.js';

export interface QuantParamsCase {
  min: number;
  max: number;
  type: QuantType;
  symmetric: boolean;
  reduceRange: boolean;
  scale: number;
  zeroPoint: number;
}

export interface QuantizeCase {
  type: 'int8' | 'uint8' | 'int16';
  symmetric: boolean;
  axis?: number;
  shape: number[];
  values: number[];
  scale: number[];
  zeroPoint: number[];
  expected: number[];
  torch?: number[];
  torchDiffers?: number[];
}

export interface MinMaxStep {
  min: number[];
  max: number[];
}

export type HistogramCase =
  | { method: 'percentile'; bins: number; percentile: number; symmetric: boolean; range: [number, number] }
  | { method: 'entropy'; bins: number; quantizedBins: number; range: [number, number] };

export interface HistogramReference {
  name: string;
  file: string;
  cases: HistogramCase[];
  perChannel: {
    axis: number;
    bins: number;
    percentile: number;
    quantizedBins: number;
    percentileRanges: [number, number][];
    entropyRanges: [number, number][];
  };
}

export interface ObserverReference {
  seed: number;
  quantParams: QuantParamsCase[];
  quantize: QuantizeCase[];
  minmaxBatches: { shape: number[]; values: number[][] };
  minmax: {
    averagingConstant: number;
    axis: number;
    steps: Record<'plain' | 'movingAverage' | 'movingAverageDefault' | 'perChannel' | 'perChannelMovingAverage', MinMaxStep[]>;
  };
  torchQParams: {
    affineUint8: { min: number; max: number; scale: number; zeroPoint: number };
    symmetricInt8: { min: number; max: number; scale: number; zeroPoint: number; quantMin: number; quantMax: number };
  };
  histograms: HistogramReference[];
}

let cached: ObserverReference | undefined;

/** The reference values of observer-reference.json. */
export function loadObserverReference(): ObserverReference {
  cached ??= JSON.parse(readFileSync(new URL('./observer-reference.json', import.meta.url), 'utf8')) as ObserverReference;
  return cached;
}

/** The calibration batches of a dataset (observer-data-<name>.npy, float32 [batches, ...batch shape]), one tensor each. */
export function loadObserverBatches(name: string): Tensor<'float32'>[] {
  const all = decodeNpy(readFileSync(new URL(`./observer-data-${name}.npy`, import.meta.url)), `observer-data-${name}.npy`);
  const [batches, ...shape] = all.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const data = all.data as Float32Array;
  return Array.from({ length: batches! }, (_, index) => new Tensor('float32', shape, data.slice(index * size, (index + 1) * size)));
}

/** All batches of a dataset concatenated along the first axis, as one tensor. */
export function concatenateBatches(batches: readonly Tensor<'float32'>[]): Tensor<'float32'> {
  const [first] = batches;
  const data = new Float32Array(batches.reduce((sum, batch) => sum + batch.size, 0));
  let offset = 0;
  for (const batch of batches) {
    data.set(batch.data, offset);
    offset += batch.size;
  }
  return new Tensor('float32', [batches.length * first!.shape[0]!, ...first!.shape.slice(1)], data);
}

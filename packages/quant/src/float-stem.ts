/**
 * Latency tooling: which leading layers to leave in float so that the quantized model runs
 * fastest on the backend it was measured on.
 *
 * Integer kernels do not win everywhere. On x86 CPUs without VNNI, onnxruntime's QLinearConv is
 * several times slower than its float convolution on a network's first layers: a one-channel
 * input (an im2col with a handful of columns), narrow depthwise layers, fewer than 16 output
 * channels. Those layers sit at the start of the network, so keeping them in float costs one
 * float→int8 transition where they end; a float layer in the middle would cost two.
 */
import { ErrorCodes, compareLatency, fail, type Backend, type Graph, type SessionOptions } from '@razor/core';
import { planQuantization, type PlanOptions } from './qdq/plan.js';
import type { QuantizeQdqResult } from './qdq/quantize-qdq.js';
import { quantizableNodes, quantizeWith, withExcluded } from './sensitivity.js';
import type { TensorRange } from './types.js';

/** Options of `floatStem`. */
export interface FloatStemOptions extends PlanOptions {
  /** One scale per output channel of each weight (default true, as `quantizeStatic`). */
  perChannel?: boolean;
  /**
   * Calibrated ranges of the prepared graph's activations (`quantizeStatic(...).ranges`, with
   * `calibrateAll: true`: a float layer's neighbours may need ranges the all-int8 plan did not).
   */
  ranges: ReadonlyMap<string, TensorRange>;
  /** Where latency is measured: the backend the model will run on. */
  backend: Backend;
  /** Session options of the measurements (threads). */
  sessionOptions?: Pick<SessionOptions, 'threads'>;
  /**
   * Batch sizes measured (default [1, 32]; a model whose batch axis is fixed is measured at its
   * own size); a candidate's score is the mean of its latency ratios to the all-int8 model.
   */
  batchSizes?: readonly number[];
  /** Most leading quantized layers tried in float (default 4). */
  maxLayers?: number;
  /** Interleaved rounds per batch size (default 8). */
  rounds?: number;
  /**
   * How much faster a stem must measure than the all-int8 model to be chosen, as a fraction
   * (default 0.03): smaller differences are within a shared machine's noise. Among stems that
   * measure within this much of the fastest, the one with the fewest float layers is chosen.
   */
  minGain?: number;
  /** Called after each batch size is measured. */
  onProgress?: (done: number, total: number) => void;
}

/** One measured candidate. */
export interface FloatStemTrial {
  /** The leading layers kept in float. */
  floatNodes: string[];
  /** Median milliseconds per run, by batch size. */
  medianMs: Record<number, number>;
  /** Mean over batch sizes of the median latency relative to the all-int8 model's. */
  score: number;
}

/** What `floatStem` chose. */
export interface FloatStemResult {
  /** The quantized graph with `floatNodes` left in float. */
  result: QuantizeQdqResult;
  floatNodes: string[];
  /** Every candidate, fewest float layers first (the first is the all-int8 model). */
  trials: FloatStemTrial[];
  /** The float graph's median milliseconds per run, by batch size, measured with the candidates. */
  floatMedianMs: Record<number, number>;
}

const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

function inputShapes(graph: Graph, batch: number): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const input of graph.inputs) {
    if (graph.initializers.has(input.name)) continue;
    const shape = input.type?.shape;
    if (shape === undefined || shape.length === 0) fail(ErrorCodes.INVALID_ARGUMENT, `floatStem: input '${input.name}' has no declared shape to batch`);
    shapes[input.name] = shape.map((dim, axis) => {
      if (axis === 0) return batch;
      if (typeof dim !== 'number') fail(ErrorCodes.INVALID_ARGUMENT, `floatStem: input '${input.name}' has the symbolic dimension '${String(dim)}' at axis ${axis}; only the batch axis may be symbolic`);
      return dim;
    });
  }
  return shapes;
}

/**
 * Tries leaving the first 0, 1, …, `maxLayers` quantized weighted layers (Conv, Gemm, MatMul)
 * of `prepared` in float, measures each candidate's latency on `backend` at each batch size
 * (all candidates and the float graph interleaved, so that they see the same machine), and
 * keeps the fastest: the all-int8 model unless a stem is at least `minGain` faster, and the
 * shortest stem within `minGain` of the fastest one. `prepared` must be the graph the
 * ranges were calibrated on (`quantizeStatic(...).prepared`); no calibration runs here.
 */
export async function floatStem(prepared: Graph, options: FloatStemOptions): Promise<FloatStemResult> {
  const requested = options.batchSizes ?? [1, 32];
  const maxLayers = options.maxLayers ?? 4;
  const minGain = options.minGain ?? 0.03;
  if (requested.length === 0 || !requested.every((batch) => Number.isInteger(batch) && batch >= 1)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `floatStem: batchSizes must be positive integers, got [${requested.join(', ')}]`);
  }
  // A model with a fixed batch size is measured at that size only.
  const fixedBatch = prepared.inputs.find((input) => !prepared.initializers.has(input.name))?.type?.shape?.[0];
  const batchSizes = typeof fixedBatch === 'number' ? [fixedBatch] : requested;
  if (!Number.isInteger(maxLayers) || maxLayers < 1) fail(ErrorCodes.INVALID_ARGUMENT, `floatStem: maxLayers must be a positive integer, got ${maxLayers}`);
  if (!(minGain >= 0 && minGain < 1)) fail(ErrorCodes.INVALID_ARGUMENT, `floatStem: minGain must be in [0, 1), got ${minGain}`);
  const layers = quantizableNodes(prepared, options)
    .filter((layer) => WEIGHTED.has(layer.opType))
    .map((layer) => layer.node);
  // Leaving every weighted layer in float is not quantizing: the last one stays int8.
  const stems = Array.from({ length: Math.min(maxLayers, Math.max(0, layers.length - 1)) + 1 }, (_, count) => layers.slice(0, count));
  for (const floatNodes of stems) {
    const missing = planQuantization(prepared, { ...options, exclude: withExcluded(options, floatNodes) }).activationsToCalibrate.filter((value) => !options.ranges.has(value));
    if (missing.length > 0) {
      fail(
        ErrorCodes.INVALID_ARGUMENT,
        `floatStem: with ${floatNodes.join(', ')} in float, activation${missing.length > 1 ? 's' : ''} ${missing.map((value) => `'${value}'`).join(', ')} need${missing.length > 1 ? '' : 's'} a range the calibration did not record; quantize with calibrateAll: true`,
      );
    }
  }
  const candidates = stems.map((floatNodes) => ({ floatNodes, result: quantizeWith(prepared, options, floatNodes) }));
  const medians = candidates.map(() => ({}) as Record<number, number>);
  const floatMedianMs: Record<number, number> = {};
  if (candidates.length > 1) {
    for (const [position, batch] of batchSizes.entries()) {
      // The float graph runs along as the reference a user compares with.
      const measured = await compareLatency(
        [...candidates.map((candidate) => candidate.result.graph), prepared],
        options.backend,
        {
          inputShapes: inputShapes(prepared, batch),
          rounds: options.rounds ?? 8,
          runsPerRound: batch === 1 ? 20 : 3,
          ...(options.sessionOptions?.threads === undefined ? {} : { threads: options.sessionOptions.threads }),
        },
      );
      measured.slice(0, candidates.length).forEach((latency, index) => (medians[index]![batch] = latency.medianMs));
      floatMedianMs[batch] = measured[candidates.length]!.medianMs;
      options.onProgress?.(position + 1, batchSizes.length);
    }
  }
  const trials: FloatStemTrial[] = candidates.map((candidate, index) => ({
    floatNodes: candidate.floatNodes,
    medianMs: medians[index]!,
    score: candidates.length > 1 ? batchSizes.reduce((sum, batch) => sum + medians[index]![batch]! / medians[0]![batch]!, 0) / batchSizes.length : 1,
  }));
  const fastest = Math.min(...trials.map((trial) => trial.score));
  // The fewest float layers among the stems as fast as the fastest, give or take minGain.
  let chosen = 0;
  if (fastest <= 1 - minGain) chosen = trials.findIndex((trial) => trial.score <= Math.min(fastest + minGain, 1 - minGain));
  return { result: candidates[chosen]!.result, floatNodes: candidates[chosen]!.floatNodes, trials, floatMedianMs };
}

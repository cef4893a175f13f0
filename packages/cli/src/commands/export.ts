import { stat } from 'node:fs/promises';
import { saveOnnx } from '@razor/core';
import { createModel, listModels, toGraph, type CreateModelOptions } from '@razor/ops';
import { parseInteger, parsePositiveNumber, singlePositional, parseCommandArguments } from '../arguments.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatBytes, formatCount, formatShape } from '../format-units.js';
import { UsageError } from '../usage-error.js';

const help = `Usage: razor export <zoo-model> --out <model.onnx> [options]

Builds a model of the @razor/ops zoo (see 'razor zoo') with seeded weights and writes
it as an ONNX file (inference form: BatchNormalization in eval mode).

Options:
  --out FILE            the ONNX file to write (required)
  --input-size N        height and width of the input image (default: the model's own)
  --input-channels N    channels of the input image (default: 3; lenet5: 1)
  --num-classes N       classifier outputs (default: 1000 for ImageNet models, 10 for CIFAR/MNIST ones)
  --width W             width multiplier, for models that have one (mobilenet_v2, shufflenet_v2)
  --batch N|symbolic    the batch dimension: a size (default 1), or 'symbolic' for a named
                        dimension 'N' that any batch size fits
  --seed N              seed of the weights (default 0)
  --opset N             default-domain opset, 14 to 17 (default 17)
  -h, --help            show this help

Examples:
  razor export resnet20 --out resnet20.onnx
  razor export mobilenet_v2 --out mbv2.onnx --input-size 160 --num-classes 100 --width 0.5 --batch symbolic
`;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('export', argv, {
    out: { type: 'string', short: 'o' },
    'input-size': { type: 'string' },
    'input-channels': { type: 'string' },
    'num-classes': { type: 'string' },
    width: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    opset: { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  const name = singlePositional(positionals, `zoo model name (one of: ${listModels().join(', ')})`, 'export');
  if (values.out === undefined) throw new UsageError('missing --out FILE, the ONNX file to write', 'export');
  const options: CreateModelOptions = {};
  if (values['input-size'] !== undefined) options.inputSize = parseInteger(values['input-size'], '--input-size', 'export');
  if (values['input-channels'] !== undefined) options.inputChannels = parseInteger(values['input-channels'], '--input-channels', 'export');
  if (values['num-classes'] !== undefined) options.numClasses = parseInteger(values['num-classes'], '--num-classes', 'export');
  if (values.width !== undefined) options.widthMultiplier = parsePositiveNumber(values.width, '--width', 'export');
  if (values.seed !== undefined) options.seed = parseInteger(values.seed, '--seed', 'export', Number.MIN_SAFE_INTEGER);
  let batch: number | string = 1;
  if (values.batch !== undefined) batch = values.batch === 'symbolic' ? 'N' : parseInteger(values.batch, '--batch', 'export');
  const opset = values.opset === undefined ? undefined : parseInteger(values.opset, '--opset', 'export');

  const model = createModel(name, options);
  const graph = toGraph(model, { inputShape: model.inputShape, batch, ...(opset === undefined ? {} : { opset }) });
  graph.model.producerName = 'razor';
  graph.model.docString = `razor zoo model ${name} ${JSON.stringify(options)}`;
  await saveOnnx(graph, values.out);
  const size = (await stat(values.out)).size;
  const input = graph.inputs[0]!;
  const output = graph.outputs[0]!;
  io.stdout.write(
    `wrote ${values.out} (${formatBytes(size)}): ${name}, ${formatCount(model.numParameters())} parameters, ` +
      `input '${input.name}' ${formatShape(input.type?.shape)}, output '${output.name}' ${formatShape(output.type?.shape)}\n`,
  );
  return 0;
}

/** `razor export`: a zoo model as an ONNX file. */
export const exportCommand: Command = { name: 'export', summary: 'write a zoo model as an ONNX file', help, run };

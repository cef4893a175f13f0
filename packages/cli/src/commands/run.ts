import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ErrorCodes,
  fail,
  feedInputs,
  readNamedTensorFile,
  writeTensorFile,
  type Graph,
  type Tensor,
  type ValueInfo,
} from '@razor/core';
import { parseInteger, singlePositional, parseCommandArguments } from '../arguments.js';
import { openBackendSession } from '../backend-session.js';
import { tensorChecksum, type TensorChecksum } from '../checksum.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatMilliseconds, formatShape } from '../format-units.js';
import { loadModelFile } from '../load-model.js';
import { dimsFromFeeds, randomFeeds } from '../model-inputs.js';
import { renderTable } from '../table.js';
import { UsageError } from '../usage-error.js';

const help = `Usage: razor run <model.onnx> [options]

Runs a model once and prints each output's name, dtype, shape and checksum.

Inputs come from tensor files (--input), or are random: seeded values of each input's
shape and dtype (floats uniform in [-1, 1), integers 0 or 1, booleans 0/1), with every
symbolic dimension set to 1 (or to its size in the files given for other inputs).

Checksum: 'sum' is the sum of all elements in float64 and 'mean|x|' the mean absolute
value (compare these across backends with a tolerance); 'hash' is FNV-1a (32 bit) of the
raw little-endian element bytes (equal only when every bit is equal). NaNs are left out
of sum and mean|x| and counted.

Options:
  --input NAME=FILE   a model input from a .pb (ONNX TensorProto) or .npy file; repeat
                      for several inputs. Inputs not given are random.
  --backend NAME      the backend to run on: onnxruntime (default), tfjs or tfjs-wasm
  --threads N         intra-op threads (default: the backend's default)
  --seed N            seed of the random inputs (default 0)
  --output-dir DIR    also write each output to DIR as <name>.pb (or .npy, see --format)
  --format pb|npy     file format for --output-dir (default pb)
  --json              print one JSON object instead of the table
  -h, --help          show this help

Examples:
  razor run resnet20.onnx
  razor run model.onnx --input input=input_0.pb --output-dir out
  razor run model.onnx --input image=cat.npy --input mask=mask.npy --format npy --output-dir out
`;

/** One `--input NAME=FILE`. */
interface InputArgument {
  name: string;
  file: string;
}

function parseInputArgument(text: string): InputArgument {
  const separator = text.indexOf('=');
  if (separator <= 0 || separator === text.length - 1) {
    throw new UsageError(`--input expects NAME=FILE (a model input name and a .pb or .npy file), got '${text}'`, 'run');
  }
  return { name: text.slice(0, separator), file: text.slice(separator + 1) };
}

/** Checks a tensor from a file against the model input it feeds. */
function checkFeed(input: ValueInfo, tensor: Tensor, file: string): void {
  const type = input.type;
  if (type === undefined) return;
  if (type.dtype !== tensor.dtype) {
    fail(ErrorCodes.INVALID_FEED, `${file}: model input '${input.name}' is ${type.dtype} but the file holds ${tensor.dtype}`);
  }
  const shape = type.shape;
  if (shape === undefined) return;
  const mismatch =
    shape.length !== tensor.shape.length || shape.some((dim, axis) => typeof dim === 'number' && dim !== tensor.shape[axis]);
  if (mismatch) {
    fail(
      ErrorCodes.INVALID_FEED,
      `${file}: model input '${input.name}' has shape ${formatShape(shape)} but the file holds ${formatShape(tensor.shape)}`,
    );
  }
}

/** A file name for an output value: characters unsafe in paths become '_'. */
export function outputFileName(name: string, format: 'pb' | 'npy'): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return `${safe === '' ? 'output' : safe}.${format}`;
}

interface InputReport {
  name: string;
  dtype: string;
  shape: readonly number[];
  source: string;
}

interface OutputReport extends TensorChecksum {
  name: string;
  dtype: string;
  shape: readonly number[];
  file?: string;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('run', argv, {
    input: { type: 'string', short: 'i', multiple: true },
    backend: { type: 'string' },
    threads: { type: 'string' },
    seed: { type: 'string' },
    'output-dir': { type: 'string' },
    format: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  const modelPath = singlePositional(positionals, 'model file (.onnx)', 'run');
  const inputArguments = (values.input ?? []).map(parseInputArgument);
  const threads = values.threads === undefined ? undefined : parseInteger(values.threads, '--threads', 'run');
  const seed = values.seed === undefined ? 0 : parseInteger(values.seed, '--seed', 'run', 0);
  const format = values.format ?? 'pb';
  if (format !== 'pb' && format !== 'npy') throw new UsageError(`--format must be pb or npy, got '${format}'`, 'run');
  if (values.format !== undefined && values['output-dir'] === undefined) {
    throw new UsageError('--format chooses the file format of --output-dir; give --output-dir DIR too', 'run');
  }

  const graph: Graph = await loadModelFile(modelPath);
  const inputs = feedInputs(graph);
  const feeds: Record<string, Tensor> = {};
  const inputReports: InputReport[] = [];
  const seen = new Set<string>();
  for (const argument of inputArguments) {
    const input = inputs.find((entry) => entry.name === argument.name);
    if (input === undefined) {
      fail(
        ErrorCodes.INVALID_FEED,
        `${modelPath} has no input '${argument.name}'; its inputs are ${inputs.map((entry) => `'${entry.name}'`).join(', ') || 'none'}`,
      );
    }
    if (seen.has(argument.name)) throw new UsageError(`--input '${argument.name}' is given twice`, 'run');
    seen.add(argument.name);
    const { tensor } = await readNamedTensorFile(argument.file);
    checkFeed(input, tensor, argument.file);
    feeds[argument.name] = tensor;
    inputReports.push({ name: argument.name, dtype: tensor.dtype, shape: tensor.shape, source: argument.file });
  }
  const missing = inputs.filter((input) => !(input.name in feeds));
  if (missing.length > 0) {
    const random = randomFeeds(graph, missing, seed, dimsFromFeeds(inputs, feeds));
    for (const input of missing) {
      const tensor = random.feeds[input.name]!;
      feeds[input.name] = tensor;
      inputReports.push({ name: input.name, dtype: tensor.dtype, shape: tensor.shape, source: `random (seed ${seed})` });
    }
    if (random.symbolicDims.length > 0) {
      io.stderr.write(`note: symbolic dimensions set to 1 for the random inputs: ${random.symbolicDims.join(', ')}\n`);
    }
  }

  const { session, backendName, release } = await openBackendSession(graph, values.backend, threads);
  let outputs: Record<string, Tensor>;
  let milliseconds: number;
  try {
    const start = performance.now();
    outputs = await session.run(feeds);
    milliseconds = performance.now() - start;
  } finally {
    await release();
  }

  const outputReports: OutputReport[] = [];
  const outputDirectory = values['output-dir'];
  if (outputDirectory !== undefined) {
    try {
      await mkdir(outputDirectory, { recursive: true });
    } catch (error) {
      fail(ErrorCodes.WRITE_FAILED, `cannot create the output directory '${outputDirectory}': ${(error as Error).message}`, error);
    }
  }
  const usedFiles = new Set<string>();
  for (const name of session.outputNames) {
    const tensor = outputs[name];
    if (tensor === undefined) continue;
    const report: OutputReport = { name, dtype: tensor.dtype, shape: tensor.shape, ...tensorChecksum(tensor) };
    if (outputDirectory !== undefined) {
      let file = outputFileName(name, format);
      for (let suffix = 1; usedFiles.has(file); suffix++) file = outputFileName(`${name}_${suffix}`, format);
      usedFiles.add(file);
      report.file = join(outputDirectory, file);
      await writeTensorFile(report.file, tensor, name);
    }
    outputReports.push(report);
  }

  if (values.json) {
    io.stdout.write(
      `${JSON.stringify({ model: modelPath, backend: backendName, runMs: milliseconds, inputs: inputReports, outputs: outputReports })}\n`,
    );
    return 0;
  }
  io.stdout.write(`${modelPath} on ${backendName}: first run took ${formatMilliseconds(milliseconds)} (see 'razor inspect' for latency)\n\n`);
  io.stdout.write(
    `${renderTable(
      [{ title: 'input' }, { title: 'dtype' }, { title: 'shape' }, { title: 'from' }],
      inputReports.map((input) => [input.name, input.dtype, formatShape(input.shape), input.source]),
    )}\n\n`,
  );
  const columns = [
    { title: 'output' },
    { title: 'dtype' },
    { title: 'shape' },
    { title: 'sum', align: 'right' as const },
    { title: 'mean|x|', align: 'right' as const },
    { title: 'hash' },
  ];
  if (outputDirectory !== undefined) columns.push({ title: 'file' });
  io.stdout.write(
    `${renderTable(
      columns,
      outputReports.map((output) => [
        output.name,
        output.dtype,
        formatShape(output.shape),
        formatNumber(output.sum),
        formatNumber(output.meanAbs),
        output.hash,
        ...(output.file === undefined ? [] : [output.file]),
      ]),
    )}\n`,
  );
  const withNaN = outputReports.filter((output) => output.nanCount > 0);
  for (const output of withNaN) io.stdout.write(`note: output '${output.name}' has ${output.nanCount} NaN values\n`);
  return 0;
}

/** Eight significant digits: enough to compare runs, short enough to read. */
function formatNumber(value: number): string {
  return Number.isInteger(value) && Math.abs(value) < 1e15 ? String(value) : value.toPrecision(8);
}

/** `razor run`: one run of a model, with checksums of its outputs. */
export const runCommand: Command = { name: 'run', summary: 'run a model once and print output checksums', help, run };

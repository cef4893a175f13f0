import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNamedTensorFile, readTensorFile } from '@razor/core';
import { afterAll, describe, expect, it } from 'vitest';
import { tensorChecksum } from './checksum.js';
import { commands, reportError } from './main.js';
import { RazorError } from '@razor/core';
import { razor } from './__fixtures__/run-razor.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const models = join(root, 'packages/core/src/__fixtures__/models');
const scratch = mkdtempSync(join(tmpdir(), 'razor-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs bin.ts as a user would, through tsx with the source condition. */
function spawnRazor(...argv: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--conditions=@razor/source', '--import', 'tsx', join(here, 'bin.ts'), ...argv], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The one-line error contract: a single line, `razor: ` first, no stack frames. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^razor: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('razor (the program)', () => {
  it('prints help and its version', async () => {
    const help = await razor('--help');
    expect(help.code).toBe(0);
    for (const command of ['inspect', 'run', 'zoo', 'export']) expect(help.stdout).toContain(`  ${command} `);
    const version = await razor('--version');
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(here, '../package.json'), 'utf8')).version);
    const bare = await razor();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: razor <command>');
    for (const command of ['inspect', 'run', 'zoo', 'export']) {
      const commandHelp = await razor(command, '--help');
      expect(commandHelp.code).toBe(0);
      expect(commandHelp.stdout).toContain(`Usage: razor ${command}`);
      expect((await razor('help', command)).stdout).toBe(commandHelp.stdout);
    }
  });

  it('rejects an unknown command or option with exit code 2 and one line', async () => {
    const unknown = await razor('compress', 'x.onnx');
    expect(unknown.code).toBe(2);
    expect(commands.map((command) => command.name)).toEqual(['inspect', 'run', 'zoo', 'export', 'optimize', 'train', 'quantize', 'bench']);
    expectOneLineError(unknown.stderr, new RegExp(`unknown command 'compress'; commands: ${commands.map((command) => command.name).join(', ')} \\(see 'razor --help'\\)`));
    const option = await razor('zoo', '--colour');
    expect(option.code).toBe(2);
    expectOneLineError(option.stderr, /Unknown option '--colour'.*\(see 'razor zoo --help'\)/);
    const threads = await razor('run', 'model.onnx', '--threads', 'two');
    expect(threads.code).toBe(2);
    expectOneLineError(threads.stderr, /--threads must be a whole number of at least 1, got 'two'/);
  });

  it('prints unexpected errors as one line with a hint, and their stack only with --debug', () => {
    let stderr = '';
    const io = { stdout: { write: () => undefined }, stderr: { write: (text: string) => (stderr += text) } };
    const error = new TypeError("Cannot read properties of undefined (reading 'shape')");
    expect(reportError(error, io)).toBe(1);
    expectOneLineError(stderr, /^razor: unexpected error: TypeError: Cannot read properties of undefined \(reading 'shape'\) \(rerun with --debug for the stack trace\)$/);
    stderr = '';
    expect(reportError(error, io, true)).toBe(1);
    expect(stderr).toMatch(/^razor: unexpected error: TypeError: .*\n.*\n\s+at /);
    stderr = '';
    // A multi-line RazorError (one reason per backend) still prints as one line.
    expect(reportError(new RazorError('RAZOR_BACKEND_UNAVAILABLE', 'no backend could be initialised:\n  a: broken\n  b: missing'), io)).toBe(1);
    expectOneLineError(stderr, /^razor: no backend could be initialised: a: broken; b: missing \[RAZOR_BACKEND_UNAVAILABLE\]$/);
  });

  it('runs as a program: exit codes and one-line errors from bin.ts', () => {
    const version = spawnRazor('--version');
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const unknown = spawnRazor('frobnicate');
    expect(unknown.code).toBe(2);
    expectOneLineError(unknown.stderr, /unknown command 'frobnicate'/);
    const missing = spawnRazor('inspect', join(scratch, 'absent.onnx'));
    expect(missing.code).toBe(1);
    expectOneLineError(missing.stderr, /cannot read ONNX model '.*absent\.onnx': it does not exist \[RAZOR_FILE_NOT_FOUND\]$/);
    expect(missing.stdout).toBe('');
  });
});

describe('razor zoo and export', () => {
  it('lists the zoo', async () => {
    const { code, stdout } = await razor('zoo', '--json');
    expect(code).toBe(0);
    const names = (JSON.parse(stdout) as { name: string }[]).map((entry) => entry.name);
    expect(names).toEqual(expect.arrayContaining(['lenet5', 'resnet20', 'resnet18', 'mobilenet_v2']));
    expect((await razor('zoo')).stdout).toMatch(/^model\s+description\n/);
  });

  it('refuses unknown models and bad options', async () => {
    const unknown = await razor('export', 'resnet9000', '--out', join(scratch, 'x.onnx'));
    expect(unknown.code).toBe(1);
    expectOneLineError(unknown.stderr, /unknown model 'resnet9000'; valid models: .*resnet20.* \[RAZOR_UNKNOWN_MODEL\]$/);
    const noOut = await razor('export', 'resnet20');
    expect(noOut.code).toBe(2);
    expectOneLineError(noOut.stderr, /missing --out FILE/);
    const batch = await razor('export', 'resnet20', '--out', join(scratch, 'x.onnx'), '--batch', 'many');
    expect(batch.code).toBe(2);
    expectOneLineError(batch.stderr, /--batch must be a whole number of at least 1, got 'many'/);
  });
});

describe('razor run: bad input', () => {
  const model = join(models, 'small-cnn-bn-preserved.onnx');

  it('names a missing or corrupt model file', async () => {
    const missing = await razor('run', join(scratch, 'nothing.onnx'));
    expect(missing.code).toBe(1);
    expectOneLineError(missing.stderr, /nothing\.onnx': it does not exist \[RAZOR_FILE_NOT_FOUND\]$/);
    const corrupt = join(scratch, 'corrupt.onnx');
    writeFileSync(corrupt, readFileSync(model).subarray(0, 1000));
    const result = await razor('run', corrupt);
    expect(result.code).toBe(1);
    expectOneLineError(result.stderr, /corrupt\.onnx' is not a valid ONNX model.*\[RAZOR_INVALID_ONNX\]$/);
    const text = join(scratch, 'text.onnx');
    writeFileSync(text, 'this is not a model\n');
    expectOneLineError((await razor('inspect', text)).stderr, /\[RAZOR_INVALID_ONNX\]$/);
  });

  it('rejects --input without NAME=FILE, unknown input names and mismatched tensors', async () => {
    const syntax = await razor('run', model, '--input', 'input_0.pb');
    expect(syntax.code).toBe(2);
    expectOneLineError(syntax.stderr, /--input expects NAME=FILE .*got 'input_0\.pb' \(see 'razor run --help'\)$/);
    const name = await razor('run', model, '--input', `image=${join(models, 'small-cnn-bn-preserved.input_0.pb')}`);
    expect(name.code).toBe(1);
    expectOneLineError(name.stderr, /has no input 'image'; its inputs are 'input' \[RAZOR_INVALID_FEED\]$/);
    const shape = await razor('run', model, '--input', `input=${join(models, 'residual-block.input_0.pb')}`);
    expect(shape.code).toBe(1);
    expectOneLineError(shape.stderr, /model input 'input' has shape \[2, 3, 8, 8\] but the file holds \[1, 3, 8, 8\] \[RAZOR_INVALID_FEED\]$/);
    const file = await razor('run', model, '--input', `input=${join(scratch, 'absent.npy')}`);
    expect(file.code).toBe(1);
    expectOneLineError(file.stderr, /absent\.npy: cannot read the tensor file \(no such file\) \[RAZOR_FILE_NOT_FOUND\]$/);
  });
});

interface InspectJson {
  params: number;
  macs: number;
  nodes: { name: string; opType: string; outputShape: unknown; params: number; macs: number; macsShare: number }[];
  inputs: { name: string; dtype: string; shape: unknown[] }[];
  outputs: { name: string; dtype: string; shape: unknown[] }[];
  opHistogram: Record<string, number>;
  opsetImports: Record<string, number>;
  latencyMs: number | null;
  latency: { runs: number; threads: number | null } | null;
  activationBytes: number;
  peakActivationBytes: number;
}

interface ModelManifest {
  models: { name: string; model: string; torchParameters: number; opTypes: string[]; inputs: { name: string; shape: number[]; file: string }[]; outputs: { name: string; shape: number[]; file: string }[] }[];
}
const manifest = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8')) as ModelManifest;
const fixture = (name: string) => manifest.models.find((entry) => entry.name === name)!;

describe('razor inspect', () => {
  it('reports the PyTorch parameter count, nodes and I/O of a fixture as one JSON object, with latency', async () => {
    const entry = fixture('small-cnn-bn-preserved');
    const { code, stdout, stderr } = await razor('inspect', join(models, entry.model), '--json', '--threads', '1', '--runs', '3');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(stdout) as InspectJson;
    // BatchNormalization's scale and bias are parameters, its running statistics are not: PyTorch's count.
    expect(report.params).toBe(entry.torchParameters);
    expect(report.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: [2, 3, 8, 8] }]);
    expect(report.outputs).toEqual([{ name: 'logits', dtype: 'float32', shape: [2, 10] }]);
    expect(report.opsetImports['ai.onnx']).toBe(13);
    expect(Object.keys(report.opHistogram).sort()).toEqual(entry.opTypes);
    expect(report.nodes.reduce((sum, node) => sum + node.macs, 0)).toBe(report.macs);
    expect(report.nodes.reduce((sum, node) => sum + node.params, 0)).toBe(report.params);
    expect(report.nodes.reduce((sum, node) => sum + node.macsShare, 0)).toBeCloseTo(1, 10);
    expect(report.macs).toBeGreaterThan(0);
    expect(report.latencyMs).toBeGreaterThan(0);
    expect(report.latency).toMatchObject({ runs: 3, threads: 1 });
    expect(report.peakActivationBytes).toBeGreaterThanOrEqual(2 * 3 * 8 * 8 * 4);
  });

  it('gives torchvision ResNet-18 its published 11.69M parameters and 1.82G MACs', async () => {
    const path = join(models, 'torchvision-resnet18-zeros.onnx.gz');
    const json = await razor('inspect', path, '--json', '--no-latency');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as InspectJson;
    expect(report.params).toBe(11_689_512);
    expect(report.macs / 1e9).toBeCloseTo(1.82, 2);
    expect(report.latencyMs).toBeNull();
    expect(report.latency).toBeNull();
    const text = await razor('inspect', path, '--no-latency');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^parameters\s+11\.69M \(11,689,512;/m);
    expect(text.stdout).toMatch(/^MACs\s+1\.82G at batch 1/m);
    expect(text.stdout).toContain('latency      not measured (--no-latency)');
    // More than 40 nodes: the 30 with the most MACs, and a note.
    expect(text.stdout).toMatch(/layers \(the 30 of \d+ nodes with the most MACs; --layers all shows every node\)/);
    const table = text.stdout.slice(text.stdout.indexOf('layers ('));
    expect(table.trim().split('\n')).toHaveLength(1 + 2 + 30);
    expect(table).toMatch(/^node\s+op\s+output shape\s+params\s+MACs\s+share$/m);
    // conv1: 64x3x7x7 weights on a 112x112 output = 118.01M MACs, 6.5% of the model.
    expect(table).toMatch(/\bConv\s+\[1, 64, 112, 112\]\s+9\.41K\s+118\.01M\s+6\.5%/);
  });

  it('fails with one line naming the backend when the backend does not exist, after printing the figures', async () => {
    const result = await razor('inspect', join(models, 'residual-block.onnx'), '--backend', 'no-such-engine');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^parameters\s+2\.71K/m);
    expectOneLineError(result.stderr, /latency not measured: .*no-such-engine: not registered \(registered: onnxruntime\).*\[RAZOR_BACKEND_UNAVAILABLE\]/);
  });
});

describe('razor run', () => {
  it('reproduces the PyTorch output of a fixture from its .pb input', async () => {
    const entry = fixture('small-cnn-bn-preserved');
    const outputDirectory = join(scratch, 'run-small-cnn');
    const { code, stdout, stderr } = await razor(
      'run',
      join(models, entry.model),
      '--input',
      `input=${join(models, entry.inputs[0]!.file)}`,
      '--output-dir',
      outputDirectory,
      '--json',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { backend: string; outputs: { name: string; shape: number[]; sum: number; meanAbs: number; file: string }[] };
    expect(report.backend).toBe('onnxruntime');
    const expected = await readTensorFile(join(models, entry.outputs[0]!.file));
    const checksum = tensorChecksum(expected);
    const [output] = report.outputs;
    expect(output).toMatchObject({ name: 'logits', shape: [2, 10], file: join(outputDirectory, 'logits.pb') });
    expect(Math.abs(output!.sum - checksum.sum)).toBeLessThan(1e-4);
    expect(Math.abs(output!.meanAbs - checksum.meanAbs)).toBeLessThan(1e-5);
    // The written output matches PyTorch element by element.
    const written = await readNamedTensorFile(output!.file);
    expect(written.name).toBe('logits');
    const actual = written.tensor.toFloat32();
    const reference = expected.toFloat32();
    for (let index = 0; index < reference.length; index++) expect(Math.abs(actual[index]! - reference[index]!)).toBeLessThan(1e-4);
  });

  it.each(['tfjs', 'tfjs-wasm'])('reproduces the PyTorch output of a fixture on --backend %s', async (backend) => {
    const entry = fixture('residual-block');
    const { code, stdout, stderr } = await razor('run', join(models, entry.model), '--input', `input=${join(models, entry.inputs[0]!.file)}`, '--backend', backend, '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { backend: string; outputs: { sum: number; meanAbs: number }[] };
    expect(report.backend).toBe(backend);
    const checksum = tensorChecksum(await readTensorFile(join(models, entry.outputs[0]!.file)));
    expect(Math.abs(report.outputs[0]!.sum - checksum.sum)).toBeLessThan(1e-3);
    expect(Math.abs(report.outputs[0]!.meanAbs - checksum.meanAbs)).toBeLessThan(1e-5);
  });

  it('runs on seeded random inputs, setting symbolic dimensions to 1 and saying so', async () => {
    const model = join(models, 'dynamic-batch.onnx');
    const first = await razor('run', model, '--json', '--seed', '7');
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/^note: symbolic dimensions set to 1 for the random inputs: \S+\n$/);
    const report = JSON.parse(first.stdout) as { inputs: { shape: number[]; source: string }[]; outputs: { shape: number[]; hash: string; sum: number }[] };
    expect(report.inputs[0]).toMatchObject({ shape: [1, 1, 8, 8], source: 'random (seed 7)' });
    expect(report.outputs[0]!.shape).toEqual([1, 5]);
    const again = JSON.parse((await razor('run', model, '--json', '--seed', '7')).stdout) as typeof report;
    expect(again.outputs[0]!.hash).toBe(report.outputs[0]!.hash);
    const other = JSON.parse((await razor('run', model, '--json', '--seed', '8')).stdout) as typeof report;
    expect(other.outputs[0]!.hash).not.toBe(report.outputs[0]!.hash);
  });

  it('takes a symbolic batch from a given file, prints a table and writes .npy outputs', async () => {
    const entry = fixture('dynamic-batch');
    const outputDirectory = join(scratch, 'run-npy');
    const result = await razor('run', join(models, entry.model), '--input', `input=${join(models, entry.inputs[0]!.file)}`, '--output-dir', outputDirectory, '--format', 'npy');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^output\s+dtype\s+shape\s+sum\s+mean\|x\|\s+hash\s+file$/m);
    expect(result.stdout).toMatch(/^logits\s+float32\s+\[3, 5\]\s/m);
    const written = await readTensorFile(join(outputDirectory, 'logits.npy'));
    const expected = (await readTensorFile(join(models, entry.outputs[0]!.file))).toFloat32();
    expect(written.shape).toEqual([3, 5]);
    const actual = written.toFloat32();
    for (let index = 0; index < expected.length; index++) expect(Math.abs(actual[index]! - expected[index]!)).toBeLessThan(1e-4);
  });
});

it('razor run fills the inputs not given with random tensors', async () => {
  const entry = fixture('matrix-reduce');
  const x = entry.inputs.find((input) => input.name === 'x')!;
  const result = await razor('run', join(models, entry.model), '--input', `x=${join(models, x.file)}`, '--json', '--seed', '3');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const report = JSON.parse(result.stdout) as { inputs: { name: string; shape: number[]; source: string }[]; outputs: { name: string }[] };
  expect(report.inputs).toEqual([
    { name: 'x', dtype: 'float32', shape: [2, 4, 6], source: join(models, x.file) },
    { name: 'y', dtype: 'float32', shape: [2, 4, 6], source: 'random (seed 3)' },
  ]);
  expect(report.outputs.map((output) => output.name)).toEqual(entry.outputs.map((output) => output.name));
});

describe('the README job: export, inspect, run', () => {
  it('exports resnet20, inspects it and runs it', async () => {
    const path = join(scratch, 'resnet20.onnx');
    const exported = await razor('export', 'resnet20', '--out', path);
    expect(exported.stderr).toBe('');
    expect(exported.stdout).toMatch(/^wrote .*resnet20\.onnx \([\d.]+ [kM]B\): resnet20, 269\.72K parameters, input 'input' \[1, 3, 32, 32\], output 'output' \[1, 10\]\n$/);
    const inspected = JSON.parse((await razor('inspect', path, '--json', '--runs', '2')).stdout) as InspectJson;
    // CIFAR ResNet-20 (He et al. 2016, option A shortcuts): 0.27M parameters (269,722), 41M MACs.
    expect(inspected.params).toBe(269_722);
    expect(inspected.macs / 1e6).toBeCloseTo(40.6, 0);
    expect(inspected.latencyMs).toBeGreaterThan(0);
    const ran = await razor('run', path);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^output\s+float32\s+\[1, 10\]\s+-?[\d.e+-]+\s+[\d.e+-]+\s+[0-9a-f]{8}$/m);
  });

  it('exports a symbolic batch', async () => {
    const path = join(scratch, 'lenet5.onnx');
    const exported = await razor('export', 'lenet5', '--out', path, '--batch', 'symbolic', '--num-classes', '7');
    expect(exported.code).toBe(0);
    const report = JSON.parse((await razor('inspect', path, '--json', '--no-latency')).stdout) as InspectJson;
    expect(report.inputs[0]!.shape[0]).toBe('N');
    expect(report.outputs[0]!.shape).toEqual(['N', 7]);
  });
});

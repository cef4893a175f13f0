import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './main.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const models = join(root, 'packages/core/src/__fixtures__/models');
const scratch = mkdtempSync(join(tmpdir(), 'razor-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the program in-process with captured streams. */
async function razor(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

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
    expectOneLineError(unknown.stderr, /unknown command 'compress'; commands: inspect, run, zoo, export \(see 'razor --help'\)/);
    const option = await razor('zoo', '--colour');
    expect(option.code).toBe(2);
    expectOneLineError(option.stderr, /Unknown option '--colour'.*\(see 'razor zoo --help'\)/);
    const threads = await razor('run', 'model.onnx', '--threads', 'two');
    expect(threads.code).toBe(2);
    expectOneLineError(threads.stderr, /--threads must be a whole number of at least 1, got 'two'/);
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

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, Tensor, loadOnnx, readTensorFile } from '@razor/core';
import { catchRazorError } from '@razor/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { compareOutput, type ModelFigures as Figures } from './commands/optimize.js';
import { razor } from './__fixtures__/run-razor.js';

const here = dirname(fileURLToPath(import.meta.url));
const models = join(resolve(here, '../../..'), 'packages/core/src/__fixtures__/models');
const scratch = mkdtempSync(join(tmpdir(), 'razor-optimize-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^razor: /);
  expect(lines[0]).toMatch(pattern);
}

interface OptimizeJson {
  before: Figures;
  after: Figures;
  passes: {
    foldConstants: { foldedNodes: number; foldedByOpType: Record<string, number> } | null;
    foldBatchNorm: { foldedNodes: number } | null;
    eliminateDeadCode: { removedNodes: number };
    topologicalSort: { movedNodes: number };
  };
  check: { maxAbsoluteDifference: number; maxRelativeDifference: number; outputs: { name: string; maxMagnitude: number }[] } | null;
}

async function optimizeJson(...argv: string[]): Promise<OptimizeJson> {
  const result = await razor('optimize', ...argv, '--json');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(result.stdout) as OptimizeJson;
}

/** Runs a model with `razor run` and returns its outputs, read back from the written .pb files. */
async function runOutputs(model: string, ...argv: string[]): Promise<Map<string, Tensor>> {
  const directory = mkdtempSync(join(scratch, 'run-'));
  const result = await razor('run', model, '--output-dir', directory, '--json', ...argv);
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(result.stdout) as { outputs: { name: string; file: string }[] };
  const outputs = new Map<string, Tensor>();
  for (const output of report.outputs) outputs.set(output.name, await readTensorFile(output.file));
  return outputs;
}

/** The largest |actual - expected| over the largest |expected|. */
function relativeDifference(expected: Tensor, actual: Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  const left = expected.toFloat32();
  const right = actual.toFloat32();
  let difference = 0;
  let magnitude = 0;
  for (let index = 0; index < left.length; index++) {
    difference = Math.max(difference, Math.abs(left[index]! - right[index]!));
    magnitude = Math.max(magnitude, Math.abs(left[index]!));
  }
  expect(magnitude).toBeGreaterThan(0);
  return difference / magnitude;
}

describe('razor optimize', () => {
  it('is listed in the program help and has its own', async () => {
    expect((await razor('--help')).stdout).toMatch(/^  optimize  fold constants and BatchNorm/m);
    const help = await razor('optimize', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: razor optimize <model\.onnx> --out <out\.onnx>/);
    expect((await razor('help', 'optimize')).stdout).toBe(help.stdout);
  });

  it('folds the 19 BatchNormalization nodes of the zoo ResNet-20 without changing its outputs', async () => {
    const original = join(scratch, 'resnet20.onnx');
    const optimized = join(scratch, 'resnet20-optimized.onnx');
    expect((await razor('export', 'resnet20', '--out', original)).code).toBe(0);
    const report = await optimizeJson(original, '--out', optimized, '--runs', '2', '--threads', '1');
    expect(report.before.batchNormalizationNodes).toBe(19);
    expect(report.after.batchNormalizationNodes).toBe(0);
    expect(report.passes.foldBatchNorm).toEqual({ foldedNodes: 19 });
    expect(report.after.nodes).toBe(report.before.nodes - 19);
    // Each BatchNormalization's scale and bias (2 per channel) become one Conv bias per channel:
    // 16 + 6×16 + 6×32 + 6×64 = 688 channels fewer parameters out of CIFAR ResNet-20's 269,722.
    expect(report.before.params).toBe(269_722);
    expect(report.after.params).toBe(269_722 - 688);
    expect(report.after.macs).toBe(report.before.macs);
    expect(report.after.bytes).toBe(readFileSync(optimized).byteLength);
    expect(report.after.bytes).toBeLessThan(report.before.bytes);
    expect(report.before.latencyMs).toBeGreaterThan(0);
    expect(report.after.latencyMs).toBeGreaterThan(0);
    expect(report.check!.maxRelativeDifference).toBeLessThan(1e-5);
    expect(report.check!.outputs.map((output) => output.name)).toEqual(['output']);

    const graph = await loadOnnx(optimized);
    expect(graph.nodes.some((node) => node.opType === 'BatchNormalization')).toBe(false);
    // The file declares the original's types, less those of the 19 values folding removed.
    const declared = (await loadOnnx(original)).valueInfo;
    expect([...graph.valueInfo.keys()].filter((name) => !declared.has(name))).toEqual([]);
    expect(graph.valueInfo.size).toBe(declared.size - 19);
    // Both files on onnxruntime, on inputs other than the check's own.
    const before = await runOutputs(original, '--seed', '5');
    const after = await runOutputs(optimized, '--seed', '5');
    expect(relativeDifference(before.get('output')!, after.get('output')!)).toBeLessThan(1e-5);
  });

  it('folds all 20 BatchNormalization nodes of torchvision ResNet-18 and prints a before/after table', async () => {
    const optimized = join(scratch, 'resnet18.onnx');
    const result = await razor('optimize', join(models, 'torchvision-resnet18-zeros.onnx.gz'), '--out', optimized, '--runs', '1');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\s+before\s+after\s+change$/m);
    expect(result.stdout).toMatch(/^nodes\s+69\s+49\s+-20 \(-29\.0%\)$/m);
    expect(result.stdout).toMatch(/^BatchNormalization nodes\s+20\s+0\s+-20$/m);
    // 11,689,512 parameters (the published count) less 4,800 BatchNormalization channels.
    expect(result.stdout).toMatch(/^parameters\s+11\.69M\s+11\.68M\s+-4,800$/m);
    expect(result.stdout).toMatch(/^MACs\s+1\.82G\s+1\.82G\s+0$/m);
    expect(result.stdout).toMatch(/^latency \(median\)\s+[\d.]+ ms\s+[\d.]+ ms\s/m);
    expect(result.stdout).toContain('fold BatchNorm: folded 20 BatchNormalization node(s)');
    expect(result.stdout).toMatch(/^check: 1 output\(s\) on random inputs \(seed 0\)/m);
    expect(result.stdout).toMatch(new RegExp(`^wrote ${optimized.replace(/[.\\]/g, '\\$&')}$`, 'm'));
    const graph = await loadOnnx(optimized);
    expect(graph.nodes.filter((node) => node.opType === 'BatchNormalization')).toHaveLength(0);
    expect(graph.nodes.filter((node) => node.opType === 'Conv' && node.inputs.length === 3)).toHaveLength(20);
  });

  it('gives the PyTorch output and the parameters of PyTorch’s own folding on a small CNN', async () => {
    const optimized = join(scratch, 'small-cnn.onnx');
    const report = await optimizeJson(join(models, 'small-cnn-bn-preserved.onnx'), '--out', optimized, '--runs', '2');
    expect(report.passes.foldBatchNorm).toEqual({ foldedNodes: 1 });
    expect(report.before.params).toBe(1530);
    // torch.onnx's default export folds the same BatchNormalization: same parameter count.
    const fused = JSON.parse((await razor('inspect', join(models, 'small-cnn-bn-fused.onnx'), '--json', '--no-latency')).stdout) as { params: number };
    expect(report.after.params).toBe(fused.params);
    expect(report.after.nodes).toBe(5);
    const outputs = await runOutputs(optimized, '--input', `input=${join(models, 'small-cnn-bn-preserved.input_0.pb')}`);
    const expected = await readTensorFile(join(models, 'small-cnn-bn-preserved.output_0.pb'));
    expect(relativeDifference(expected, outputs.get('logits')!)).toBeLessThan(1e-4);
  });

  it('folds shape computations with a symbolic batch and keeps the PyTorch outputs (--no-check)', async () => {
    const optimized = join(scratch, 'shape-ops.onnx');
    const report = await optimizeJson(join(models, 'shape-ops.onnx'), '--out', optimized, '--no-check');
    expect(report.check).toBeNull();
    expect(report.before.latencyMs).toBeNull();
    expect(report.after.latencyMs).toBeNull();
    expect(report.passes.foldConstants!.foldedNodes).toBe(report.before.nodes - report.after.nodes);
    expect(report.after.nodes).toBeLessThan(report.before.nodes / 2);
    const outputs = await runOutputs(optimized, '--input', `input=${join(models, 'shape-ops.input_0.pb')}`);
    const names = ['picked', 'column', 'squeezed', 'ramp', 'counts', 'expanded'];
    expect([...outputs.keys()]).toEqual(names);
    for (const [index, name] of names.entries()) {
      const expected = await readTensorFile(join(models, `shape-ops.output_${index}.pb`));
      expect(relativeDifference(expected, outputs.get(name)!), name).toBeLessThan(1e-4);
    }
  });

  it('keeps BatchNormalization and constants when told to', async () => {
    const optimized = join(scratch, 'residual-block.onnx');
    const report = await optimizeJson(join(models, 'residual-block.onnx'), '--out', optimized, '--no-fold-batchnorm', '--no-fold-constants', '--runs', '1');
    expect(report.passes.foldBatchNorm).toBeNull();
    expect(report.passes.foldConstants).toBeNull();
    expect(report.before.batchNormalizationNodes).toBe(3);
    expect(report.after).toMatchObject({ nodes: report.before.nodes, batchNormalizationNodes: 3, params: report.before.params });
    expect(report.check!.maxAbsoluteDifference).toBe(0);
  });

  it('fails with one line and writes nothing for a missing --out, a missing file or a corrupt file', async () => {
    const directory = join(scratch, 'errors');
    mkdirSync(directory);
    const out = join(directory, 'out.onnx');
    const noOut = await razor('optimize', join(models, 'residual-block.onnx'));
    expect(noOut.code).toBe(2);
    expectOneLineError(noOut.stderr, /missing --out FILE.*\(see 'razor optimize --help'\)$/);
    const gzip = await razor('optimize', join(models, 'residual-block.onnx'), '--out', `${out}.gz`);
    expect(gzip.code).toBe(2);
    expectOneLineError(gzip.stderr, /razor writes uncompressed ONNX/);

    const missing = await razor('optimize', join(directory, 'absent.onnx'), '--out', out);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expectOneLineError(missing.stderr, /absent\.onnx': it does not exist \[RAZOR_FILE_NOT_FOUND\]$/);

    const corrupt = join(scratch, 'corrupt.onnx');
    writeFileSync(corrupt, readFileSync(join(models, 'residual-block.onnx')).subarray(0, 1000));
    const result = await razor('optimize', corrupt, '--out', out);
    expect(result.code).toBe(1);
    expectOneLineError(result.stderr, /corrupt\.onnx' is not a valid ONNX model.*\[RAZOR_INVALID_ONNX\]$/);

    const shapeOps = await razor('optimize', join(models, 'shape-ops.onnx'), '--out', out);
    expect(shapeOps.code).toBe(1);
    expect(shapeOps.stderr).toMatch(/^note: symbolic dimensions set to 1/);
    expect(shapeOps.stderr.trimEnd().split('\n').at(-1)).toMatch(/use --no-check to skip it\) \[RAZOR_BACKEND_FAILURE\]$/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(directory)).toEqual([]);
  });
});

describe('compareOutput', () => {
  const float32 = (values: number[]) => Tensor.float32([values.length], values);

  it('measures the largest difference against the largest magnitude', () => {
    const difference = compareOutput('y', float32([4, -8, 1]), float32([4.001, -8, 0.998]));
    expect(difference.maxMagnitude).toBe(8);
    expect(difference.maxAbsoluteDifference).toBeCloseTo(0.002, 6);
    expect(difference.maxRelativeDifference).toBeCloseTo(0.002 / 8, 8);
  });

  it('counts equal NaNs and infinities as equal, and any other mismatch as infinite', () => {
    expect(compareOutput('y', float32([Number.NaN, Number.POSITIVE_INFINITY, 2]), float32([Number.NaN, Number.POSITIVE_INFINITY, 2])).maxAbsoluteDifference).toBe(0);
    expect(compareOutput('y', float32([Number.NaN, 2]), float32([1, 2])).maxRelativeDifference).toBe(Number.POSITIVE_INFINITY);
    expect(compareOutput('y', float32([0, 0]), float32([0, 1e-30])).maxRelativeDifference).toBe(Number.POSITIVE_INFINITY);
    expect(compareOutput('y', float32([0, 0]), float32([0, 0])).maxRelativeDifference).toBe(0);
  });

  it('fails with RAZOR_CHECK_FAILED naming the output when shapes or dtypes differ', () => {
    const error = catchRazorError(() => compareOutput('logits', float32([1, 2]), Tensor.float32([1, 2], [1, 2])));
    expect(error.code).toBe(ErrorCodes.CHECK_FAILED);
    expect(error.message).toMatch(/output 'logits' is float32 \[1, 2\] but the original's is float32 \[2\]/);
  });
});

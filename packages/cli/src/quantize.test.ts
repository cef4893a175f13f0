import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOnnx } from '@razor/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { razor } from './__fixtures__/run-razor.js';

const scratch = mkdtempSync(join(tmpdir(), 'razor-quantize-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const model = join(scratch, 'lenet.onnx');

interface Report {
  mode: string;
  normalization: { mean: number; std: number; source: string };
  before: { bytes: number; latencyMs: Record<string, number>; accuracy: { top1: number; samples: number } };
  after: { bytes: number; latencyMs: Record<string, number>; accuracy: { top1: number; samples: number } };
  sizeRatio: number;
  latencyRatio: Record<string, number>;
  top1Drop: number;
  summary: { quantizedByOpType: Record<string, number> };
  sensitivity?: { node: string; drop: number }[];
  floatNodes?: string[];
  floatStemTrials?: { floatNodes: string[]; medianMs: Record<string, number>; score: number }[];
}

beforeAll(async () => {
  const config = join(scratch, 'lenet.json');
  writeFileSync(
    config,
    JSON.stringify({
      model: 'lenet5',
      dataset: 'mnist',
      trainLimit: 4096,
      testLimit: 100,
      batchSize: 64,
      epochs: 2,
      optimizer: { type: 'sgd', momentum: 0.9 },
      schedule: { type: 'cosine', learningRate: 0.05 },
      checkpointDir: 'run',
      out: 'lenet.onnx',
    }),
  );
  const trained = await razor('train', config);
  expect(trained.code, trained.stderr).toBe(0);
}, 120_000);

describe('razor quantize', () => {
  it('quantizes a trained model with MNIST calibration and reports size, latency and accuracy before and after', async () => {
    const out = join(scratch, 'lenet.int8.onnx');
    const result = await razor('quantize', model, '--calib', 'mnist', '--calib-size', '256', '--eval', 'mnist', '--eval-size', '1000', '--runs', '3', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/file size +[\d.]+ kB +[\d.]+ kB +0\.\d\d×/);
    expect(result.stdout).toMatch(/latency batch 1 /);
    expect(result.stdout).toMatch(/latency batch 32 /);
    expect(result.stdout).toMatch(/top-1 +[\d.]+% +[\d.]+% +/);
    expect(result.stderr).toMatch(/calibrating +\[#+\] +100% +8\/8/);
    const report = JSON.parse(readFileSync(join(scratch, 'lenet.int8.report.json'), 'utf8')) as Report;
    expect(report.mode).toBe('static');
    expect(report.normalization).toEqual({ mean: 0.1307, std: 0.3081, source: 'metadata' });
    expect(report.summary.quantizedByOpType).toEqual({ Conv: 2, Gemm: 3 });
    expect(report.before.accuracy.samples).toBe(1000);
    expect(report.before.accuracy.top1).toBeGreaterThan(0.85);
    expect(Math.abs(report.top1Drop)).toBeLessThanOrEqual(0.5);
    expect(report.sizeRatio).toBeLessThan(0.3);
    expect(report.after.bytes).toBe(readFileSync(out).byteLength);
    // Where int8 measured slower than float, the summary points at --float-stem (and only then).
    const slower = Object.values(report.latencyRatio).some((ratio) => ratio > 1);
    expect(/slower than float at .* here; --float-stem measures/.test(result.stdout)).toBe(slower);
    const written = await loadOnnx(out);
    expect(written.nodes.filter((node) => node.opType === 'DequantizeLinear').length).toBeGreaterThan(5);
    expect(written.initializers.get(written.nodes.find((node) => node.opType === 'Conv')!.inputs[1]!)).toBeUndefined();
  });

  it('writes the QOperator form, measures sensitivity and keeps layers in float for --max-drop, with --json', async () => {
    const out = join(scratch, 'lenet.qop.onnx');
    const result = await razor('quantize', model, '--calib', 'mnist', '--calib-size', '128', '--eval', 'mnist', '--eval-size', '500', '--runs', '2', '--format', 'qoperator', '--max-drop', '0', '--json', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.sensitivity).toHaveLength(5);
    expect(report.top1Drop).toBeLessThanOrEqual(0);
    const written = await loadOnnx(out);
    const opTypes = new Set(written.nodes.map((node) => node.opType));
    if (report.floatNodes!.length < 5) expect([...opTypes].some((opType) => opType === 'QLinearConv' || opType === 'QGemm')).toBe(true);
  });

  it('measures float stems with --float-stem and writes the model with the one it picked', async () => {
    const out = join(scratch, 'lenet.stem.onnx');
    const result = await razor('quantize', model, '--calib', 'mnist', '--calib-size', '64', '--runs', '2', '--threads', '1', '--float-stem', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/float stems \(leading layers left in float\), median latency, measured interleaved with the float model:/);
    expect(result.stdout).toMatch(/none +[\d.]+ ms +[\d.]+ ms +1\.00× +[\d.]+× \/ [\d.]+×/);
    expect(result.stdout).toMatch(/\(float model\) +[\d.]+ ms +[\d.]+ ms/);
    expect(result.stderr).toMatch(/timing float stems +\[#+\] +100% +2\/2/);
    const report = JSON.parse(readFileSync(join(scratch, 'lenet.stem.report.json'), 'utf8')) as Report;
    // LeNet-5 has five weighted layers: stems of 0 to 4 of them.
    const trials = report.floatStemTrials!;
    expect(trials.map((trial) => trial.floatNodes.length)).toEqual([0, 1, 2, 3, 4]);
    expect(trials[4]!.floatNodes.slice(0, 3)).toEqual(trials[3]!.floatNodes);
    expect(Object.keys(trials[0]!.medianMs).sort()).toEqual(['1', '32']);
    const chosen = report.floatNodes!;
    expect(trials.some((trial) => JSON.stringify(trial.floatNodes) === JSON.stringify(chosen))).toBe(true);
    const written = await loadOnnx(out);
    for (const name of trials[4]!.floatNodes) {
      const node = written.nodes.find((candidate) => candidate.name === name)!;
      expect(written.initializers.get(node.inputs[1]!)?.dtype === 'float32', name).toBe(chosen.includes(name));
    }
    const dynamic = await razor('quantize', model, '--dynamic', '--float-stem', '--out', join(scratch, 'x.onnx'));
    expect(dynamic.code).toBe(2);
    expect(dynamic.stderr).toMatch(/--float-stem works with static quantization, not --dynamic/);
  });

  it('quantizes MatMul/Gemm weights dynamically without calibration', async () => {
    const out = join(scratch, 'lenet.dynamic.onnx');
    const result = await razor('quantize', model, '--dynamic', '--eval', 'mnist', '--eval-size', '500', '--runs', '2', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(scratch, 'lenet.dynamic.report.json'), 'utf8')) as Report;
    expect(report.mode).toBe('dynamic');
    expect(Math.abs(report.top1Drop)).toBeLessThanOrEqual(1);
    expect(report.after.bytes).toBeLessThan(report.before.bytes);
  });

  it('explains bad usage and data that does not fit', async () => {
    const missingOut = await razor('quantize', model, '--calib', 'mnist');
    expect(missingOut.code).toBe(2);
    expect(missingOut.stderr).toMatch(/missing --out/);
    const noCalib = await razor('quantize', model, '--out', join(scratch, 'x.onnx'));
    expect(noCalib.stderr).toMatch(/missing --calib/);
    const budget = await razor('quantize', model, '--calib', 'mnist', '--max-drop', '1', '--out', join(scratch, 'x.onnx'));
    expect(budget.stderr).toMatch(/--max-drop and --sensitivity need --eval/);
    const method = await razor('quantize', model, '--calib', 'mnist', '--method', 'kl', '--out', join(scratch, 'x.onnx'));
    expect(method.stderr).toMatch(/--method must be one of minmax, percentile, entropy, mse/);
    const folder = await razor('quantize', model, '--calib', join(scratch, 'nowhere'), '--out', join(scratch, 'x.onnx'));
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/nowhere: cannot read the calibration folder.*RAZOR_FILE_NOT_FOUND/);
    const exported = await razor('export', 'resnet20', '--out', join(scratch, 'resnet20.onnx'));
    expect(exported.code, exported.stderr).toBe(0);
    const shape = await razor('quantize', join(scratch, 'resnet20.onnx'), '--calib', 'mnist', '--out', join(scratch, 'x.onnx'));
    expect(shape.code).toBe(1);
    expect(shape.stderr).toMatch(/takes \[N, 3, 32, 32\] but mnist images are \[N, 1, 28, 28\].*RAZOR_SHAPE_MISMATCH/);
    expect(existsSync(join(scratch, 'x.onnx'))).toBe(false);
  });
});

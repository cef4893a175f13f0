import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, loadOnnx, loadSafetensors } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { afterAll, describe, expect, it } from 'vitest';
import { razor } from './__fixtures__/run-razor.js';
import { loadTrainConfig } from './train-config.js';

const scratch = mkdtempSync(join(tmpdir(), 'razor-train-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeConfig(name: string, overrides: Record<string, unknown> = {}): string {
  const path = join(scratch, name);
  const config = {
    model: 'lenet5',
    dataset: 'mnist',
    trainLimit: 640,
    testLimit: 200,
    batchSize: 64,
    epochs: 1,
    optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
    schedule: { type: 'cosine', learningRate: 0.05 },
    augment: { cropPadding: 2 },
    checkpointDir: `${name}.run`,
    out: `${name}.onnx`,
    ...overrides,
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}

describe('razor train', () => {
  it('trains from a config, writes the model, the log and a checkpoint, and resumes with --resume', async () => {
    const config = writeConfig('lenet.json');
    const first = await razor('train', config);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^training lenet5 \(61\.71K parameters\) on mnist: 640 training and 200 test images, batch 64, 1 epochs, sgd, cosine lr 0\.05, onnxruntime/);
    expect(first.stdout).toMatch(/epoch 1\/1 {2}train loss \d\.\d{4} top-1 [\d.]+% {2}test loss \d\.\d{4} top-1 [\d.]+% top-5 [\d.]+%/);
    expect(first.stderr).toMatch(/epoch 1\/1 {2}\[#+\] +100% {2}10\/10 .* loss \d\.\d{4} {2}lr /);
    const log = JSON.parse(readFileSync(join(scratch, 'lenet.json.run', 'log.json'), 'utf8')) as { status: string; history: { eval: { samples: number } }[] };
    expect(log.status).toBe('complete');
    expect(log.history).toHaveLength(1);
    expect(log.history[0]!.eval.samples).toBe(200);
    const checkpoint = await loadSafetensors(join(scratch, 'lenet.json.run', 'checkpoint.safetensors'));
    expect(Object.keys(checkpoint.tensors)).toContain('conv1.weight.momentum');

    // The written model runs on onnxruntime with any batch size.
    const model = await loadOnnx(join(scratch, 'lenet.json.onnx'));
    expect(JSON.parse(model.model.metadata.get('razor.preprocessing')!)).toEqual({ dataset: 'mnist', mean: 0.1307, std: 0.3081 });
    const session = await createOnnxruntimeBackend().createSession(model);
    const output = (await session.run({ input: new Tensor('float32', [3, 1, 28, 28]) })).output!;
    expect(output.shape).toEqual([3, 10]);
    await session.release();

    const again = await razor('train', config);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/checkpoint\.safetensors exists; pass --resume to continue that run/);

    const resumed = await razor('train', config, '--resume', '--epochs', '2');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from .*checkpoint\.safetensors: epoch 2, batch 1, step 10/);
    expect(resumed.stdout).toMatch(/epoch 2\/2 {2}train loss/);
    expect(resumed.stdout).not.toMatch(/epoch 1\/2/);
    const resumedLog = JSON.parse(readFileSync(join(scratch, 'lenet.json.run', 'log.json'), 'utf8')) as { history: unknown[] };
    expect(resumedLog.history).toHaveLength(2);
  });

  it('explains bad configs in one line', async () => {
    const unknownKey = await razor('train', writeConfig('typo.json', { epoch: 3 }));
    expect(unknownKey.code).toBe(1);
    expect(unknownKey.stderr).toMatch(/typo\.json: unknown key 'epoch'.*\[RAZOR_INVALID_ARGUMENT\]/);
    const dataset = await razor('train', writeConfig('cifar.json', { dataset: 'cifar10' }));
    expect(dataset.stderr).toMatch(/'dataset' must be one of mnist, fashion-mnist, got "cifar10"/);
    const missing = await razor('train', join(scratch, 'nope.json'));
    expect(missing.stderr).toMatch(/nope\.json: cannot read the training config .*\[RAZOR_FILE_NOT_FOUND\]/);
    const model = await razor('train', writeConfig('model.json', { model: 'resnet1000' }));
    expect(model.stderr).toMatch(/resnet1000/);
    expect(existsSync(join(scratch, 'model.json.onnx'))).toBe(false);
    const usage = await razor('train');
    expect(usage.code).toBe(2);
  });

  it('reads TypeScript config modules (type annotations and all) and explains broken ones', async () => {
    const path = join(scratch, 'lenet.config.ts');
    writeFileSync(
      path,
      [
        "interface Config { model: string; dataset: 'mnist' | 'fashion-mnist'; batchSize: number; epochs: number; [key: string]: unknown }",
        'const epochs: number = 2;',
        "const config: Config = { model: 'lenet5', dataset: 'mnist', batchSize: 32, epochs, optimizer: { type: 'adam' }, schedule: { type: 'constant', learningRate: 1e-3 }, checkpointDir: 'ts.run', out: 'ts.onnx' };",
        'export default config;',
      ].join('\n'),
    );
    const config = await loadTrainConfig(path);
    expect(config).toMatchObject({ model: 'lenet5', dataset: 'mnist', batchSize: 32, epochs: 2, optimizer: { type: 'adam' }, checkpointDir: join(scratch, 'ts.run'), out: join(scratch, 'ts.onnx') });

    const broken = join(scratch, 'broken.config.ts');
    writeFileSync(broken, 'export default { model: ;');
    await expect(loadTrainConfig(broken)).rejects.toThrow(/broken\.config\.ts: cannot load the training config module/);
    const noDefault = join(scratch, 'named.config.ts');
    writeFileSync(noDefault, "export const config = { model: 'lenet5' };");
    await expect(loadTrainConfig(noDefault)).rejects.toMatchObject({ code: 'RAZOR_INVALID_ARGUMENT', message: expect.stringMatching(/no default export/) });
    await expect(loadTrainConfig(join(scratch, 'absent.config.ts'))).rejects.toMatchObject({ code: 'RAZOR_FILE_NOT_FOUND' });
  });
});

describe('razor bench train', () => {
  it('prints images per second as JSON', async () => {
    const result = await razor('bench', 'train', '--model', 'lenet5', '--batch', '16', '--steps', '2', '--json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ model: 'lenet5', batch: 16, steps: 2, backend: 'onnxruntime', input: [16, 1, 28, 28], parameters: 61706 });
    expect(report.imagesPerSecond).toBeGreaterThan(0);
    expect(report.imagesPerSecond).toBeCloseTo((16 * 1000) / (report.medianStepMs as number), 6);
  });

  it('refuses unknown benchmarks and a missing model', async () => {
    expect((await razor('bench', 'infer')).stderr).toMatch(/unknown benchmark 'infer'; razor bench has: train/);
    expect((await razor('bench', 'train')).stderr).toMatch(/missing --model/);
  });
});

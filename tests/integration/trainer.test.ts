// The Trainer on onnxruntime with real MNIST slices: accuracy, exact resume from checkpoints,
// the NaN guard, evaluation, export, events and errors.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader, ErrorCodes, Tensor, Trainer, loadMnist, sgd, sliceDataset, transforms, type Dataset, type TrainerEvents, type TrainerOptions } from '@razor/core';
import { rejectionOf } from '@razor/core/testing';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { createModel, toGraph } from '@razor/ops';
import { afterAll, describe, expect, it } from 'vitest';

const backend = createOnnxruntimeBackend();
const directory = mkdtempSync(join(tmpdir(), 'razor-trainer-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const train = loadMnist({ split: 'train', limit: 2048 });
const test = loadMnist({ split: 'test', limit: 1000 });
const normalize = transforms.normalize(0.1307, 0.3081);

function lenetOptions(overrides: Partial<TrainerOptions> = {}): TrainerOptions {
  const model = createModel('lenet5', { seed: 1 });
  return {
    graph: toGraph(model, { training: true, batch: 'batch' }),
    batchSize: 64,
    optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }),
    learningRate: 0.05,
    backend,
    sessionOptions: { threads: 2 },
    ...overrides,
  };
}

const loader = (dataset: Dataset = train, seed = 3): DataLoader => new DataLoader(dataset, { batchSize: 64, shuffle: true, seed, dropLast: true, transform: normalize });
const evalLoader = (): DataLoader => new DataLoader(test, { batchSize: 100, transform: normalize });

describe('Trainer', () => {
  it('trains LeNet-5 on 2,048 MNIST images to over 90% test top-1 in three epochs, with events and history', async () => {
    const trainer = await Trainer.create(lenetOptions());
    const events: string[] = [];
    let lastStep: TrainerEvents['step'] | undefined;
    trainer.on('epochStart', ({ epoch }) => events.push(`start ${epoch}`));
    trainer.on('step', (payload) => (lastStep = payload));
    trainer.on('epochEnd', ({ epoch }) => events.push(`end ${epoch}`));
    const before = await trainer.evaluate(evalLoader());
    const history = await trainer.fit({ train: loader(), eval: evalLoader(), epochs: 3 });
    expect(before.top1).toBeLessThan(0.3);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(lastStep).toMatchObject({ epoch: 2, batch: 31, batches: 32, step: 96 });
    expect(history.map((record) => record.step)).toEqual([32, 64, 96]);
    const last = history[2]!;
    expect(last.eval!.samples).toBe(1000);
    expect(last.eval!.top1).toBeGreaterThan(0.9);
    expect(last.eval!.top5).toBeGreaterThan(last.eval!.top1);
    expect(last.train.loss).toBeLessThan(history[0]!.train.loss);

    // The exported inference graph keeps the symbolic batch and reproduces the evaluation.
    const exported = trainer.exportInference();
    expect(exported.inputs.map((input) => input.name)).toEqual(['input']);
    expect(exported.inputs[0]!.type?.shape?.[0]).toBe('batch');
    expect(exported.nodes.some((node) => node.opType === 'Dropout' || node.outputs.length > 1)).toBe(false);
    const session = await backend.createSession(exported);
    let correct = 0;
    for await (const batch of evalLoader().epoch(0)) {
      const logits = (await session.run({ input: batch.images })).output!.toFloat32();
      for (let row = 0; row < batch.labels.size; row++) {
        const scores = logits.subarray(row * 10, row * 10 + 10);
        if (scores.indexOf(Math.max(...scores)) === Number(batch.labels.data[row])) correct++;
      }
    }
    await session.release();
    expect(correct / 1000).toBeCloseTo(last.eval!.top1, 5);
    await trainer.release();
  });

  it('resumes from a mid-epoch checkpoint to bit-identical parameters and state', async () => {
    const data = sliceDataset(train, 0, 640);
    const uninterrupted = await Trainer.create(lenetOptions());
    await uninterrupted.fit({ train: loader(data), epochs: 2 });

    const path = join(directory, 'lenet.safetensors');
    const first = await Trainer.create(lenetOptions());
    const checkpoints: number[] = [];
    first.on('checkpoint', ({ step }) => checkpoints.push(step));
    // A checkpoint every 13 steps and at each epoch's end (10 batches); a crash during step 14.
    first.on('step', ({ step }) => {
      if (step === 14) throw new Error('interrupted');
    });
    await expect(first.fit({ train: loader(data), epochs: 2, checkpoint: path, checkpointEvery: 13 })).rejects.toThrow('interrupted');
    expect(checkpoints).toEqual([10, 13]);
    await first.release();

    const resumed = await Trainer.create(lenetOptions());
    await resumed.loadCheckpoint(path);
    expect(resumed.progress).toEqual({ epoch: 1, batch: 3, step: 13 });
    await resumed.fit({ train: loader(data), epochs: 2, checkpoint: path });
    expect(resumed.progress).toEqual({ epoch: 2, batch: 0, step: 20 });
    for (const [name, tensor] of Object.entries(uninterrupted.parameters)) expect(resumed.parameters[name]!.data, name).toEqual(tensor.data);
    for (const [name, tensor] of Object.entries(uninterrupted.state)) expect(resumed.state[name]!.data, name).toEqual(tensor.data);
    expect(resumed.history.map((record) => record.epoch)).toEqual([0, 1]);
    expect(readdirSync(directory).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    await Promise.all([uninterrupted.release(), resumed.release()]);
  });

  it('stops on a non-finite loss naming the step and the first non-finite value, keeping the last good parameters', async () => {
    // An infinite learning rate at step 4 makes the parameters infinite; step 5's loss is NaN.
    const trainer = await Trainer.create(lenetOptions({ learningRate: (step) => (step === 3 ? Infinity : 0.05) }));
    const error = await rejectionOf(trainer.fit({ train: loader(), epochs: 1 }));
    expect(error.code).toBe(ErrorCodes.NON_FINITE);
    expect(error.message).toMatch(/^training stopped at step 5 \(epoch 1, batch 5\): the loss is NaN; the first non-finite value is parameter 'conv1\.weight' element 0 \((-?Infinity|NaN)\)/);
    expect(trainer.progress.step).toBe(4);
    expect(Number.isFinite(trainer.parameters['conv1.weight']!.data[0])).toBe(false);
    await trainer.release();

    const poisoned = await Trainer.create(lenetOptions());
    const images = new Tensor('float32', [64, 1, 28, 28], new Float32Array(64 * 784));
    // The second image is NaN from its 10th pixel on (a corrupt file read as floats).
    images.data.fill(Number.NaN, 784 + 9, 2 * 784);
    const nanInput = await rejectionOf(poisoned.step(images, Tensor.from('int64', [64], new Array(64).fill(0n))));
    expect(nanInput.message).toContain(`training stopped at step 1 (epoch 1, batch 1): the loss is NaN; the first non-finite value is input 'input' element 793 (NaN)`);
    expect(poisoned.progress.step).toBe(0);
    await poisoned.release();
  });

  it('refuses loaders without full batches, and checkpoints of another model, optimizer or file type', async () => {
    const trainer = await Trainer.create(lenetOptions());
    const partial = new DataLoader(sliceDataset(train, 0, 100), { batchSize: 64, transform: normalize });
    expect((await rejectionOf(trainer.fit({ train: partial, epochs: 1 }))).message).toContain('dropLast: true');

    const other = await Trainer.create({ ...lenetOptions(), graph: toGraph(createModel('lenet5', { numClasses: 5 }), { training: true, batch: 'batch' }) });
    const otherPath = join(directory, 'five-classes.safetensors');
    await other.saveCheckpoint(otherPath);
    const mismatch = await rejectionOf(trainer.loadCheckpoint(otherPath));
    expect(mismatch.code).toBe(ErrorCodes.INVALID_CHECKPOINT);
    expect(mismatch.message).toMatch(/parameter 'fc3\.weight' is float32 \[5, 84\] in the checkpoint but float32 \[10, 84\]/);

    const adamTrainer = await Trainer.create(lenetOptions({ optimizer: sgd() }));
    await adamTrainer.saveCheckpoint(join(directory, 'plain-sgd.safetensors'));
    expect((await rejectionOf(trainer.loadCheckpoint(join(directory, 'plain-sgd.safetensors')))).message).toMatch(/momentum' is missing/);

    writeFileSync(join(directory, 'garbage.safetensors'), 'not a checkpoint');
    expect((await rejectionOf(trainer.loadCheckpoint(join(directory, 'garbage.safetensors')))).code).toBe(ErrorCodes.INVALID_TENSOR_FILE);
    await Promise.all([trainer.release(), other.release(), adamTrainer.release()]);
  });
});

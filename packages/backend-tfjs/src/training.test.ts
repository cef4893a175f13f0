/**
 * Training steps on tfjs against onnxruntime: the same ResNet-20 training-step graph (forward,
 * autodiff backward, SGD with momentum, training-mode BatchNormalization), fed the same
 * Fashion-MNIST batches, gives the same losses and parameters on both engines.
 */
import { Tensor, buildTrainStep, crossEntropyLoss, loadFashionMnist, sgd, type Backend, type Graph } from '@razor/core';
import { createModel, toGraph } from '@razor/ops';
import { describe, expect, it } from 'vitest';
import { onnxruntime } from './__fixtures__/compare.js';
import { createTfjsBackend } from './tfjs-backend.js';

const BATCH = 8;
const STEPS = 3;

function crossEntropy(graph: Graph): string {
  graph.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [BATCH] } });
  return crossEntropyLoss(graph, graph.outputs[0]!.name, 'labels');
}

/** BATCH·STEPS training images of Fashion-MNIST with their labels, one batch per step. */
function batches(): { images: Tensor; labels: Tensor }[] {
  const dataset = loadFashionMnist({ split: 'train', limit: BATCH * STEPS });
  return Array.from({ length: STEPS }, (_, step) => {
    const images = new Float32Array(BATCH * 28 * 28);
    const labels: bigint[] = [];
    for (let index = 0; index < BATCH; index++) {
      const sample = dataset.get(step * BATCH + index);
      images.set(sample.image, index * 28 * 28);
      labels.push(BigInt(sample.label));
    }
    return { images: Tensor.float32([BATCH, 1, 28, 28], images), labels: Tensor.from('int64', [BATCH], labels) };
  });
}

async function train(backend: Backend, options: { executionProviders?: string[] } = {}) {
  const graph = toGraph(createModel('resnet20', { inputChannels: 1, inputSize: 28, numClasses: 10, seed: 3 }), { batch: BATCH });
  const built = buildTrainStep(graph, { loss: crossEntropy, optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }) });
  const session = await backend.createSession(built.step, options);
  const carried: Record<string, Tensor> = { ...built.initialParameters };
  for (const { name, initial } of built.state) carried[name] = initial;
  const losses: number[] = [];
  try {
    for (const [index, batch] of batches().entries()) {
      const outputs = await session.run({
        ...carried,
        [built.dataInputs.find((name) => name !== 'labels')!]: batch.images,
        labels: batch.labels,
        learning_rate: Tensor.scalar('float32', 0.05),
        step: Tensor.scalar('float32', index + 1),
      });
      for (const name of Object.keys(carried)) carried[name] = outputs[built.nextName(name)]!;
      losses.push(outputs.loss!.numberAt(0));
    }
  } finally {
    await session.release();
  }
  return { losses, carried };
}

describe('ResNet-20 training steps on tfjs', () => {
  it('give the same losses and parameters as onnxruntime (cpu and wasm engines)', async () => {
    const reference = await train(onnxruntime);
    // Training moves the model: the losses differ from step to step.
    expect(new Set(reference.losses.map((loss) => loss.toFixed(4))).size).toBe(STEPS);
    for (const engine of ['cpu', 'wasm']) {
      const result = await train(createTfjsBackend({ engine }));
      console.info(`tfjs ${engine} losses ${result.losses.map((loss) => loss.toFixed(6)).join(', ')}; onnxruntime ${reference.losses.map((loss) => loss.toFixed(6)).join(', ')}`);
      result.losses.forEach((loss, step) => expect(Math.abs(loss - reference.losses[step]!), `${engine} step ${step + 1}`).toBeLessThan(1e-4 * Math.abs(reference.losses[step]!) + 1e-5));
      let worst = 0;
      let worstName = '';
      for (const [name, tensor] of Object.entries(reference.carried)) {
        const want = tensor.toFloat32();
        const got = result.carried[name]!.toFloat32();
        for (let index = 0; index < want.length; index++) {
          const difference = Math.abs(got[index]! - want[index]!) / (Math.abs(want[index]!) + 1e-2);
          if (difference > worst) [worst, worstName] = [difference, name];
        }
      }
      console.info(`tfjs ${engine}: largest relative parameter difference after ${STEPS} steps ${worst.toExponential(2)} (${worstName})`);
      expect(worst).toBeLessThan(1e-3);
    }
  }, 120_000);
});

import type { Backend, Tensor } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  HardSigmoid,
  HardSwish,
  LeakyReLU,
  Linear,
  MaxPool2d,
  ReLU6,
  Sequential,
  Sigmoid,
  Tanh,
  createModel,
  toGraph,
  type CreateModelOptions,
  type Module,
} from '@razor/ops';
import parity from './__fixtures__/parity.json' with { type: 'json' };
import { parityInput, parityStateDict } from './__fixtures__/parity-weights.js';

// PyTorch outputs from tools/fixtures/ops_zoo_fixtures.py for the same weights and inputs,
// against the razor graph run on onnxruntime. Tolerance: 1e-4 of the largest output.

/** The layer stack of the fixture script, built with razor's layers. */
function layerStack(): Module {
  return new Sequential(
    new Conv2d(4, 8, 3, { padding: 'same', dilation: 2, groups: 2 }),
    new BatchNorm2d(8),
    new LeakyReLU(0.2),
    new HardSwish(),
    new AvgPool2d(3, { stride: 2, padding: 1 }),
    new Conv2d(8, 8, 3, { stride: 2, padding: 1, groups: 8, bias: false }),
    new ReLU6(),
    new HardSigmoid(),
    new MaxPool2d(2, { stride: 1, padding: 1, dilation: 2 }),
    new Tanh(),
    new Conv2d(8, 6, [1, 2], { padding: [0, 1] }),
    new Sigmoid(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Dropout(0.3),
    new Linear(6, 5),
  );
}

let backend: Backend;

beforeAll(async () => {
  backend = createOnnxruntimeBackend();
  await backend.init?.();
});

afterAll(async () => {
  await backend?.release?.();
});

describe('razor graphs match PyTorch on onnxruntime', () => {
  it.each(parity.cases.map((entry) => [entry.model, JSON.stringify(entry.options), entry] as const))('%s %s', async (name, _options, entry) => {
    const model = name === 'layers' ? layerStack() : createModel(name, entry.options as CreateModelOptions);
    model.loadStateDict(parityStateDict(model));
    const graph = toGraph(model, { inputShape: entry.inputShape.slice(1), batch: 'N' });
    const session = await backend.createSession(graph);
    try {
      const outputs: Record<string, Tensor> = await session.run({ input: parityInput(entry.inputShape) });
      const output = outputs['output']!;
      expect(output.shape).toEqual([entry.inputShape[0], entry.output.length / entry.inputShape[0]!]);
      const scale = Math.max(1, ...entry.output.map(Math.abs));
      let largest = 0;
      for (let index = 0; index < entry.output.length; index++) {
        largest = Math.max(largest, Math.abs(output.numberAt(index) - entry.output[index]!));
      }
      expect(largest / scale).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  });
});

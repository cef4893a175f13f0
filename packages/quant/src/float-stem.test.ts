// floatStem on onnxruntime: the candidates it measures and how it picks one. Which stem is
// fastest on this machine is what it measures, so the choice itself is tested on real sessions
// whose speed a wrapper changes on purpose.
import { loadMnist, transforms, type Backend, type Graph } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { createModel, toGraph } from '@razor/ops';
import { beforeAll, describe, expect, it } from 'vitest';
import { datasetFeeds } from './calibrate.js';
import { floatStem } from './float-stem.js';
import { quantizeStatic, type QuantizeStaticResult } from './quantize-static.js';

const backend = createOnnxruntimeBackend();
let quantized: QuantizeStaticResult;
let layers: string[];

beforeAll(async () => {
  const model = toGraph(createModel('lenet5', { seed: 0 }), { batch: 'batch' });
  quantized = await quantizeStatic(model, {
    backend,
    calibrateAll: true,
    calibration: datasetFeeds(loadMnist({ split: 'train', limit: 64 }), { input: model.inputs[0]!.name, batchSize: 32, transform: transforms.normalize(0.1307, 0.3081) }),
  });
  layers = quantized.prepared.nodes.filter((node) => node.opType === 'Conv' || node.opType === 'Gemm').map((node) => node.name);
}, 60_000);

/** Whether `node`'s weight is still a float initializer in `graph` (the node was left in float). */
function isFloat(graph: Graph, node: string): boolean {
  return graph.initializers.get(graph.node(node)!.inputs[1]!)?.dtype === 'float32';
}

/** The real backend, with `delayMs` added to each run of a graph for which `slow` holds. */
function slowed(slow: (graph: Graph) => boolean, delayMs: number): Backend {
  return {
    ...backend,
    async createSession(model, options) {
      const session = await backend.createSession(model, options);
      const delay = slow(model as Graph) ? delayMs : 0;
      return {
        ...session,
        run: async (feeds, runOptions) => {
          const outputs = await session.run(feeds, runOptions);
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
          return outputs;
        },
        release: () => session.release(),
      };
    },
  };
}

describe('floatStem', () => {
  it('measures the all-int8 model and each stem of leading weighted layers, and returns the one it picked', async () => {
    expect(layers).toHaveLength(5);
    const stem = await floatStem(quantized.prepared, { backend, ranges: quantized.ranges, batchSizes: [1, 8], maxLayers: 3, rounds: 2, sessionOptions: { threads: 1 } });
    expect(stem.trials.map((trial) => trial.floatNodes)).toEqual([[], layers.slice(0, 1), layers.slice(0, 2), layers.slice(0, 3)]);
    expect(stem.trials[0]!.score).toBe(1);
    for (const trial of stem.trials) {
      expect(Object.keys(trial.medianMs)).toEqual(['1', '8']);
      expect(trial.medianMs[1]).toBeGreaterThan(0);
      expect(trial.score).toBeCloseTo((trial.medianMs[1]! / stem.trials[0]!.medianMs[1]! + trial.medianMs[8]! / stem.trials[0]!.medianMs[8]!) / 2, 9);
    }
    expect(Object.keys(stem.floatMedianMs)).toEqual(['1', '8']);
    // The pick: none unless some stem is at least 3% under the all-int8 model; then the shortest
    // stem within 3% of the fastest.
    const fastest = Math.min(...stem.trials.map((trial) => trial.score));
    const expected = fastest > 0.97 ? [] : stem.trials.find((trial) => trial.score <= Math.min(fastest + 0.03, 0.97))!.floatNodes;
    expect(stem.floatNodes).toEqual(expected);
    // The returned graph leaves exactly those layers in float.
    for (const layer of layers) expect(isFloat(stem.result.graph, layer), layer).toBe(stem.floatNodes.includes(layer));
  });

  it('keeps the first layer in float when its integer form is what makes the model slow, and none when float is', async () => {
    const first = layers[0]!;
    // Every graph whose first convolution is quantized takes 20 ms longer per run.
    const slowInt8 = await floatStem(quantized.prepared, { backend: slowed((graph) => !isFloat(graph, first), 20), ranges: quantized.ranges, maxLayers: 2, rounds: 2 });
    expect(slowInt8.trials[1]!.score).toBeLessThan(0.5);
    // One float layer is enough; the second would gain nothing the noise could not explain away.
    if (slowInt8.trials[2]!.score >= slowInt8.trials[1]!.score - 0.03) expect(slowInt8.floatNodes).toEqual([first]);
    else expect(slowInt8.floatNodes).toEqual(layers.slice(0, 2));
    // Every graph with the first convolution in float is the slow one: the all-int8 model wins.
    const slowFloat = await floatStem(quantized.prepared, { backend: slowed((graph) => isFloat(graph, first), 20), ranges: quantized.ranges, maxLayers: 2, rounds: 2 });
    expect(slowFloat.floatNodes).toEqual([]);
    for (const layer of layers) expect(isFloat(slowFloat.result.graph, layer)).toBe(false);
  });

  it('measures a model with a fixed batch size at that size only', async () => {
    const fixed = quantized.prepared.clone();
    fixed.inputs[0]!.type = { dtype: 'float32', shape: [4, 1, 28, 28] };
    const stem = await floatStem(fixed, { backend, ranges: quantized.ranges, maxLayers: 1, rounds: 1 });
    expect(stem.trials.map((trial) => Object.keys(trial.medianMs))).toEqual([['4'], ['4']]);
    expect(Object.keys(stem.floatMedianMs)).toEqual(['4']);
  });

  it('rejects settings it cannot measure with', async () => {
    const base = { backend, ranges: quantized.ranges };
    await expect(floatStem(quantized.prepared, { ...base, batchSizes: [] })).rejects.toThrow(/batchSizes must be positive integers/);
    await expect(floatStem(quantized.prepared, { ...base, maxLayers: 0 })).rejects.toThrow(/maxLayers must be a positive integer/);
    await expect(floatStem(quantized.prepared, { ...base, minGain: 1 })).rejects.toThrow(/minGain must be in \[0, 1\)/);
    const symbolic = quantized.prepared.clone();
    symbolic.inputs[0]!.type = { dtype: 'float32', shape: ['batch', 1, 'height', 28] };
    await expect(floatStem(symbolic, base)).rejects.toThrow(/symbolic dimension 'height' at axis 2; only the batch axis may be symbolic/);
    // Ranges of the all-int8 plan only: leaving conv1 in float needs its pooled output's own range.
    const planned = await quantizeStatic(quantized.prepared, { backend, calibration: [], ranges: quantized.ranges });
    const partial = new Map([...quantized.ranges].filter(([value]) => planned.plan.activationsToCalibrate.includes(value)));
    await expect(floatStem(quantized.prepared, { backend, ranges: partial })).rejects.toThrow(/with conv1\/Conv in float, activation 'pool\/MaxPool_output' needs a range the calibration did not record; quantize with calibrateAll: true/);
  });
});

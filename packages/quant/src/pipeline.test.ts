// The quantization pipeline on a LeNet-5 trained here on real MNIST: calibration (against an
// independent min/max pass), data sources, quantizeStatic in both formats, layer sensitivity and
// mixed precision, measured with onnxruntime.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader, Tensor, Trainer, loadMnist, sgd, transforms, writeTensorFile, type Graph } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { createModel, toGraph } from '@razor/ops';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrateMinMax } from './__fixtures__/qdq/helpers.js';
import { calibrate, datasetFeeds, folderFeeds, type Feeds } from './calibrate.js';
import { prepareForQuantization } from './qdq/prepare.js';
import { planQuantization } from './qdq/plan.js';
import { quantizeStatic } from './quantize-static.js';
import { classifierTop1, layerSensitivity, mixedPrecision, quantizableNodes } from './sensitivity.js';

const backend = createOnnxruntimeBackend();
const normalize = transforms.normalize(0.1307, 0.3081);
const calibrationSet = loadMnist({ split: 'train', limit: 256 });
const testSet = loadMnist({ split: 'test', limit: 1000 });
const testLoader = new DataLoader(testSet, { batchSize: 100, transform: normalize });
const directory = mkdtempSync(join(tmpdir(), 'razor-quant-pipeline-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let model: Graph;
let input: string;
let output: string;
let floatTop1: number;

beforeAll(async () => {
  const graph = toGraph(createModel('lenet5', { seed: 0 }), { training: true, batch: 'batch' });
  const trainer = await Trainer.create({ graph, batchSize: 64, optimizer: sgd({ momentum: 0.9 }), learningRate: 0.05, backend, sessionOptions: { threads: 2 } });
  await trainer.fit({ train: new DataLoader(loadMnist({ split: 'train', limit: 4096 }), { batchSize: 64, shuffle: true, transform: normalize }), epochs: 2 });
  model = trainer.exportInference();
  await trainer.release();
  input = model.inputs[0]!.name;
  output = model.outputs[0]!.name;
  floatTop1 = await classifierTop1(backend, testLoader, { input, output })(model);
}, 120_000);

async function collect(data: AsyncIterable<Feeds>): Promise<Feeds[]> {
  const batches: Feeds[] = [];
  for await (const feeds of data) batches.push({ [input]: feeds[input]!.clone() });
  return batches;
}

describe('calibrate', () => {
  it('records the same min/max as an independent pass over the same batches, with progress', async () => {
    expect(floatTop1).toBeGreaterThan(85);
    const prepared = prepareForQuantization(model).graph;
    const values = planQuantization(prepared).activationsToCalibrate;
    expect(values).toContain(input);
    expect(values.length).toBeGreaterThan(4);
    const batches = await collect(datasetFeeds(calibrationSet, { input, batchSize: 64, transform: normalize }));
    expect(batches).toHaveLength(4);
    const progress: number[] = [];
    const result = await calibrate(prepared, { backend, values, data: batches, onProgress: (done) => progress.push(done) });
    expect(result).toMatchObject({ batches: 4, samples: 256 });
    expect(progress).toEqual([1, 2, 3, 4]);
    const reference = await calibrateMinMax(backend, prepared, values, batches);
    for (const value of values) {
      expect(result.ranges.get(value)!.min[0], value).toBe(reference.get(value)!.min[0]);
      expect(result.ranges.get(value)!.max[0], value).toBe(reference.get(value)!.max[0]);
    }
    // A histogram method sees the same data: its range lies inside the min/max one.
    const percentile = await calibrate(prepared, { backend, values, data: batches, method: 'percentile' });
    for (const value of values) {
      expect(percentile.ranges.get(value)!.max[0]).toBeLessThanOrEqual(reference.get(value)!.max[0]! + 1e-6);
    }
  });

  it('reads a folder of tensor files as batches, with or without the batch dimension', async () => {
    const batches = await collect(datasetFeeds(calibrationSet, { input, batchSize: 128, transform: normalize }));
    const folder = join(directory, 'calib');
    mkdirSync(folder);
    mkdirSync(join(directory, 'one'));
    await writeTensorFile(join(folder, 'a.npy'), batches[0]![input]!);
    await writeTensorFile(join(folder, 'b.npy'), batches[1]![input]!);
    const fromFolder = await collect(folderFeeds(folder, { input, sampleRank: 3 }));
    expect(fromFolder.map((feeds) => feeds[input]!.shape)).toEqual([
      [128, 1, 28, 28],
      [128, 1, 28, 28],
    ]);
    expect(Array.from(fromFolder[1]![input]!.data as Float32Array)).toEqual(Array.from(batches[1]![input]!.data as Float32Array));
    const sample = (batches[0]![input]!.data as Float32Array).slice(0, 784);
    await writeTensorFile(join(directory, 'one', 'sample.npy'), new Tensor('float32', [1, 28, 28], sample));
    const fromSample = await collect(folderFeeds(join(directory, 'one'), { input, sampleRank: 3 }));
    expect(fromSample[0]![input]!.shape).toEqual([1, 1, 28, 28]);
  });

  it('explains bad values and missing data', async () => {
    const prepared = prepareForQuantization(model).graph;
    const weight = [...prepared.initializers.keys()][0]!;
    const batches = await collect(datasetFeeds(calibrationSet, { input, batchSize: 256, transform: normalize }));
    await expect(calibrate(prepared, { backend, values: ['no_such_value'], data: batches })).rejects.toMatchObject({ code: 'RAZOR_INVALID_ARGUMENT', message: expect.stringMatching(/'no_such_value' is not a value/) });
    await expect(calibrate(prepared, { backend, values: [weight], data: batches })).rejects.toMatchObject({ code: 'RAZOR_INVALID_ARGUMENT', message: expect.stringMatching(/initializer.*not an activation/) });
    await expect(calibrate(prepared, { backend, values: [input], data: [] })).rejects.toMatchObject({ code: 'RAZOR_INVALID_ARGUMENT', message: expect.stringMatching(/got no batches/) });
    await expect(collect(folderFeeds(join(directory, 'absent'), { input }))).rejects.toMatchObject({ code: 'RAZOR_FILE_NOT_FOUND' });
    await expect(collect(folderFeeds(join(directory), { input }))).rejects.toMatchObject({ code: 'RAZOR_INVALID_DATASET', message: expect.stringMatching(/no \.npy or \.pb tensor files/) });
  });
});

describe('quantizeStatic', () => {
  it('keeps top-1 within half a point of the float model, in QDQ and QOperator form, and reuses ranges', async () => {
    const metric = classifierTop1(backend, testLoader, { input, output });
    const qdq = await quantizeStatic(model, { backend, calibration: datasetFeeds(calibrationSet, { input, batchSize: 64, transform: normalize }) });
    expect(qdq.calibration).toMatchObject({ batches: 4, samples: 256, method: 'minmax' });
    expect(qdq.summary.quantizedByOpType).toMatchObject({ Conv: 2, Gemm: 3 });
    // Per-channel weights by default.
    expect(qdq.summary.perChannelWeights).toBe(qdq.summary.quantizedWeights);
    const qdqTop1 = await metric(qdq.graph);
    expect(Math.abs(floatTop1 - qdqTop1)).toBeLessThanOrEqual(0.5);

    const qoperator = await quantizeStatic(model, { backend, calibration: [], ranges: qdq.ranges, format: 'qoperator' });
    expect(qoperator.calibration).toBeUndefined();
    expect(qoperator.graph.nodes.some((node) => node.opType === 'QLinearConv')).toBe(true);
    expect(qoperator.graph.nodes.some((node) => node.opType === 'Conv')).toBe(false);
    expect(Math.abs((await metric(qoperator.graph)) - qdqTop1)).toBeLessThanOrEqual(0.3);
  });
});

describe('layer sensitivity and mixed precision', () => {
  it('measures each layer alone and keeps the most sensitive in float until the drop fits', async () => {
    const metric = classifierTop1(backend, testLoader, { input, output });
    const calibrated = await quantizeStatic(model, { backend, calibration: datasetFeeds(calibrationSet, { input, batchSize: 64, transform: normalize }), calibrateAll: true });
    const coarse = { activations: { type: 'uint8', symmetric: false } as const, weights: { type: 'int8', symmetric: true, reduceRange: true } as const };
    const layers = quantizableNodes(calibrated.prepared, coarse);
    expect(layers.map((layer) => layer.opType).sort()).toEqual(['Conv', 'Conv', 'Gemm', 'Gemm', 'Gemm']);
    const progress: number[] = [];
    const sensitivity = await layerSensitivity(calibrated.prepared, { ...coarse, ranges: calibrated.ranges, metric, baseline: floatTop1, onProgress: (done) => progress.push(done) });
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(sensitivity.layers).toHaveLength(5);
    for (let index = 1; index < sensitivity.layers.length; index++) expect(sensitivity.layers[index - 1]!.drop).toBeGreaterThanOrEqual(sensitivity.layers[index]!.drop);
    for (const layer of sensitivity.layers) {
      expect(layer.drop).toBeCloseTo(floatTop1 - layer.metric, 10);
      expect(Math.abs(layer.drop)).toBeLessThan(5);
    }
    // A budget the full quantization meets: nothing stays float, one trial.
    const loose = await mixedPrecision(calibrated.prepared, { ...coarse, ranges: calibrated.ranges, metric, baseline: floatTop1, maxDrop: 100, sensitivity: sensitivity.layers });
    expect(loose).toMatchObject({ floatNodes: [], withinBudget: true });
    expect(loose.trials).toHaveLength(1);
    // An impossible budget (better than float): every layer ends in float, in sensitivity order.
    const strict = await mixedPrecision(calibrated.prepared, { ...coarse, ranges: calibrated.ranges, metric, baseline: floatTop1 + 50, maxDrop: 0, sensitivity: sensitivity.layers });
    expect(strict.withinBudget).toBe(false);
    expect(strict.floatNodes).toEqual(sensitivity.layers.map((layer) => layer.node));
    expect(strict.trials.map((trial) => trial.floatNodes)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(strict.result.summary.quantizedNodes).toBe(0);
    expect(strict.metric).toBeCloseTo(await metric(strict.result.graph), 10);
    await expect(mixedPrecision(calibrated.prepared, { ...coarse, ranges: calibrated.ranges, metric, maxDrop: -1, sensitivity: [] })).rejects.toMatchObject({ code: 'RAZOR_INVALID_ARGUMENT' });
  });
});

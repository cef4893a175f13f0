// Losses built into graphs, run on onnxruntime, against PyTorch 1.13's torch.nn.functional
// values for the same inputs (computed with /usr/bin/python3 and inlined).
import {
  Graph,
  Tensor,
  binaryCrossEntropyLoss,
  binaryCrossEntropyWithLogitsLoss,
  crossEntropyLoss,
  klDivergenceLoss,
  l1Loss,
  mseLoss,
  type Dim,
} from '@razor/core';
import { catchRazorError } from '@razor/core/testing';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { describe, expect, it } from 'vitest';

const pytorch = {"ce_mean": [1.8487420082092285], "ce_sum": [11.092452049255371], "ce_none": [3.7656571865081787, 2.4108164310455322, 0.7846553921699524, 0.17066700756549835, 2.647207021713257, 1.3134492635726929], "ce_smooth": [1.932302713394165], "ce_ignore": [1.5086071491241455], "ce_ignore_smooth_sum": [7.000115871429443], "mse": [5.152177810668945], "mse_none": [0.0, 0.9391448497772217, 5.957738399505615, 10.741312026977539, 3.566126823425293, 1.606479287147522, 13.055724143981934, 10.6697359085083, 1.13629949092865, 0.6600347757339478, 2.4049580097198486, 3.9114270210266113, 6.032147407531738, 3.558576822280884, 0.24463364481925964, 10.527604103088379, 14.948493957519531, 3.0477294921875, 1.1832754611968994, 5.895524024963379, 4.880845546722412, 2.9238009452819824, 1.5111662149429321, 0.02182096242904663, 5.994900703430176, 14.52180290222168, 6.258100509643555, 0.44559669494628906, 9.055351257324219, 8.86497688293457], "l1_sum": [60.05068588256836], "kl_t4": [1.7002826929092407], "kl_t1_sum": [7.956211090087891], "bce_logits": [1.2272073030471802], "bce": [4.537436008453369]};
const probabilities = [0.0, 0.8735427856445312, 0.9505627751350403, 0.9301910400390625, 0.7320335507392883, 0.25877413153648376, 0.06819659471511841, 0.04986153542995453, 0.13081181049346924, 0.512607753276825, 0.8777141571044922, 0.9509445428848267, 0.928494930267334, 0.7225798964500427, 0.24984532594680786, 0.06666480749845505, 0.050329048186540604, 0.13535578548908234, 0.5251959562301636, 0.8817085027694702, 0.9512847661972046, 0.9267116785049438, 0.7128682136535645, 0.24118125438690186, 0.0652104839682579, 0.050840768963098526, 0.1400953233242035, 0.5377450585365295, 0.8855317831039429, 0.9515841007232666];

const N = 6;
const C = 5;
const series = (length: number, value: (index: number) => number): number[] => Array.from({ length }, (_, index) => value(index));
const feeds: Record<string, Tensor> = {
  logits: Tensor.float32([N, C], series(N * C, (i) => Math.sin(i * 0.7) * 3)),
  teacher: Tensor.float32([N, C], series(N * C, (i) => Math.cos(i * 0.3) * 2)),
  labels: Tensor.from('int64', [N], [0, 3, 1, 4, 2, 3]),
  ignored: Tensor.from('int64', [N], [0, -100, 1, 4, -100, 3]),
  target: Tensor.float32([N, C], series(N * C, (i) => Math.sin(i * 1.3))),
  binary: Tensor.float32([N, C], series(N * C, (i) => ((i * 7) % 3 === 0 ? 1 : 0))),
  probabilities: Tensor.float32([N, C], probabilities),
};

const backend = createOnnxruntimeBackend();

/** Builds a graph over the named feeds with `build`, runs it, returns the loss values. */
async function loss(inputs: string[], build: (graph: Graph) => string): Promise<number[]> {
  const graph = new Graph('loss');
  graph.opsetImports = new Map([['', 17]]);
  for (const name of inputs) {
    const tensor = feeds[name]!;
    graph.inputs.push({ name, type: { dtype: tensor.dtype, shape: tensor.shape as Dim[] } });
  }
  const output = build(graph);
  graph.outputs.push({ name: output });
  const session = await backend.createSession(graph);
  const result = await session.run(Object.fromEntries(inputs.map((name) => [name, feeds[name]!])));
  await session.release();
  return Array.from(result[output]!.toFloat32());
}

function expectClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, index) => expect(Math.abs(value - expected[index]!), `element ${index}: ${value} vs ${expected[index]}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected[index]!))));
}

describe('losses match PyTorch', () => {
  it('cross-entropy, mean, sum and none', async () => {
    expectClose(await loss(['logits', 'labels'], (g) => crossEntropyLoss(g, 'logits', 'labels', { numClasses: C })), pytorch.ce_mean);
    expectClose(await loss(['logits', 'labels'], (g) => crossEntropyLoss(g, 'logits', 'labels', { numClasses: C, reduction: 'sum' })), pytorch.ce_sum);
    expectClose(await loss(['logits', 'labels'], (g) => crossEntropyLoss(g, 'logits', 'labels', { reduction: 'none' })), pytorch.ce_none);
  });

  it('cross-entropy with label smoothing and ignore_index', async () => {
    expectClose(await loss(['logits', 'labels'], (g) => crossEntropyLoss(g, 'logits', 'labels', { labelSmoothing: 0.1 })), pytorch.ce_smooth);
    expectClose(await loss(['logits', 'ignored'], (g) => crossEntropyLoss(g, 'logits', 'ignored', { ignoreIndex: -100 })), pytorch.ce_ignore);
    expectClose(
      await loss(['logits', 'ignored'], (g) => crossEntropyLoss(g, 'logits', 'ignored', { ignoreIndex: -100, labelSmoothing: 0.2, reduction: 'sum' })),
      pytorch.ce_ignore_smooth_sum,
    );
  });

  it('MSE and L1', async () => {
    expectClose(await loss(['logits', 'target'], (g) => mseLoss(g, 'logits', 'target')), pytorch.mse);
    expectClose(await loss(['logits', 'target'], (g) => mseLoss(g, 'logits', 'target', { reduction: 'none' })), pytorch.mse_none);
    expectClose(await loss(['logits', 'target'], (g) => l1Loss(g, 'logits', 'target', { reduction: 'sum' })), pytorch.l1_sum);
  });

  it('KL divergence with temperature (T² scaling, batchmean) and without', async () => {
    expectClose(await loss(['logits', 'teacher'], (g) => klDivergenceLoss(g, 'logits', 'teacher', { temperature: 4 })), pytorch.kl_t4);
    expectClose(await loss(['logits', 'teacher'], (g) => klDivergenceLoss(g, 'logits', 'teacher', { reduction: 'sum' })), pytorch.kl_t1_sum);
  });

  it('binary cross-entropy on logits and on probabilities (with PyTorch\'s log clamp)', async () => {
    expectClose(await loss(['logits', 'binary'], (g) => binaryCrossEntropyWithLogitsLoss(g, 'logits', 'binary')), pytorch.bce_logits);
    expectClose(await loss(['probabilities', 'binary'], (g) => binaryCrossEntropyLoss(g, 'probabilities', 'binary')), pytorch.bce);
  });
});

describe('loss arguments', () => {
  it('needs the class count when the graph does not know it', () => {
    const graph = new Graph('loss');
    graph.inputs.push({ name: 'logits', type: { dtype: 'float32', shape: ['N', 'C'] } });
    const error = catchRazorError(() => crossEntropyLoss(graph, 'logits', 'labels'));
    expect(error.message).toMatch(/class count of logits 'logits' is not known; run inferShapes first or pass numClasses/);
  });

  it('rejects a numClasses that contradicts the logits, and old opsets', () => {
    const graph = new Graph('loss');
    graph.inputs.push({ name: 'logits', type: { dtype: 'float32', shape: [2, 5] } });
    expect(catchRazorError(() => crossEntropyLoss(graph, 'logits', 'labels', { numClasses: 4 })).code).toBe('RAZOR_SHAPE_MISMATCH');
    graph.opsetImports = new Map([['', 11]]);
    expect(catchRazorError(() => mseLoss(graph, 'logits', 'logits')).message).toMatch(/opset 11; razor's losses need opset 13 or newer/);
  });
});

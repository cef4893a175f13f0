// Training-step graphs on onnxruntime against PyTorch 1.13 trajectories
// (tools/fixtures/train_step_reference.py), and a short real training run on MNIST.
import {
  DataLoader,
  Graph,
  Tensor,
  adam,
  buildTrainStep,
  crossEntropyLoss,
  loadMnist,
  sgd,
  type Optimizer,
  type TrainStep,
  type TrainStepOptions,
} from '@razor/core';
import { catchRazorError } from '@razor/core/testing';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { describe, expect, it } from 'vitest';
import reference from './__fixtures__/train-step-reference.json' with { type: 'json' };

const backend = createOnnxruntimeBackend();
const TOLERANCE = 1e-5;

interface ReferenceStep {
  loss: number;
  gradNorm: number;
  parameters: Record<string, number[]>;
}
interface ReferenceModel {
  inputShape: number[];
  initial: Record<string, { shape: number[]; values: number[] }>;
  batches: { images: number[]; labels: number[] }[];
  frozen: string;
  cases: Record<'sgd' | 'adam' | 'clip' | 'groups', ReferenceStep[]>;
}
type ModelKind = 'mlp' | 'cnn';
const references = reference as Record<ModelKind, ReferenceModel>;

/** Gemm → Relu → Gemm over [batch, inputs], as torch.nn.Linear layers (weights [out, in], transB). */
function mlp(initial: Record<string, Tensor>, inputs: number, classes: number): Graph {
  const graph = new Graph('mlp');
  graph.opsetImports.set('', 17);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', inputs] } });
  for (const [name, tensor] of Object.entries(initial)) graph.initializers.set(name, tensor);
  graph.addNode({ opType: 'Gemm', inputs: ['x', 'fc1.weight', 'fc1.bias'], outputs: ['hidden'], attributes: { transB: 1 }, name: 'fc1' });
  graph.addNode({ opType: 'Relu', inputs: ['hidden'], outputs: ['activation'], name: 'relu' });
  graph.addNode({ opType: 'Gemm', inputs: ['activation', 'fc2.weight', 'fc2.bias'], outputs: ['logits'], attributes: { transB: 1 }, name: 'fc2' });
  graph.outputs.push({ name: 'logits', type: { dtype: 'float32', shape: ['batch', classes] } });
  return graph;
}

/** Conv(3×3, pad 1) → Relu → GlobalAveragePool → Flatten → Gemm. */
function cnn(initial: Record<string, Tensor>, channels: number, size: number): Graph {
  const graph = new Graph('cnn');
  graph.opsetImports.set('', 17);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', channels, size, size] } });
  for (const [name, tensor] of Object.entries(initial)) graph.initializers.set(name, tensor);
  graph.addNode({ opType: 'Conv', inputs: ['x', 'conv.weight', 'conv.bias'], outputs: ['features'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, name: 'conv' });
  graph.addNode({ opType: 'Relu', inputs: ['features'], outputs: ['activation'], name: 'relu' });
  graph.addNode({ opType: 'GlobalAveragePool', inputs: ['activation'], outputs: ['pooled'], name: 'pool' });
  graph.addNode({ opType: 'Flatten', inputs: ['pooled'], outputs: ['flat'], name: 'flatten' });
  graph.addNode({ opType: 'Gemm', inputs: ['flat', 'fc.weight', 'fc.bias'], outputs: ['logits'], attributes: { transB: 1 }, name: 'fc' });
  graph.outputs.push({ name: 'logits', type: { dtype: 'float32' } });
  return graph;
}

/** Appends int64 labels [batch] and the mean cross-entropy of the logits. */
function crossEntropy(graph: Graph): string {
  graph.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: ['batch'] } });
  return crossEntropyLoss(graph, 'logits', 'labels');
}

function referenceGraph(kind: ModelKind): Graph {
  const model = references[kind];
  const initial = Object.fromEntries(Object.entries(model.initial).map(([name, entry]) => [name, Tensor.float32(entry.shape, entry.values)]));
  return kind === 'mlp' ? mlp(initial, 8, 3) : cnn(initial, 1, 6);
}

/** Runs the step graph over the reference batches, feeding each step's `.next` outputs back. */
async function train(kind: ModelKind, options: Omit<TrainStepOptions, 'loss'>, learningRate: number, extraFeeds: Record<string, Tensor> = {}) {
  const model = references[kind];
  const built = buildTrainStep(referenceGraph(kind), { loss: crossEntropy, dims: { batch: 4 }, ...options });
  const session = await backend.createSession(built.step);
  const carried: Record<string, Tensor> = { ...built.initialParameters };
  for (const { name, initial } of built.state) carried[name] = initial;
  const steps: { loss: number; gradNorm: number | undefined; parameters: Record<string, Float32Array> }[] = [];
  try {
    for (const [index, batch] of model.batches.entries()) {
      const outputs = await session.run({
        ...carried,
        ...extraFeeds,
        x: Tensor.float32(model.inputShape, batch.images),
        labels: Tensor.from('int64', [batch.labels.length], batch.labels),
        learning_rate: Tensor.scalar('float32', learningRate),
        step: Tensor.scalar('float32', index + 1),
      });
      for (const name of Object.keys(carried)) carried[name] = outputs[built.nextName(name)]!;
      steps.push({
        loss: outputs.loss!.numberAt(0),
        gradNorm: outputs.grad_norm?.numberAt(0),
        parameters: Object.fromEntries(built.parameters.map((name) => [name, carried[name]!.toFloat32()])),
      });
    }
  } finally {
    await session.release();
  }
  return { built, steps };
}

function maxDifference(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let index = 0; index < expected.length; index++) worst = Math.max(worst, Math.abs(actual[index]! - expected[index]!));
  return worst;
}

/** Every trained parameter after every step within 1e-5 of PyTorch; returns the largest difference. */
function expectTrajectory(kind: ModelKind, name: keyof ReferenceModel['cases'], steps: Awaited<ReturnType<typeof train>>['steps'], trained: readonly string[]): number {
  const expected = references[kind].cases[name];
  expect(steps).toHaveLength(expected.length);
  let worst = 0;
  steps.forEach((step, index) => {
    expect(step.loss).toBeCloseTo(expected[index]!.loss, 5);
    for (const parameter of trained) {
      const difference = maxDifference(step.parameters[parameter]!, expected[index]!.parameters[parameter]!);
      expect(difference, `${kind} ${name} step ${index + 1} ${parameter}`).toBeLessThan(TOLERANCE);
      worst = Math.max(worst, difference);
    }
  });
  return worst;
}

/** The trajectory moved away from the start: a step that updates nothing would fail here. */
function expectMoved(kind: ModelKind, steps: Awaited<ReturnType<typeof train>>['steps'], parameter: string): void {
  expect(maxDifference(steps.at(-1)!.parameters[parameter]!, references[kind].initial[parameter]!.values)).toBeGreaterThan(1e-3);
}

describe.each(['mlp', 'cnn'] as const)('buildTrainStep on the %s against PyTorch', (kind) => {
  const everyParameter = Object.keys(references[kind].initial);

  it('SGD with momentum and weight decay, three steps', async () => {
    const { built, steps } = await train(kind, { optimizer: sgd({ momentum: 0.9, weightDecay: 1e-3 }) }, 0.1);
    expect(built.parameters).toEqual(everyParameter);
    expect(built.state.map((entry) => entry.name)).toEqual(everyParameter.map((name) => `${name}.momentum`));
    expectTrajectory(kind, 'sgd', steps, everyParameter);
    for (const name of everyParameter) expectMoved(kind, steps, name);
  });

  it('Adam, three steps', async () => {
    const { steps } = await train(kind, { optimizer: adam() }, 0.01);
    expectTrajectory(kind, 'adam', steps, everyParameter);
  });

  it('gradient clipping by global norm as clip_grad_norm_, with the norm as an output', async () => {
    const { steps } = await train(kind, { optimizer: sgd({ momentum: 0.9 }), clipGradNorm: 0.3 }, 0.1);
    expectTrajectory(kind, 'clip', steps, everyParameter);
    steps.forEach((step, index) => expect(step.gradNorm).toBeCloseTo(references[kind].cases.clip[index]!.gradNorm, 5));
    // Without clipping the first step lands elsewhere: the clip changed the update.
    const unclipped = (await train(kind, { optimizer: sgd({ momentum: 0.9 }) }, 0.1)).steps[0]!;
    const bias = kind === 'mlp' ? 'fc2.bias' : 'fc.bias';
    expect(maxDifference(unclipped.parameters[bias]!, references[kind].cases.clip[0]!.parameters[bias]!)).toBeGreaterThan(1e-4);
  });

  it('a frozen weight stays unchanged; biases in a group without weight decay at half the rate', async () => {
    const frozen = references[kind].frozen;
    const { built, steps } = await train(
      kind,
      {
        optimizer: sgd({ momentum: 0.9, weightDecay: 0.01 }),
        frozen: [frozen],
        groups: [{ params: (name) => name.endsWith('.bias'), weightDecay: 0, learningRateScale: 0.5 }],
      },
      0.1,
    );
    expect(built.frozen).toEqual([frozen]);
    expect(built.parameters).not.toContain(frozen);
    expect(built.step.initializers.get(frozen)).toBeDefined();
    expect(built.step.isInput(frozen)).toBe(false);
    const trained = everyParameter.filter((name) => name !== frozen);
    expectTrajectory(kind, 'groups', steps, trained);
    // PyTorch left the frozen weight at its initial value; so did the step (it is not even an output).
    expect(maxDifference(references[kind].cases.groups.at(-1)!.parameters[frozen]!, references[kind].initial[frozen]!.values)).toBe(0);
    expect(built.step.outputs.some((output) => output.name === `${frozen}.next`)).toBe(false);
  });

  it('loss scaling leaves the update unchanged, as a constant and as an input', async () => {
    const constant = await train(kind, { optimizer: sgd({ momentum: 0.9, weightDecay: 1e-3 }), lossScale: 1024 }, 0.1);
    expectTrajectory(kind, 'sgd', constant.steps, everyParameter);
    const fed = await train(kind, { optimizer: sgd({ momentum: 0.9, weightDecay: 1e-3 }), lossScale: 'input' }, 0.1, { loss_scale: Tensor.scalar('float32', 256) });
    expect(fed.built.names.lossScale).toBe('loss_scale');
    expectTrajectory(kind, 'sgd', fed.steps, everyParameter);
    // The unscaled gradient norm: the one PyTorch measured.
    expect(fed.steps[0]!.gradNorm).toBeCloseTo(references[kind].cases.sgd[0]!.gradNorm, 5);
  });
});

describe('buildTrainStep graphs', () => {
  it('the eval graph computes the model outputs and the loss with parameters fed by name', async () => {
    const model = references.mlp;
    const { built, steps } = await train('mlp', { optimizer: sgd({ momentum: 0.9, weightDecay: 1e-3 }) }, 0.1);
    const evalSession = await backend.createSession(built.eval);
    const batch = model.batches[1]!;
    const outputs = await evalSession.run({
      ...Object.fromEntries(Object.entries(steps[0]!.parameters).map(([name, values]) => [name, Tensor.float32(model.initial[name]!.shape, values)])),
      x: Tensor.float32(model.inputShape, batch.images),
      labels: Tensor.from('int64', [batch.labels.length], batch.labels),
    });
    await evalSession.release();
    // The loss of batch 2 at the parameters after step 1 is what step 2 reported.
    expect(outputs.loss!.numberAt(0)).toBeCloseTo(model.cases.sgd[1]!.loss, 5);
    expect(outputs.logits!.shape).toEqual([4, 3]);
    expect(built.eval.inputs.map((input) => input.name).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'labels', 'x']);
    expect(built.dataInputs).toEqual(['x', 'labels']);
  });

  it('names every input and output predictably', () => {
    const built = buildTrainStep(referenceGraph('cnn'), { loss: crossEntropy, optimizer: adam(), clipGradNorm: 1, dims: { batch: 4 } });
    expect(built.step.inputs.map((input) => input.name)).toEqual([
      'x', 'labels', 'conv.weight', 'conv.bias', 'fc.weight', 'fc.bias', 'learning_rate', 'step',
      'conv.weight.exp_avg', 'conv.weight.exp_avg_sq', 'conv.bias.exp_avg', 'conv.bias.exp_avg_sq',
      'fc.weight.exp_avg', 'fc.weight.exp_avg_sq', 'fc.bias.exp_avg', 'fc.bias.exp_avg_sq',
    ]);
    expect(built.step.outputs.map((output) => output.name)).toEqual([
      'loss', 'grad_norm', 'logits',
      'conv.weight.next', 'conv.weight.exp_avg.next', 'conv.weight.exp_avg_sq.next',
      'conv.bias.next', 'conv.bias.exp_avg.next', 'conv.bias.exp_avg_sq.next',
      'fc.weight.next', 'fc.weight.exp_avg.next', 'fc.weight.exp_avg_sq.next',
      'fc.bias.next', 'fc.bias.exp_avg.next', 'fc.bias.exp_avg_sq.next',
    ]);
    expect(built.step.typeOf('conv.weight.next')?.shape).toEqual([4, 1, 3, 3]);
    expect(built.step.typeOf('loss')?.shape).toEqual([]);
  });

  it('carries training-mode BatchNormalization running statistics', () => {
    const graph = referenceGraph('cnn');
    graph.initializers.set('bn.scale', Tensor.float32([4], [1, 1, 1, 1]));
    graph.initializers.set('bn.bias', Tensor.float32([4], [0, 0, 0, 0]));
    graph.initializers.set('bn.running_mean', Tensor.float32([4], [0, 0, 0, 0]));
    graph.initializers.set('bn.running_var', Tensor.float32([4], [1, 1, 1, 1]));
    graph.nodes.find((node) => node.name === 'relu')!.inputs[0] = 'normalized';
    graph.addNode({ opType: 'BatchNormalization', inputs: ['features', 'bn.scale', 'bn.bias', 'bn.running_mean', 'bn.running_var'], outputs: ['normalized', 'bn_mean', 'bn_var'], attributes: { training_mode: 1 }, name: 'bn' }, 1);
    graph.invalidate();
    // No gradient rule for BatchNormalization yet: train only the layers after it, and check the wiring.
    const built = buildTrainStep(graph, { loss: crossEntropy, optimizer: sgd(), params: ['fc.weight', 'fc.bias'], dims: { batch: 4 } });
    expect(built.state.map((entry) => entry.name)).toEqual(['bn.running_mean', 'bn.running_var']);
    expect(built.step.outputs.map((output) => output.name)).toContain('bn.running_mean.next');
    expect(built.step.isInput('bn.running_var')).toBe(true);
    const evalNode = built.eval.nodes.find((node) => node.name === 'bn')!;
    expect(evalNode.outputs).toEqual(['normalized']);
    expect(evalNode.attributes.has('training_mode')).toBe(false);
  });

  it('rejects bad options with clear errors', () => {
    const graph = referenceGraph('mlp');
    const optimizer: Optimizer = sgd();
    expect(catchRazorError(() => buildTrainStep(graph, { loss: 'nope', optimizer })).message).toMatch(/loss 'nope' is not a value/);
    expect(catchRazorError(() => buildTrainStep(graph, { loss: crossEntropy, optimizer, params: ['x'] })).message).toMatch(/parameter 'x' is not an initializer/);
    expect(catchRazorError(() => buildTrainStep(graph, { loss: crossEntropy, optimizer, clipGradNorm: 0 })).code).toBe('RAZOR_INVALID_ARGUMENT');
    expect(catchRazorError(() => buildTrainStep(graph, { loss: crossEntropy, optimizer, frozen: () => true })).message).toMatch(/no parameter left to train/);
    expect(catchRazorError(() => buildTrainStep(graph, { loss: crossEntropy, optimizer, groups: [{ params: ['fc9.bias'] }], dims: { batch: 4 } })).message).toMatch(/'fc9.bias', which is not a trained parameter/);
    expect(catchRazorError(() => buildTrainStep(graph, { loss: (g) => (crossEntropy(g), crossEntropyLoss(g, 'logits', 'labels', { reduction: 'none' })), optimizer, dims: { batch: 4 } })).message).toMatch(/reduce it to a scalar/);
  });
});

describe('buildTrainStep trains on real data', () => {
  it('30 SGD steps on 512 MNIST images cut the loss clearly', async () => {
    const dataset = loadMnist({ split: 'train', limit: 512 });
    const loader = new DataLoader(dataset, { batchSize: 64, shuffle: true, seed: 7, dropLast: true });
    const hidden = 64;
    let seed = 12345;
    const uniform = (bound: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return ((seed / 4294967296) * 2 - 1) * bound;
    };
    // PyTorch's Linear initialisation: U(−1/√fan_in, 1/√fan_in).
    const layer = (outputs: number, inputs: number) => ({
      weight: Tensor.float32([outputs, inputs], Array.from({ length: outputs * inputs }, () => uniform(1 / Math.sqrt(inputs)))),
      bias: Tensor.float32([outputs], Array.from({ length: outputs }, () => uniform(1 / Math.sqrt(inputs)))),
    });
    const first = layer(hidden, 784);
    const second = layer(10, hidden);
    const graph = mlp({ 'fc1.weight': first.weight, 'fc1.bias': first.bias, 'fc2.weight': second.weight, 'fc2.bias': second.bias }, 784, 10);
    const flatten = graph.addNode({ opType: 'Flatten', inputs: ['images'], outputs: ['x_flat'], name: 'flatten_images' }, 0);
    graph.inputs = [{ name: 'images', type: { dtype: 'float32', shape: ['batch', 1, 28, 28] } }];
    graph.nodes.find((node) => node.name === 'fc1')!.inputs[0] = flatten.outputs[0]!;
    graph.invalidate();
    const built: TrainStep = buildTrainStep(graph, { loss: crossEntropy, optimizer: sgd({ momentum: 0.9 }), dims: { batch: 64 } });
    const session = await backend.createSession(built.step);
    const carried: Record<string, Tensor> = { ...built.initialParameters };
    for (const { name, initial } of built.state) carried[name] = initial;
    const losses: number[] = [];
    const started = performance.now();
    for (let epoch = 0; losses.length < 30; epoch++) {
      for await (const batch of loader.epoch(epoch)) {
        const outputs = await session.run({ ...carried, images: batch.images, labels: batch.labels, learning_rate: Tensor.scalar('float32', 0.05), step: Tensor.scalar('float32', losses.length + 1) });
        for (const name of Object.keys(carried)) carried[name] = outputs[built.nextName(name)]!;
        losses.push(outputs.loss!.numberAt(0));
        if (losses.length === 30) break;
      }
    }
    const elapsed = performance.now() - started;
    await session.release();
    const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
    const start = mean(losses.slice(0, 3));
    const end = mean(losses.slice(-5));
    console.log(`MNIST MLP: loss ${start.toFixed(3)} (first 3 steps) → ${end.toFixed(3)} (last 5), 30 steps in ${elapsed.toFixed(0)} ms`);
    // An untrained 10-class model starts near ln 10 = 2.30.
    expect(start).toBeGreaterThan(2.0);
    expect(end).toBeLessThan(0.4 * start);
  });
});

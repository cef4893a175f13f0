// Whole-model gradients against PyTorch autograd: ResNet-20 and MobileNetV2 (width 0.5) with a
// cross-entropy loss, in eval mode and in training mode (BatchNorm on batch statistics), with
// the deterministic weights and input of tools/fixtures/gradient_reference.py. The reference is
// PyTorch in float64; each parameter's gradient must land within max(2e-3, 4 × PyTorch's own
// float32 error) of it, relative to max(its norm, 1e-3 × the largest gradient norm). Training-mode
// MobileNetV2 is badly conditioned in float32 (PyTorch itself is 2% off on its worst parameter);
// ResNet-20 is not (1e-6).
import { Tensor, buildGradients, buildTrainStep, crossEntropyLoss, sgd } from '@razor/core';
import { createModel, toGraph, type CreateModelOptions } from '@razor/ops';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { describe, expect, it } from 'vitest';
import { parityInput, parityStateDict } from './__fixtures__/parity-weights.js';
import referenceJson from './__fixtures__/gradient-reference.json' with { type: 'json' };

interface GradientSummary {
  norm: number;
  float32Error: number;
  sum: number;
  samples: number[][];
}

interface ReferenceCase {
  model: string;
  options: CreateModelOptions;
  inputShape: number[];
  labels: number[];
  mode: 'eval' | 'train';
  loss: number;
  float32LossError: number;
  largestGradientNorm: number;
  gradients: Record<string, GradientSummary>;
  runningStatisticSums: Record<string, number>;
}

const reference = referenceJson as unknown as { cases: ReferenceCase[] };
// onnxruntime's 'all' level swaps in its NCHWc convolution kernels, which round differently: in
// ResNet-20's training graph one ReLU input in layer1.2 then lands on the other side of 0 and its
// gradient element flips (a kink, not an error). 'extended' keeps the plain kernels PyTorch's
// float32 rounding resembles, so the comparison stays element-exact.
const backend = createOnnxruntimeBackend({ defaultSessionOptions: { graphOptimizationLevel: 'extended' } });

/**
 * Differences from the float64 reference beyond max(2e-3, 4 × PyTorch's own float32 error),
 * relative to max(the gradient's norm, 1e-3 × the largest gradient norm): norms, sums and
 * sampled elements of every parameter's gradient, and the loss.
 */
function gradientProblems(entry: ReferenceCase, lossValue: number, gradientOf: (name: string) => Float32Array): string[] {
  const problems: string[] = [];
  if (Math.abs(lossValue - entry.loss) > Math.max(1e-5 * Math.abs(entry.loss), 4 * entry.float32LossError)) problems.push(`loss ${lossValue} vs ${entry.loss}`);
  for (const [name, expected] of Object.entries(entry.gradients)) {
    const values = gradientOf(name);
    let squares = 0;
    let sum = 0;
    for (const value of values) {
      squares += value * value;
      sum += value;
    }
    const scale = Math.max(expected.norm, 1e-3 * entry.largestGradientNorm);
    const tolerance = Math.max(2e-3, 4 * expected.float32Error);
    if (Math.abs(Math.sqrt(squares) - expected.norm) > tolerance * scale) problems.push(`${name}: norm ${Math.sqrt(squares)} vs ${expected.norm}`);
    if (Math.abs(sum - expected.sum) > tolerance * scale * Math.sqrt(values.length)) problems.push(`${name}: sum ${sum} vs ${expected.sum}`);
    for (const [index, value] of expected.samples as [number, number][]) {
      if (Math.abs(values[index]! - value) > tolerance * scale) problems.push(`${name}[${index}]: ${values[index]} vs ${value}`);
    }
  }
  return problems;
}

describe('whole-model gradients match PyTorch autograd', () => {
  it.each(reference.cases.map((entry) => [entry.model, entry.mode, entry] as const))('%s, %s mode', async (_name, mode, entry) => {
    const model = createModel(entry.model, entry.options);
    model.loadStateDict(parityStateDict(model));
    const graph = toGraph(model, { training: mode === 'train', batch: entry.inputShape[0]! });
    graph.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [entry.labels.length] } });
    const loss = crossEntropyLoss(graph, 'output', 'labels', { numClasses: 10, name: 'loss' });
    graph.outputs = [{ name: 'output' }, { name: loss }];
    const parameters = [...model.namedParameters()].map(([name]) => name);
    const { graph: gradientGraph, gradients } = buildGradients(graph, { loss, wrt: parameters });

    const session = await backend.createSession(gradientGraph, { threads: 2 });
    const result = await session.run({ input: parityInput(entry.inputShape), labels: Tensor.from('int64', [entry.labels.length], entry.labels) });
    await session.release();

    expect(gradientProblems(entry, result[loss]!.toFloat32()[0]!, (name) => result[gradients[name]!]!.toFloat32())).toEqual([]);
  });
});

describe('training steps follow PyTorch: gradients and running statistics', () => {
  const trainCases = reference.cases.filter((entry) => entry.mode === 'train');
  async function trainStep(entry: ReferenceCase, runningVariance: 'unbiased' | 'population'): Promise<{ sums: Record<string, number>; problems: string[] }> {
    const model = createModel(entry.model, entry.options);
    model.loadStateDict(parityStateDict(model));
    const graph = toGraph(model, { training: true, batch: entry.inputShape[0]! });
    graph.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [entry.labels.length] } });
    const loss = crossEntropyLoss(graph, 'output', 'labels', { numClasses: 10, name: 'loss' });
    graph.outputs = [{ name: 'output' }, { name: loss }];
    const built = buildTrainStep(graph, { loss, optimizer: sgd({ momentum: 0 }), runningVariance });
    const feeds: Record<string, Tensor> = {
      input: parityInput(entry.inputShape),
      labels: Tensor.from('int64', [entry.labels.length], entry.labels),
      // Learning rate 1 without momentum or decay: p.next = p − grad gives the gradient back.
      learning_rate: Tensor.from('float32', [], [1]),
      step: Tensor.from('float32', [], [1]),
      ...built.initialParameters,
    };
    for (const carried of built.state) feeds[carried.name] = carried.initial;
    const session = await backend.createSession(built.step, { threads: 2 });
    const result = await session.run(feeds);
    await session.release();
    const sums: Record<string, number> = {};
    for (const name of Object.keys(entry.runningStatisticSums)) sums[name] = result[built.nextName(name)]!.toFloat32().reduce((total, value) => total + value, 0);
    const gradientOf = (name: string): Float32Array => {
      const before = built.initialParameters[name]!.toFloat32();
      const after = result[built.nextName(name)]!.toFloat32();
      return before.map((value, index) => value - after[index]!);
    };
    return { sums, problems: gradientProblems(entry, result.loss!.toFloat32()[0]!, gradientOf) };
  }

  it.each(trainCases.map((entry) => [entry.model, entry] as const))('%s', async (_name, entry) => {
    const { sums: unbiased, problems } = await trainStep(entry, 'unbiased');
    // The step's own backward (BatchNorm reusing its batch statistics) gives PyTorch's gradients too.
    expect(problems).toEqual([]);
    const population = entry.model === 'resnet20' ? (await trainStep(entry, 'population')).sums : undefined;
    let populationOff = 0;
    for (const [name, expected] of Object.entries(entry.runningStatisticSums)) {
      expect(Math.abs(unbiased[name]! - expected), name).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected)));
      if (population && Math.abs(population[name]! - expected) > 1e-4 * Math.max(1, Math.abs(expected))) populationOff++;
    }
    // ONNX's own update (population variance) is what PyTorch does not do: it must show.
    if (population) expect(populationOff).toBeGreaterThan(0);
  });
});

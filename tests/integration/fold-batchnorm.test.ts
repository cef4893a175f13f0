import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Graph, Tensor, decodeTensorProto, foldBatchNorm, readOnnx } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';

const here = new URL('../../packages/core/src/passes/__fixtures__/', import.meta.url);
const models = new URL('../../packages/core/src/__fixtures__/models/', import.meta.url);

function load(url: URL): Graph {
  return readOnnx(new Uint8Array(readFileSync(url)));
}

function tensorFile(url: URL): Tensor {
  return decodeTensorProto(new Uint8Array(readFileSync(url))).tensor;
}

function count(graph: Graph, opType: string): number {
  return graph.nodes.filter((node) => node.opType === opType).length;
}

function maxDifference(left: Tensor, right: Tensor): number {
  const a = left.toFloat32();
  const b = right.toFloat32();
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

const backend = createOnnxruntimeBackend();

async function run(graph: Graph, input: Tensor): Promise<Tensor> {
  const session = await backend.createSession(graph);
  try {
    const outputs = await session.run({ [graph.inputs[0]!.name]: input });
    return outputs[graph.outputs[0]!.name]!;
  } finally {
    await session.release();
  }
}

describe('foldBatchNorm', () => {
  it('folds Conv, grouped Conv, grouped ConvTranspose, shared-weight Conv, Gemm and MatMul, keeping the outputs', async () => {
    const original = load(new URL('fold-batchnorm.onnx', here));
    const input = tensorFile(new URL('fold-batchnorm.input_0.pb', here));
    const expected = tensorFile(new URL('fold-batchnorm.output_0.pb', here));
    const shared = original.initializers.get('shared.weight')!;
    const sharedBefore = Float32Array.from(shared.data as Float32Array);

    const graph = original.clone();
    expect(foldBatchNorm(graph)).toBe(7);
    // bn5 stays: its Conv output also feeds an Add.
    expect(count(graph, 'BatchNormalization')).toBe(1);
    expect(graph.nodes.find((node) => node.opType === 'BatchNormalization')!.inputs.slice(1)).toEqual([
      'bn5.weight',
      'bn5.bias',
      'bn5.running_mean',
      'bn5.running_var',
    ]);
    expect(count(graph, 'MatMul')).toBe(0);
    expect(count(graph, 'Gemm')).toBe(2);
    // Folded tensors are new; the shared weight is untouched and, unused now, dropped from the folded graph.
    expect(shared.data).toEqual(sharedBefore);
    expect(graph.initializers.has('shared.weight')).toBe(false);
    expect(original.initializers.get('shared.weight')).toBe(shared);
    expect([...graph.initializers.keys()].filter((name) => name.startsWith('bn1.'))).toEqual([]);
    const sharedUsers = graph.nodes.filter((node) => node.opType === 'Conv' && node.inputs[1]!.startsWith('shared.weight'));
    expect(sharedUsers).toHaveLength(2);
    expect(sharedUsers[0]!.inputs[1]).not.toBe(sharedUsers[1]!.inputs[1]);
    // conv2 had no bias: one was created.
    expect(graph.nodes.find((node) => node.inputs[1]?.startsWith('conv2.weight'))!.inputs).toHaveLength(3);

    const before = await run(original, input);
    const after = await run(graph, input);
    expect(maxDifference(before, expected)).toBeLessThan(1e-4);
    expect(maxDifference(after, expected)).toBeLessThan(1e-4);
    expect(maxDifference(after, before)).toBeLessThan(1e-4);
  });

  it('gives the weights PyTorch computes when it fuses BatchNormalization at export', () => {
    const preserved = load(new URL('small-cnn-bn-preserved.onnx', models));
    const fused = load(new URL('small-cnn-bn-fused.onnx', models));
    expect(foldBatchNorm(preserved)).toBe(count(load(new URL('small-cnn-bn-preserved.onnx', models)), 'BatchNormalization'));
    const convs = (graph: Graph) => graph.nodes.filter((node) => node.opType === 'Conv');
    const folded = convs(preserved);
    const reference = convs(fused);
    expect(folded).toHaveLength(reference.length);
    folded.forEach((node, position) => {
      for (const input of [1, 2]) {
        const mine = preserved.initializers.get(node.inputs[input]!)!;
        const torch = fused.initializers.get(reference[position]!.inputs[input]!)!;
        expect(mine.shape).toEqual(torch.shape);
        expect(maxDifference(mine, torch)).toBeLessThan(1e-5);
      }
    });
  });

  it('leaves training-mode, graph-input weights and multi-consumer outputs alone', () => {
    const build = (options: { training?: boolean; weightInput?: boolean; extraConsumer?: boolean }): Graph => {
      const graph = new Graph('bn');
      graph.opsetImports.set('', 15);
      graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 2, 3, 3] } });
      if (options.weightInput) graph.inputs.push({ name: 'w', type: { dtype: 'float32', shape: [2, 2, 1, 1] } });
      else graph.initializers.set('w', Tensor.float32([2, 2, 1, 1], [1, 2, 3, 4]));
      for (const name of ['scale', 'bias', 'mean', 'var']) graph.initializers.set(name, Tensor.float32([2], [1, 1]));
      graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv' });
      graph.addNode({
        opType: 'BatchNormalization',
        inputs: ['c', 'scale', 'bias', 'mean', 'var'],
        outputs: options.training ? ['y', 'running_mean', 'running_var'] : ['y'],
        attributes: options.training ? { training_mode: 1 } : {},
        name: 'bn',
      });
      graph.outputs.push({ name: 'y' });
      if (options.extraConsumer) graph.outputs.push({ name: 'c' });
      return graph;
    };
    expect(foldBatchNorm(build({}))).toBe(1);
    expect(foldBatchNorm(build({ training: true }))).toBe(0);
    expect(foldBatchNorm(build({ weightInput: true }))).toBe(0);
    expect(foldBatchNorm(build({ extraConsumer: true }))).toBe(0);
  });
});

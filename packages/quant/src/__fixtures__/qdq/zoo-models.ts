/**
 * Zoo models for the QDQ tests, with BatchNormalization statistics set from real inputs so that
 * activations have the scale of a trained network: with the zoo's initial statistics (mean 0,
 * variance 1) activations shrink to ~1e-9 through MobileNetV2, and a quantization test would only
 * see the classifier's bias.
 *
 * Each BatchNormalization gets one mean and one variance for all its channels, measured on its
 * input layer by layer (LSUV-style). Per-channel batch statistics would be the other choice, but on
 * MobileNetV2's 2×2 and 1×1 late feature maps they normalize each channel across a few samples and
 * make the random network chaotic: 1/255 of input noise then moves its logits by 26%, where
 * no 8-bit model can follow it (a trained network moves by far less).
 */
import { Tensor, loadMnist, type Backend, type Graph } from '@razor/core';
import { createModel, toGraph, type CreateModelOptions } from '@razor/ops';

/** MNIST test images [count, 1, 28, 28] from `offset`, pixels in [0, 1]. */
export function mnistImages(offset: number, count: number): Tensor<'float32'> {
  const dataset = loadMnist({ split: 'test', limit: offset + count });
  const data = new Float32Array(count * 28 * 28);
  for (let index = 0; index < count; index++) data.set(dataset.get(offset + index).image, index * 28 * 28);
  return new Tensor('float32', [count, 1, 28, 28], data);
}

/**
 * The inference graph of a zoo model with batch `batch`, whose BatchNormalization statistics are
 * measured on `statistics` (images of the model's input shape), one layer after the other.
 */
export async function zooGraph(backend: Backend, name: string, options: CreateModelOptions, batch: number, statistics: Tensor): Promise<Graph> {
  const model = createModel(name, options);
  const probe = toGraph(model, { batch: statistics.shape[0]! });
  const batchNorms = probe.nodes.filter((node) => node.opType === 'BatchNormalization');
  const feeds: Record<string, Tensor> = { [probe.inputs[0]!.name]: statistics };
  for (const node of batchNorms) {
    for (const position of [3, 4]) {
      const name = node.inputs[position]!;
      const tensor = probe.initializers.get(name)!;
      probe.initializers.delete(name);
      probe.inputs.push({ name, type: { dtype: 'float32', shape: [...tensor.shape] } });
      feeds[name] = tensor;
    }
    if (!probe.isOutput(node.inputs[0]!)) probe.outputs.push({ name: node.inputs[0]!, type: { dtype: 'float32' } });
  }
  const session = await backend.createSession(probe, { threads: 2 });
  try {
    for (const node of batchNorms) {
      const input = (await session.run(feeds, [node.inputs[0]!]))[node.inputs[0]!]!.data as Float32Array;
      let sum = 0;
      for (const value of input) sum += value;
      const mean = sum / input.length;
      let squares = 0;
      for (const value of input) squares += (value - mean) * (value - mean);
      const channels = feeds[node.inputs[3]!]!.size;
      feeds[node.inputs[3]!] = new Tensor('float32', [channels], new Float32Array(channels).fill(mean));
      feeds[node.inputs[4]!] = new Tensor('float32', [channels], new Float32Array(channels).fill(squares / input.length));
    }
  } finally {
    await session.release();
  }
  const graph = toGraph(model, { batch });
  for (const node of batchNorms) for (const position of [3, 4]) graph.initializers.set(node.inputs[position]!, feeds[node.inputs[position]!]!);
  return graph;
}

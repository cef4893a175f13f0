/**
 * A one-block transformer encoder classifier built with core's Graph API, seeded random
 * weights: token and position embeddings (Gather, Add), LayerNormalization, one-head
 * self-attention (MatMul + Add projections, Q·Kᵀ MatMul, Softmax, MatMul with V, output
 * projection, residual), a Relu MLP with residual, mean over the sequence and a Gemm head.
 */
import { Graph, Tensor, createRandom } from '@razor/core';

export const VOCABULARY = 16;
export const SEQUENCE = 8;
export const HIDDEN = 64;
export const MLP = 128;
export const CLASSES = 5;

function uniform(random: () => number, shape: readonly number[], scale: number): Tensor {
  const size = shape.reduce((product, dim) => product * dim, 1);
  const data = new Float32Array(size);
  for (let index = 0; index < size; index++) data[index] = (random() * 2 - 1) * scale;
  return new Tensor('float32', shape, data);
}

/** Input 'tokens' (int64 [batch, 8]), output 'logits' (float32 [batch, 5]). */
export function tinyTransformer(seed = 3): Graph {
  const random = createRandom(seed);
  const graph = new Graph('tiny-transformer');
  graph.opsetImports.set('', 17);
  graph.inputs.push({ name: 'tokens', type: { dtype: 'int64', shape: ['batch', SEQUENCE] } });
  const weight = (name: string, shape: number[], scale: number): string => graph.addInitializer(name, uniform(random, shape, scale));
  const constant = (name: string, tensor: Tensor): string => graph.addInitializer(name, tensor);
  const node = (opType: string, inputs: string[], output: string, attributes: Record<string, number | number[]> = {}): string => {
    graph.addNode({ opType, inputs, outputs: [output], attributes, name: output });
    return output;
  };
  // Linear layers scaled like PyTorch's default initialization: uniform(±1/√fan_in).
  const linear = (name: string, input: string, inputs: number, outputs: number): string => {
    const product = node('MatMul', [input, weight(`${name}.weight`, [inputs, outputs], 1 / Math.sqrt(inputs))], `${name}.matmul`);
    return node('Add', [product, weight(`${name}.bias`, [outputs], 1 / Math.sqrt(inputs))], name);
  };
  const layerNorm = (name: string, input: string): string => {
    const ones = constant(`${name}.weight`, new Tensor('float32', [HIDDEN], new Float32Array(HIDDEN).fill(1)));
    return node('LayerNormalization', [input, ones, weight(`${name}.bias`, [HIDDEN], 0.05)], name, { axis: -1 });
  };

  const tokens = node('Gather', [weight('embedding.weight', [VOCABULARY, HIDDEN], 1), 'tokens'], 'embedded');
  const embedded = node('Add', [tokens, weight('position.weight', [SEQUENCE, HIDDEN], 0.5)], 'with_positions');
  const normed = layerNorm('ln1', embedded);
  const query = linear('attention.query', normed, HIDDEN, HIDDEN);
  const key = linear('attention.key', normed, HIDDEN, HIDDEN);
  const value = linear('attention.value', normed, HIDDEN, HIDDEN);
  const keyT = node('Transpose', [key], 'attention.key_t', { perm: [0, 2, 1] });
  const scores = node('MatMul', [query, keyT], 'attention.scores');
  const scaled = node('Mul', [scores, constant('attention.scale', Tensor.float32([], [1 / Math.sqrt(HIDDEN)]))], 'attention.scaled');
  const weights = node('Softmax', [scaled], 'attention.weights', { axis: -1 });
  const context = node('MatMul', [weights, value], 'attention.context');
  const attended = linear('attention.output', context, HIDDEN, HIDDEN);
  const residual = node('Add', [embedded, attended], 'residual1');
  const normed2 = layerNorm('ln2', residual);
  const hidden = node('Relu', [linear('mlp.fc1', normed2, HIDDEN, MLP)], 'mlp.relu');
  const mlp = linear('mlp.fc2', hidden, MLP, HIDDEN);
  const residual2 = node('Add', [residual, mlp], 'residual2');
  const pooled = node('ReduceMean', [residual2], 'pooled', { axes: [1], keepdims: 0 });
  graph.addNode({
    opType: 'Gemm',
    inputs: [pooled, weight('head.weight', [CLASSES, HIDDEN], 1 / Math.sqrt(HIDDEN)), weight('head.bias', [CLASSES], 1 / Math.sqrt(HIDDEN))],
    outputs: ['logits'],
    attributes: { transB: 1 },
    name: 'head',
  });
  graph.outputs.push({ name: 'logits', type: { dtype: 'float32', shape: ['batch', CLASSES] } });
  return graph;
}

/** Random token ids, int64 [batch, 8]. */
export function randomTokens(seed: number, batch: number): Tensor {
  const random = createRandom(seed);
  return Tensor.from('int64', [batch, SEQUENCE], Array.from({ length: batch * SEQUENCE }, () => Math.floor(random() * VOCABULARY)));
}

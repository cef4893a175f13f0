/**
 * Small float models and a hand-written QDQ rewrite of them in onnxruntime's conventions, for
 * testing the QOperator conversion without the QDQ quantizer: uint8 or int8 asymmetric
 * activations (Q → DQ after every float activation), int8 symmetric weights (per tensor or per
 * channel) behind DequantizeLinear, int32 biases with scale x_scale × w_scale and no zero
 * point, Relu after Conv/Gemm removed (its range goes to the producer), and shape-only ops
 * (MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze) reusing their input's parameters.
 */
import { Graph, Tensor, createRandom, type Backend } from '@razor/core';
import { quantParamsFromRange, quantizeTensor, tensorRange } from '../../quant-params.js';
import type { QuantParams, QuantType, TensorRange } from '../../types.js';

/** Uniform values in [−scale, scale) from a seeded generator. */
export function randomTensor(random: () => number, shape: readonly number[], scale: number): Tensor {
  const size = shape.reduce((product, dim) => product * dim, 1);
  const data = new Float32Array(size);
  for (let index = 0; index < size; index++) data[index] = (random() * 2 - 1) * scale;
  return new Tensor('float32', shape, data);
}

/**
 * Conv(bias) → Relu → MaxPool → Conv(bias) → Add(residual) → GlobalAveragePool → Flatten →
 * Gemm, on [N, 3, 12, 12] inputs, 8 channels, 10 outputs; seeded random weights.
 */
export function smallCnn(seed = 1): Graph {
  const random = createRandom(seed);
  const graph = new Graph('small-cnn');
  graph.opsetImports.set('', 13);
  graph.inputs.push({ name: 'input', type: { dtype: 'float32', shape: ['N', 3, 12, 12] } });
  const weight = (name: string, shape: number[], scale: number): string => graph.addInitializer(name, randomTensor(random, shape, scale));
  graph.addNode({ opType: 'Conv', inputs: ['input', weight('conv1.weight', [8, 3, 3, 3], 0.35), weight('conv1.bias', [8], 0.1)], outputs: ['conv1'], attributes: { pads: [1, 1, 1, 1] }, name: 'conv1' });
  graph.addNode({ opType: 'Relu', inputs: ['conv1'], outputs: ['relu1'], name: 'relu1' });
  graph.addNode({ opType: 'MaxPool', inputs: ['relu1'], outputs: ['pool1'], attributes: { kernel_shape: [2, 2], strides: [2, 2] }, name: 'pool1' });
  graph.addNode({ opType: 'Conv', inputs: ['pool1', weight('conv2.weight', [8, 8, 3, 3], 0.2), weight('conv2.bias', [8], 0.1)], outputs: ['conv2'], attributes: { pads: [1, 1, 1, 1] }, name: 'conv2' });
  graph.addNode({ opType: 'Add', inputs: ['conv2', 'pool1'], outputs: ['add'], name: 'add' });
  graph.addNode({ opType: 'GlobalAveragePool', inputs: ['add'], outputs: ['gap'], name: 'gap' });
  graph.addNode({ opType: 'Flatten', inputs: ['gap'], outputs: ['flat'], name: 'flatten' });
  graph.addNode({ opType: 'Gemm', inputs: ['flat', weight('fc.weight', [10, 8], 0.5), weight('fc.bias', [10], 0.1)], outputs: ['logits'], attributes: { transB: 1 }, name: 'fc' });
  graph.outputs.push({ name: 'logits', type: { dtype: 'float32', shape: ['N', 10] } });
  return graph;
}

/**
 * AveragePool → (Sigmoid, LeakyRelu) → Mul → Concat with the pooled value → Transpose →
 * Reshape → Unsqueeze → Squeeze → MatMul (float output), on [N, 4, 8, 8] inputs.
 */
export function branchyModel(seed = 2): Graph {
  const random = createRandom(seed);
  const graph = new Graph('branchy');
  graph.opsetImports.set('', 13);
  graph.inputs.push({ name: 'input', type: { dtype: 'float32', shape: ['N', 4, 8, 8] } });
  graph.addNode({ opType: 'AveragePool', inputs: ['input'], outputs: ['pooled'], attributes: { kernel_shape: [2, 2], strides: [2, 2] }, name: 'pool' });
  graph.addNode({ opType: 'Sigmoid', inputs: ['pooled'], outputs: ['gate'], name: 'sigmoid' });
  graph.addNode({ opType: 'LeakyRelu', inputs: ['pooled'], outputs: ['leaky'], attributes: { alpha: 0.2 }, name: 'leaky' });
  graph.addNode({ opType: 'Mul', inputs: ['gate', 'leaky'], outputs: ['gated'], name: 'mul' });
  graph.addNode({ opType: 'Concat', inputs: ['pooled', 'gated'], outputs: ['joined'], attributes: { axis: 1 }, name: 'concat' });
  graph.addNode({ opType: 'Transpose', inputs: ['joined'], outputs: ['nhwc'], attributes: { perm: [0, 2, 3, 1] }, name: 'transpose' });
  const shape = graph.addInitializer('flat_shape', Tensor.int64([0, -1]));
  graph.addNode({ opType: 'Reshape', inputs: ['nhwc', shape], outputs: ['flat'], name: 'reshape' });
  const axes = graph.addInitializer('axes', Tensor.int64([1]));
  graph.addNode({ opType: 'Unsqueeze', inputs: ['flat', axes], outputs: ['expanded'], name: 'unsqueeze' });
  graph.addNode({ opType: 'Squeeze', inputs: ['expanded', axes], outputs: ['squeezed'], name: 'squeeze' });
  graph.addNode({ opType: 'MatMul', inputs: ['squeezed', graph.addInitializer('proj.weight', randomTensor(random, [128, 6], 0.15))], outputs: ['output'], name: 'proj' });
  graph.outputs.push({ name: 'output', type: { dtype: 'float32', shape: ['N', 6] } });
  return graph;
}

/** The float range of every node output and graph input, from one run on `backend`. */
export async function activationRanges(backend: Backend, graph: Graph, feeds: Record<string, Tensor>): Promise<Map<string, TensorRange>> {
  const probe = graph.clone();
  const values = [...graph.inputs.map((input) => input.name), ...graph.nodes.flatMap((node) => node.outputs)];
  for (const node of probe.nodes) for (const output of node.outputs) if (!probe.isOutput(output)) probe.outputs.push({ name: output });
  const session = await backend.createSession(probe, { graphOptimizationLevel: 'disabled' });
  try {
    const outputs = await session.run(feeds);
    return new Map(values.map((value) => [value, tensorRange(feeds[value] ?? outputs[value]!)]));
  } finally {
    await session.release();
  }
}

/** Options of `toQdq`. */
export interface QdqOptions {
  activations: 'uint8' | 'int8';
  /** Weights per output channel (Conv axis 0, Gemm axis 0 with transB, MatMul axis 1). */
  perChannel: boolean;
  /**
   * 7-bit weights ([−64, 64]): uint8 activations times int8 weights then cannot saturate the
   * 16-bit pair sums of AVX2 CPUs without VNNI (onnxruntime's advice for such CPUs).
   */
  reduceRange?: boolean;
  /** Put Q/DQ on the graph outputs too (default true). */
  quantizeOutputs?: boolean;
}

const SHAPE_ONLY = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze']);
const WEIGHTED: Record<string, (node: { attributes: Map<string, unknown> }) => number> = {
  Conv: () => 0,
  Gemm: (node) => ((node.attributes.get('transB') as { value?: number } | undefined)?.value ? 0 : 1),
  MatMul: () => 1,
};

function scalarOf(type: QuantType, value: number): Tensor {
  return Tensor.from(type, [], [value]);
}

/** The QDQ form of a float graph in onnxruntime's conventions (see the file comment). */
export function toQdq(float: Graph, ranges: ReadonlyMap<string, TensorRange>, options: QdqOptions): Graph {
  const graph = float.clone();
  const activationScheme = { type: options.activations, symmetric: false } as const;
  // Relu after a weighted op goes: its producer's output takes the Relu output's name and range.
  for (const relu of graph.nodes.filter((node) => node.opType === 'Relu')) {
    const producer = graph.producer(relu.inputs[0]!);
    if (!producer || !(producer.opType in WEIGHTED) || graph.consumers(relu.inputs[0]!).length !== 1) continue;
    producer.outputs[0] = relu.outputs[0]!;
    graph.removeNode(relu);
    graph.invalidate();
  }

  const params = new Map<string, { scale: string; zeroPoint: string }>();
  const quantizeActivation = (value: string): void => {
    const producer = graph.producer(value);
    let shared: { scale: string; zeroPoint: string } | undefined;
    if (producer && SHAPE_ONLY.has(producer.opType)) shared = params.get(producer.inputs[0]!);
    let names = shared;
    if (!names) {
      const quant = quantParamsFromRange(ranges.get(value)!, activationScheme);
      names = {
        scale: graph.addInitializer(`${value}_scale`, Tensor.float32([], [quant.scale[0]!])),
        zeroPoint: graph.addInitializer(`${value}_zero_point`, scalarOf(options.activations, quant.zeroPoint[0]!)),
      };
    }
    params.set(value, names);
    const readers = [...graph.consumers(value)];
    let source = value;
    let dequantized = `${value}_dequantized`;
    if (graph.isOutput(value)) {
      source = `${value}_float`;
      dequantized = value;
      producer!.outputs = producer!.outputs.map((output) => (output === value ? source : output));
      graph.invalidate();
    }
    const position = producer ? graph.nodes.indexOf(producer) + 1 : 0;
    graph.addNode({ opType: 'QuantizeLinear', inputs: [source, names.scale, names.zeroPoint], outputs: [`${value}_quantized`], name: `${value}_QuantizeLinear` }, position);
    graph.addNode({ opType: 'DequantizeLinear', inputs: [`${value}_quantized`, names.scale, names.zeroPoint], outputs: [dequantized], name: `${value}_DequantizeLinear` }, position + 1);
    for (const reader of readers) reader.inputs = reader.inputs.map((input) => (input === value ? dequantized : input));
    graph.invalidate();
  };

  const activations = [...graph.inputs.map((input) => input.name), ...graph.nodes.flatMap((node) => node.outputs)];
  for (const value of activations) {
    if (graph.isOutput(value) && options.quantizeOutputs === false) continue;
    quantizeActivation(value);
  }

  for (const node of [...graph.nodes]) {
    const axisOf = WEIGHTED[node.opType];
    if (!axisOf) continue;
    const axis = axisOf(node as never);
    const weightName = node.inputs[1]!;
    const weight = graph.initializers.get(weightName)!;
    const weightParams: QuantParams = quantParamsFromRange(tensorRange(weight, options.perChannel ? axis : undefined), { type: 'int8', symmetric: true, reduceRange: options.reduceRange ?? false });
    const channels = weightParams.scale.length;
    const shape = channels === 1 ? [] : [channels];
    const quantizedWeight = graph.addInitializer(`${weightName}_quantized`, quantizeTensor(weight, weightParams));
    const weightScale = graph.addInitializer(`${weightName}_scale`, new Tensor('float32', shape, weightParams.scale));
    const weightZero = graph.addInitializer(`${weightName}_zero_point`, new Tensor('int8', shape, new Int8Array(channels)));
    const axisAttribute = channels === 1 ? {} : { axis };
    const position = graph.nodes.indexOf(node);
    graph.addNode({ opType: 'DequantizeLinear', inputs: [quantizedWeight, weightScale, weightZero], outputs: [`${weightName}_dequantized`], attributes: axisAttribute, name: `${weightName}_DequantizeLinear` }, position);
    graph.setNodeInput(node, 1, `${weightName}_dequantized`);
    graph.initializers.delete(weightName);

    const biasName = node.inputs[2];
    if (!biasName) continue;
    const bias = graph.initializers.get(biasName)!;
    const inputScale = graph.initializers.get(params.get(float.node(node.name)!.inputs[0]!)!.scale)!.numberAt(0);
    const biasScale = weightParams.scale.map((scale) => Math.fround(scale * inputScale));
    const quantizedBias = new Int32Array(bias.size);
    const biasData = bias.data as Float32Array;
    for (let index = 0; index < bias.size; index++) quantizedBias[index] = Math.round(biasData[index]! / biasScale[channels === 1 ? 0 : index]!);
    const biasQuantized = graph.addInitializer(`${biasName}_quantized`, new Tensor('int32', [...bias.shape], quantizedBias));
    const biasScaleName = graph.addInitializer(`${biasName}_scale`, new Tensor('float32', shape, biasScale));
    graph.addNode(
      { opType: 'DequantizeLinear', inputs: [biasQuantized, biasScaleName], outputs: [`${biasName}_dequantized`], attributes: channels === 1 ? {} : { axis: 0 }, name: `${biasName}_DequantizeLinear` },
      graph.nodes.indexOf(node),
    );
    graph.setNodeInput(node, 2, `${biasName}_dequantized`);
    graph.initializers.delete(biasName);
  }
  return graph;
}

import { allocate, type DType } from '../ir/dtype.js';
import { getFloat, getInt, type Graph, type Node } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import type { OpRegistry } from '../ops/registry.js';
import { inferShapes } from './infer-shapes.js';

type FloatTensor = Tensor<'float32' | 'float64'>;

function isDefaultDomain(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

/** An initializer the caller cannot override (not also a graph input), if float32/float64. */
function constantFloat(graph: Graph, name: string | undefined): FloatTensor | undefined {
  if (!name || graph.isInput(name)) return undefined;
  const tensor = graph.initializers.get(name);
  if (!tensor || (tensor.dtype !== 'float32' && tensor.dtype !== 'float64')) return undefined;
  return tensor as FloatTensor;
}

/** True when the node runs in inference mode: no training outputs in use. */
function isInferenceMode(graph: Graph, node: Node): boolean {
  if (graph.opset() >= 14 && getInt(node, 'training_mode', 0) === 1) return false;
  return node.outputs.slice(1).every((output) => output === '' || (graph.consumers(output).length === 0 && !graph.isOutput(output)));
}

/** y = x × factor[channel] + shift[channel] is BatchNormalization in inference mode. */
interface Affine {
  factor: Float64Array;
  shift: Float64Array;
}

function batchNormAffine(graph: Graph, node: Node): Affine | undefined {
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((index) => constantFloat(graph, node.inputs[index]));
  if (!scale || !bias || !mean || !variance) return undefined;
  const channels = scale.size;
  if (bias.size !== channels || mean.size !== channels || variance.size !== channels) return undefined;
  const epsilon = getFloat(node, 'epsilon', 1e-5);
  const factor = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let channel = 0; channel < channels; channel++) {
    factor[channel] = scale.data[channel]! / Math.sqrt(variance.data[channel]! + epsilon);
    shift[channel] = bias.data[channel]! - mean.data[channel]! * factor[channel]!;
  }
  return { factor, shift };
}

/** A new tensor: `source` with element i multiplied by factor[channelOf(i)]. */
function scaled(source: FloatTensor, factor: Float64Array, channelOf: (index: number) => number): FloatTensor {
  const data = allocate(source.dtype, source.size);
  for (let index = 0; index < source.size; index++) data[index] = source.data[index]! * factor[channelOf(index)]!;
  return new Tensor(source.dtype, source.shape, data);
}

/** The folded bias: previous × factor + shift (previous 0 when there is none). */
function foldedBias(dtype: DType, affine: Affine, previous: (channel: number) => number): FloatTensor {
  const channels = affine.factor.length;
  const data = allocate(dtype === 'float64' ? 'float64' : 'float32', channels);
  for (let channel = 0; channel < channels; channel++) data[channel] = previous(channel) * affine.factor[channel]! + affine.shift[channel]!;
  return new Tensor(dtype === 'float64' ? 'float64' : 'float32', [channels], data);
}

interface Folding {
  weight: FloatTensor;
  bias: FloatTensor;
  /** Applied to the producer once the new tensors have names. */
  rewrite(weightName: string, biasName: string): void;
}

function planConv(graph: Graph, node: Node, affine: Affine): Folding | undefined {
  const weight = constantFloat(graph, node.inputs[1]);
  if (!weight || weight.rank < 3) return undefined;
  const hasBias = Boolean(node.inputs[2]);
  const bias = hasBias ? constantFloat(graph, node.inputs[2]) : undefined;
  if (hasBias && !bias) return undefined;
  const channels = affine.factor.length;
  let channelOf: (index: number) => number;
  if (node.opType === 'Conv') {
    if (weight.shape[0] !== channels) return undefined;
    const perChannel = weight.size / channels;
    channelOf = (index) => Math.floor(index / perChannel);
  } else {
    // ConvTranspose weight: [C_in, C_out / group, k...]; output channel = group index × C_out/group + j.
    const group = getInt(node, 'group', 1);
    const inputChannels = weight.shape[0]!;
    const perGroupOutputs = weight.shape[1]!;
    if (perGroupOutputs * group !== channels || inputChannels % group !== 0) return undefined;
    const kernel = weight.size / (inputChannels * perGroupOutputs);
    const inputsPerGroup = inputChannels / group;
    channelOf = (index) => {
      const inputChannel = Math.floor(index / (perGroupOutputs * kernel));
      const column = Math.floor(index / kernel) % perGroupOutputs;
      return Math.floor(inputChannel / inputsPerGroup) * perGroupOutputs + column;
    };
  }
  if (bias && bias.size !== channels) return undefined;
  return {
    weight: scaled(weight, affine.factor, channelOf),
    bias: foldedBias(weight.dtype, affine, (channel) => (bias ? bias.data[channel]! : 0)),
    rewrite(weightName, biasName) {
      node.inputs = [node.inputs[0]!, weightName, biasName];
    },
  };
}

function planGemm(graph: Graph, node: Node, affine: Affine): Folding | undefined {
  const weight = constantFloat(graph, node.inputs[1]);
  if (!weight || weight.rank !== 2) return undefined;
  const transB = getInt(node, 'transB', 0) !== 0;
  const columns = weight.shape[transB ? 0 : 1]!;
  const inner = weight.shape[transB ? 1 : 0]!;
  const channels = affine.factor.length;
  if (columns !== channels) return undefined;
  const hasBias = Boolean(node.inputs[2]);
  const bias = hasBias ? constantFloat(graph, node.inputs[2]) : undefined;
  if (hasBias && !bias) return undefined;
  // A per-row or full [M, N] C is not a bias vector: leave it.
  if (bias && !(bias.size === 1 || (bias.size === channels && bias.shape[bias.rank - 1] === channels))) return undefined;
  const beta = getFloat(node, 'beta', 1);
  return {
    weight: scaled(weight, affine.factor, transB ? (index) => Math.floor(index / inner) : (index) => index % columns),
    bias: foldedBias(weight.dtype, affine, (channel) => (bias ? beta * bias.data[bias.size === 1 ? 0 : channel]! : 0)),
    rewrite(weightName, biasName) {
      node.inputs = [node.inputs[0]!, weightName, biasName];
      node.attributes.set('beta', { type: 'float', value: 1 });
    },
  };
}

/** MatMul of a 2-D activation by a 2-D weight becomes a Gemm with the folded bias. */
function planMatMul(graph: Graph, node: Node, affine: Affine, context: PlanContext): Folding | undefined {
  const weight = constantFloat(graph, node.inputs[1]);
  if (!weight || weight.rank !== 2 || weight.shape[1] !== affine.factor.length) return undefined;
  const activationRank = context.rank(node.inputs[0]!);
  // BatchNormalization normalizes axis 1, which is MatMul's feature axis only for 2-D products.
  if (activationRank !== 2) return undefined;
  const columns = weight.shape[1]!;
  return {
    weight: scaled(weight, affine.factor, (index) => index % columns),
    bias: foldedBias(weight.dtype, affine, () => 0),
    rewrite(weightName, biasName) {
      node.opType = 'Gemm';
      node.inputs = [node.inputs[0]!, weightName, biasName];
      node.attributes = new Map();
    },
  };
}

interface PlanContext {
  /** The rank of a value: declared, or inferred on a copy of the graph when not declared. */
  rank(value: string): number | undefined;
}

const planners: Record<string, (graph: Graph, node: Node, affine: Affine, context: PlanContext) => Folding | undefined> = {
  Conv: planConv,
  ConvTranspose: planConv,
  Gemm: planGemm,
  MatMul: planMatMul,
};

/**
 * Folds inference-mode BatchNormalization into the Conv, ConvTranspose, Gemm or 2-D
 * MatMul before it: W' = W × γ/√(σ² + ε) per output channel, b' = (b − μ) × γ/√(σ² + ε) + β.
 * Folds only when that producer's output feeds nothing else, its weight (and bias) and
 * the statistics are float initializers, and the shapes line up; a bias is created when
 * there is none, and a MatMul becomes a Gemm. Never edits a tensor in place: the folded
 * weights are new initializers, and initializers nothing reads any more are removed.
 * Shapes come from the graph's declared types, or from shape inference on a copy
 * (`registry`: the op definitions to use). Returns the number of BatchNormalization
 * nodes folded.
 */
export function foldBatchNorm(graph: Graph, options: { registry?: OpRegistry } = {}): number {
  let folded = 0;
  let inferred: Graph | undefined;
  const context: PlanContext = {
    rank(value) {
      const declared = graph.typeOf(value)?.shape?.length;
      if (declared !== undefined) return declared;
      if (!inferred) {
        inferred = graph.clone();
        inferShapes(inferred, { strict: false, ...(options.registry ? { registry: options.registry } : {}) });
      }
      return inferred.typeOf(value)?.shape?.length;
    },
  };
  const maybeUnused = new Set<string>();
  for (const batchNorm of [...graph.nodes]) {
    if (batchNorm.opType !== 'BatchNormalization' || !isDefaultDomain(batchNorm) || !isInferenceMode(graph, batchNorm)) continue;
    const input = batchNorm.inputs[0];
    if (!input || graph.isOutput(input) || graph.consumers(input).length !== 1) continue;
    const producer = graph.producer(input);
    if (!producer || !isDefaultDomain(producer) || producer.outputs[0] !== input) continue;
    const plan = planners[producer.opType];
    const affine = plan ? batchNormAffine(graph, batchNorm) : undefined;
    const folding = affine && plan!(graph, producer, affine, context);
    if (!folding) continue;

    const previousInputs = [...producer.inputs.slice(1), ...batchNorm.inputs.slice(1)];
    const base = producer.inputs[1]!;
    const weightName = graph.uniqueName(`${base}_bn_folded`);
    graph.initializers.set(weightName, folding.weight);
    const biasName = graph.uniqueName(`${producer.inputs[2] || `${base}_bias`}_bn_folded`);
    graph.initializers.set(biasName, folding.bias);
    folding.rewrite(weightName, biasName);
    producer.outputs[0] = batchNorm.outputs[0]!;
    graph.valueInfo.delete(input);
    graph.removeNode(batchNorm);
    graph.invalidate();
    for (const name of previousInputs) if (name) maybeUnused.add(name);
    folded++;
  }
  for (const name of maybeUnused) {
    if (graph.initializers.has(name) && graph.consumers(name).length === 0 && !graph.isInput(name) && !graph.isOutput(name)) {
      graph.initializers.delete(name);
      graph.initializerPassthrough.delete(name);
    }
  }
  return folded;
}

import { dtypeSize, isFloatDType } from '../ir/dtype.js';
import { describeNode, type Graph, type Node, type Shape, type TensorType } from '../ir/graph.js';
import { staticSize } from '../ops/defs/rule-helpers.js';
import { defaultRegistry } from '../ops/builtin.js';
import { parameterSource } from '../ops/parameters.js';
import type { CostContext, OpRegistry } from '../ops/registry.js';
import { inferShapes, type UnknownOp } from '../passes/infer-shapes.js';
import { topologicalOrder } from '../passes/toposort.js';
import { resolveInputShapes } from './random-inputs.js';

/** Options of `estimateResources`. */
export interface EstimateOptions {
  /** Op definitions (shape and cost rules); `defaultRegistry` when omitted. */
  registry?: OpRegistry;
  /** Static shapes for graph inputs by name; default: declared shapes with symbolic dims set to 1. */
  inputShapes?: Record<string, readonly number[]>;
  /** Sizes of named symbolic dims (`{ batch: 8 }`); other symbolic dims count as 1. */
  dims?: Record<string, number>;
}

/** The cost of one node. */
export interface NodeEstimate {
  /** The node's name. */
  node: string;
  opType: string;
  /** Multiply-accumulates of one run (razor's convention, see `estimateResources`). */
  macs: number;
  /** Parameter elements first counted at this node (a shared weight counts at its first user). */
  params: number;
  /** Inferred output shapes (undefined where unknown). */
  outputShapes: (Shape | undefined)[];
}

/** Totals of one op type. */
export interface OpTypeEstimate {
  count: number;
  macs: number;
  params: number;
}

/** What `estimateResources` found. */
export interface ResourceEstimate {
  /** Elements of parameter tensors (each counted once, however many nodes share it). */
  params: number;
  /** Multiply-accumulates of one run at the resolved input shapes. */
  macs: number;
  /** Bytes of every value the nodes produce in one run (the sum, not the peak). */
  activationBytes: number;
  /**
   * The most activation bytes alive at once when nodes run in graph order and a value is
   * freed after its last reader (graph inputs included, weights excluded).
   */
  peakActivationBytes: number;
  perNode: NodeEstimate[];
  byOpType: Record<string, OpTypeEstimate>;
  /** The static input shapes the figures hold for. */
  inputShapes: Record<string, number[]>;
  /** The size used for each symbolic input dim (1 unless `dims` says otherwise): the figures are for batch 1 by default. */
  assumedDims: Record<string, number>;
  /** Nodes whose MACs could not be computed (shapes unknown); counted as 0. */
  unknownCostNodes: string[];
  /** Ops without a definition: their MACs count as 0 and their outputs stay unknown. */
  unknownOps: UnknownOp[];
}

function typeBytes(type: TensorType | undefined): number | undefined {
  const size = staticSize(type?.shape);
  return size === undefined || type === undefined ? undefined : size * dtypeSize(type.dtype);
}

/**
 * Parameters, multiply-accumulates and activation memory of a graph, for one run at
 * static input shapes (symbolic dims 1 by default: batch 1).
 *
 * Parameters: elements of floating-point initializers (or Constant values, or quantized
 * initializers behind DequantizeLinear) feeding an op's parameter inputs: Conv,
 * ConvTranspose and Gemm weights and biases, MatMul's B, BatchNormalization scale and
 * bias (not its running mean and variance, which are buffers), PRelu slopes,
 * LayerNormalization scale and bias. Each tensor counts once, however many nodes share
 * it. Biases added by a separate Add node are not parameters of any op, so they are not
 * counted.
 *
 * MACs (see estimator/README.md): multiply-accumulates of Conv, ConvTranspose, Gemm and
 * MatMul, and one accumulate or compare per window element for pooling and reductions;
 * elementwise ops, activations, BatchNormalization (foldable into the convolution) and
 * data movement count 0. With this convention torchvision ResNet-18 is 1.82G, MobileNetV2
 * 0.30G and CIFAR ResNet-20 0.04G MACs, the published figures.
 */
export function estimateResources(graph: Graph, options: EstimateOptions = {}): ResourceEstimate {
  const registry = options.registry ?? defaultRegistry;
  const { shapes, assumedDims } = resolveInputShapes(graph, options);
  const working = graph.clone();
  const inference = inferShapes(working, { registry, strict: false, inputShapes: shapes });
  const order = topologicalOrder(working);

  const counted = new Set<string>();
  const perNode: NodeEstimate[] = [];
  const byOpType: Record<string, OpTypeEstimate> = {};
  const unknownCostNodes: string[] = [];
  let totalMacs = 0;
  let totalParams = 0;

  for (const node of order) {
    const definition = registry.find(node.opType, node.domain);
    const context: CostContext = {
      node,
      opset: working.opset(node.domain),
      inputType: (index) => (node.inputs[index] ? working.typeOf(node.inputs[index]) : undefined),
      outputType: (index) => (node.outputs[index] ? working.typeOf(node.outputs[index]) : undefined),
    };
    let macs = definition?.macs?.(context) ?? 0;
    if (!Number.isFinite(macs)) {
      unknownCostNodes.push(describeNode(node));
      macs = 0;
    }
    let params = 0;
    for (const position of definition?.parameterInputs ?? []) {
      const input = node.inputs[position];
      if (!input) continue;
      const source = parameterSource(working, input);
      if (!source || !isFloatDType(source.dtype) || counted.has(source.name)) continue;
      counted.add(source.name);
      params += source.size;
    }
    totalMacs += macs;
    totalParams += params;
    perNode.push({
      node: node.name,
      opType: node.opType,
      macs,
      params,
      outputShapes: node.outputs.map((output) => (output ? working.typeOf(output)?.shape : undefined)),
    });
    const entry = (byOpType[node.opType] ??= { count: 0, macs: 0, params: 0 });
    entry.count++;
    entry.macs += macs;
    entry.params += params;
  }

  const { activationBytes, peakActivationBytes } = activationMemory(working, order);
  return {
    params: totalParams,
    macs: totalMacs,
    activationBytes,
    peakActivationBytes,
    perNode,
    byOpType,
    inputShapes: shapes,
    assumedDims,
    unknownCostNodes,
    unknownOps: inference.unknownOps,
  };
}

function activationMemory(graph: Graph, order: readonly Node[]): { activationBytes: number; peakActivationBytes: number } {
  const lastUse = new Map<string, number>();
  order.forEach((node, position) => {
    for (const input of node.inputs) if (input !== '') lastUse.set(input, position);
  });
  for (const output of graph.outputs) lastUse.set(output.name, Number.POSITIVE_INFINITY);
  const bytesOf = (value: string): number => typeBytes(graph.typeOf(value)) ?? 0;

  let live = 0;
  for (const input of graph.inputs) if (!graph.initializers.has(input.name)) live += bytesOf(input.name);
  let peak = live;
  let total = 0;
  order.forEach((node, position) => {
    for (const output of node.outputs) {
      if (output === '') continue;
      const bytes = bytesOf(output);
      total += bytes;
      live += bytes;
    }
    peak = Math.max(peak, live);
    const released = new Set<string>();
    for (const value of [...node.inputs, ...node.outputs]) {
      if (value === '' || released.has(value) || graph.initializers.has(value)) continue;
      const last = lastUse.get(value);
      if (last === undefined ? node.outputs.includes(value) : last === position) {
        released.add(value);
        live -= bytesOf(value);
      }
    }
  });
  return { activationBytes: total, peakActivationBytes: peak };
}

/**
 * Which nodes of a float graph a static QDQ quantization rewrites, and how, in onnxruntime's
 * conventions (quantize_static with QuantFormat.QDQ): the plan names every activation that
 * needs a calibrated range, every initializer that becomes an integer tensor, and why each
 * other node stays float. It is plain data (JSON-serializable), so a report can print it.
 */
import {
  ErrorCodes,
  describeNode,
  fail,
  getAttribute,
  getFloat,
  getInt,
  getString,
  inferShapes,
  topologicalOrder,
  type Graph,
  type Node,
  type TensorType,
} from '@razor/core';
import type { QuantScheme, QuantType } from '../types.js';

/**
 * How an op is quantized:
 * - `weighted`: Conv, ConvTranspose, Gemm, MatMul: Q/DQ on the activation input and the output,
 *   the weight as an integer initializer with one DequantizeLinear, the bias as int32.
 * - `removable`: Relu, Clip: absorbed into the producer's output quantization when activations
 *   are asymmetric (the integer range does the clipping), else Q/DQ on input and output.
 * - `shared`: ops that move or select values without changing them: the output reuses the
 *   input's scale and zero point, so onnxruntime can drop the Q/DQ around them.
 * - `every`: Q/DQ on every float input and output, each with its own range.
 */
export type QdqRule = 'weighted' | 'removable' | 'shared' | 'every';

/** The ops the QDQ quantizer knows, with their rule. */
export const QDQ_OP_RULES: Readonly<Record<string, QdqRule>> = Object.freeze({
  Conv: 'weighted',
  ConvTranspose: 'weighted',
  Gemm: 'weighted',
  MatMul: 'weighted',
  Relu: 'removable',
  Clip: 'removable',
  Reshape: 'shared',
  Transpose: 'shared',
  Squeeze: 'shared',
  Unsqueeze: 'shared',
  Flatten: 'shared',
  MaxPool: 'shared',
  Resize: 'shared',
  Slice: 'shared',
  Pad: 'shared',
  Split: 'shared',
  Gather: 'shared',
  Add: 'every',
  Mul: 'every',
  Concat: 'every',
  Sigmoid: 'every',
  LeakyRelu: 'every',
  GlobalAveragePool: 'every',
  AveragePool: 'every',
  Softmax: 'every',
});

/** Options shared by `planQuantization` and `quantizeQdq`. */
export interface PlanOptions {
  /** Activation scheme (default uint8, asymmetric). Only `symmetric` changes the plan (Relu/Clip removal). */
  activations?: QuantScheme;
  /** Weight scheme (default int8, symmetric). */
  weights?: QuantScheme;
  /** One scale per output channel of each weight (default false). Needs opset 13. */
  perChannel?: boolean;
  /** Nodes to leave float, by node name or op type. Names that match nothing are an error. */
  exclude?: { nodes?: readonly string[]; opTypes?: readonly string[] };
  /** Quantize only these op types (default: every op in `QDQ_OP_RULES`). */
  opTypes?: readonly string[];
}

/** What happens to a node. */
export type NodeAction = 'quantize' | 'share' | 'remove' | 'float';

/** One node of the plan. */
export interface PlannedNode {
  name: string;
  opType: string;
  /**
   * `quantize`: Q/DQ on its float inputs and outputs; `share`: its outputs reuse its input's
   * scale and zero point; `remove`: a Relu/Clip absorbed into its producer's output
   * quantization; `float`: left as it is (see `reason`).
   */
  action: NodeAction;
  /** Why a node stays float, or which node a removed activation is absorbed into. */
  reason?: string;
}

/** An activation that gets a QuantizeLinear → DequantizeLinear pair. */
export interface PlannedActivation {
  /** The value's name in the float graph (for a removed Relu/Clip: its output). */
  value: string;
  /** `calibrated`: scale and zero point from its own range; `shared`: those of `sharesWith`. */
  params: 'calibrated' | 'shared';
  /** The calibrated activation or quantized initializer whose scale and zero point it reuses. */
  sharesWith?: string;
}

/** A float initializer that becomes an integer initializer read through one DequantizeLinear. */
export interface PlannedInitializer {
  /** The node that reads it. */
  node: string;
  /** The node's input position. */
  input: number;
  /** The float initializer; absent for the zero bias added to a Conv or Gemm without one. */
  initializer?: string;
  /**
   * `weight`: the weight scheme; `bias`: int32 with scale input scale × weight scale, no zero
   * point; `constant`: a constant operand of an activation op, in the activation scheme.
   */
  role: 'weight' | 'bias' | 'constant';
  /** The channel axis when per channel. */
  axis?: number;
}

/** The result of `planQuantization`. */
export interface QuantizationPlan {
  graph: string;
  /** The default-domain opset the graph imports, and the one the quantized graph needs. */
  opset: number;
  requiredOpset: number;
  activations: QuantScheme;
  weights: QuantScheme;
  perChannel: boolean;
  /** Every node, in graph order. */
  nodes: PlannedNode[];
  /** Every activation that gets a Q/DQ pair. */
  quantizedActivations: PlannedActivation[];
  /** Every initializer that becomes an integer tensor (plus added zero biases). */
  quantizedInitializers: PlannedInitializer[];
  /** The values whose ranges calibration must record, in graph order. */
  activationsToCalibrate: string[];
}

const QUANT_TYPES: readonly QuantType[] = ['int8', 'uint8', 'int16', 'uint16'];
const DEFAULT_ACTIVATIONS: QuantScheme = { type: 'uint8', symmetric: false };
const DEFAULT_WEIGHTS: QuantScheme = { type: 'int8', symmetric: true };

/** The opset QuantizeLinear/DequantizeLinear need: 10 per tensor, 13 per axis, 21 for 16-bit types. */
const QDQ_OPSET = 10;
const PER_AXIS_OPSET = 13;
const SIXTEEN_BIT_OPSET = 21;

function isSixteenBit(type: QuantType): boolean {
  return type === 'int16' || type === 'uint16';
}

function checkScheme(scheme: unknown, what: string): QuantScheme {
  const candidate = scheme as Partial<QuantScheme> | undefined;
  if (typeof candidate !== 'object' || candidate === null) fail(ErrorCodes.INVALID_ARGUMENT, `${what} must be a scheme like { type: 'uint8', symmetric: false }, got ${String(scheme)}`);
  if (!QUANT_TYPES.includes(candidate.type as QuantType)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `${what}.type must be one of ${QUANT_TYPES.join(', ')}, got '${String(candidate.type)}'`);
  }
  if (typeof candidate.symmetric !== 'boolean') fail(ErrorCodes.INVALID_ARGUMENT, `${what}.symmetric must be true or false, got ${String(candidate.symmetric)}`);
  if (candidate.reduceRange !== undefined && typeof candidate.reduceRange !== 'boolean') {
    fail(ErrorCodes.INVALID_ARGUMENT, `${what}.reduceRange must be true or false when given, got ${String(candidate.reduceRange)}`);
  }
  return { type: candidate.type as QuantType, symmetric: candidate.symmetric, ...(candidate.reduceRange ? { reduceRange: true } : {}) };
}

function checkNames(value: unknown, what: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) fail(ErrorCodes.INVALID_ARGUMENT, `${what} must be an array of strings`);
  return value as string[];
}

interface ResolvedOptions {
  activations: QuantScheme;
  weights: QuantScheme;
  perChannel: boolean;
  excludedNodes: ReadonlySet<string>;
  excludedOpTypes: ReadonlySet<string>;
  opTypes: ReadonlySet<string> | undefined;
}

/** Checks options against the graph; every mistake is a RAZOR_INVALID_ARGUMENT naming it. */
export function resolvePlanOptions(graph: Graph, options: PlanOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) fail(ErrorCodes.INVALID_ARGUMENT, `quantization options must be an object, got ${String(options)}`);
  const activations = checkScheme(options.activations ?? DEFAULT_ACTIVATIONS, 'activations');
  const weights = checkScheme(options.weights ?? DEFAULT_WEIGHTS, 'weights');
  if (activations.type === 'int8' && weights.type === 'uint8') {
    fail(ErrorCodes.INVALID_ARGUMENT, `int8 activations with uint8 weights have no integer kernels (onnxruntime rejects them too); use uint8 activations, or int8 weights`);
  }
  if (options.perChannel !== undefined && typeof options.perChannel !== 'boolean') fail(ErrorCodes.INVALID_ARGUMENT, `perChannel must be true or false, got ${String(options.perChannel)}`);
  const known = Object.keys(QDQ_OP_RULES);
  const excludedNodes = checkNames(options.exclude?.nodes, 'exclude.nodes');
  const missing = excludedNodes.filter((name) => graph.node(name) === undefined);
  if (missing.length > 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `exclude.nodes names ${missing.map((name) => `'${name}'`).join(', ')}, which graph '${graph.name}' does not have; use node names (e.g. '${graph.nodes[0]?.name ?? 'conv1/Conv'}')`);
  }
  const excludedOpTypes = checkNames(options.exclude?.opTypes, 'exclude.opTypes');
  const opTypes = options.opTypes === undefined ? undefined : checkNames(options.opTypes, 'opTypes');
  for (const [list, what] of [[excludedOpTypes, 'exclude.opTypes'], [opTypes ?? [], 'opTypes']] as const) {
    const unknown = list.filter((opType) => !known.includes(opType));
    if (unknown.length > 0) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${what} lists ${unknown.map((opType) => `'${opType}'`).join(', ')}, which the QDQ quantizer has no rule for; op types with rules: ${known.join(', ')}`);
    }
  }
  return {
    activations,
    weights,
    perChannel: options.perChannel ?? false,
    excludedNodes: new Set(excludedNodes),
    excludedOpTypes: new Set(excludedOpTypes),
    opTypes: opTypes === undefined ? undefined : new Set(opTypes),
  };
}

/** The float data inputs of a node under its rule (parameters such as shapes, indices and clip bounds excluded). */
function dataInputs(node: Node, rule: QdqRule): number[] {
  if (rule === 'weighted') return [0, 1];
  if (rule === 'every' && (node.opType === 'Add' || node.opType === 'Mul' || node.opType === 'Concat')) {
    return node.inputs.map((_, index) => index).filter((index) => node.inputs[index] !== '');
  }
  return [0];
}

/** The per-channel axis of a weight, or undefined when it is quantized per tensor. */
function channelAxis(node: Node, weight: { shape: readonly number[] }): number | undefined {
  switch (node.opType) {
    case 'Conv':
      return weight.shape.length >= 3 ? 0 : undefined;
    case 'ConvTranspose':
      // Grouped ConvTranspose weights hold C_out / group channels on axis 1: not one per output channel.
      return weight.shape.length >= 3 && getInt(node, 'group', 1) === 1 ? 1 : undefined;
    case 'Gemm':
      return weight.shape.length === 2 ? (getInt(node, 'transB', 0) !== 0 ? 0 : 1) : undefined;
    case 'MatMul':
      return weight.shape.length === 2 ? 1 : undefined;
    default:
      return undefined;
  }
}

/** Output channels of a weighted node, from its constant weight. */
export function outputChannels(node: Node, weightShape: readonly number[]): number | undefined {
  switch (node.opType) {
    case 'Conv':
      return weightShape[0];
    case 'ConvTranspose':
      return weightShape[1] === undefined ? undefined : weightShape[1] * getInt(node, 'group', 1);
    case 'Gemm':
      return weightShape.length === 2 ? weightShape[getInt(node, 'transB', 0) !== 0 ? 0 : 1] : undefined;
    default:
      return undefined;
  }
}

/** A constant scalar bound of Clip (input at opset ≥ 11, attribute before), or undefined when absent. */
function clipBound(graph: Graph, node: Node, position: 1 | 2): number | 'dynamic' | undefined {
  if (graph.opset() < 11) return getAttribute(node, position === 1 ? 'min' : 'max', 'float');
  const name = node.inputs[position];
  if (!name) return undefined;
  const tensor = graph.isInput(name) ? undefined : graph.initializers.get(name);
  if (!tensor || tensor.size !== 1) return 'dynamic';
  return tensor.numberAt(0);
}

/** True when removing this Clip/Relu and clipping with the integer range gives the same values. */
function clipsThroughZero(graph: Graph, node: Node): boolean {
  if (node.opType === 'Relu') return true;
  const low = clipBound(graph, node, 1);
  const high = clipBound(graph, node, 2);
  if (low === 'dynamic' || high === 'dynamic') return false;
  // The quantized range always contains 0, so only bounds on either side of 0 can be left to it.
  return (low === undefined || low <= 0) && (high === undefined || high >= 0);
}

/** True when Pad fills with a value that is not 0 (then its output needs its own range). */
function padsWithNonZero(graph: Graph, node: Node): boolean {
  const mode = getString(node, 'mode', 'constant');
  if (mode !== 'constant') return false;
  if (graph.opset() < 11) return getFloat(node, 'value', 0) !== 0;
  const name = node.inputs[2];
  if (!name) return false;
  const tensor = graph.isInput(name) ? undefined : graph.initializers.get(name);
  return !tensor || tensor.size !== 1 || tensor.numberAt(0) !== 0;
}

function hasSubgraph(node: Node): boolean {
  for (const attribute of node.attributes.values()) if (attribute.type === 'graph' || attribute.type === 'graphs') return true;
  return false;
}

/**
 * Plans a static QDQ quantization of `graph` (best on the output of `prepareForQuantization`,
 * whose value names calibration and quantization must share). Nodes are quantized in
 * onnxruntime's way (see `QdqRule`): excluded nodes, ops outside `opTypes`, ops without a rule,
 * nodes with non-float32 data and reshape-like ops whose input is not quantized stay float,
 * each with its reason. Fails with RAZOR_INVALID_ARGUMENT on bad options.
 */
export function planQuantization(graph: Graph, options: PlanOptions = {}): QuantizationPlan {
  const resolved = resolvePlanOptions(graph, options);
  const typed = graph.clone();
  inferShapes(typed, { strict: false });
  const typeOf = (value: string): TensorType | undefined => typed.typeOf(value);
  const isConstant = (value: string): boolean => graph.initializers.has(value) && !graph.isInput(value);

  const decisions = new Map<Node, PlannedNode>();
  const rules = new Map<Node, QdqRule>();
  const order = topologicalOrder(graph);
  for (const node of order) {
    const entry: PlannedNode = { name: node.name, opType: node.opType, action: 'float' };
    decisions.set(node, entry);
    const rule = node.domain === '' || node.domain === 'ai.onnx' ? QDQ_OP_RULES[node.opType] : undefined;
    if (rule === undefined || hasSubgraph(node)) entry.reason = `no QDQ rule for ${node.domain ? `${node.domain}::` : ''}${node.opType}`;
    else if (resolved.excludedNodes.has(node.name)) entry.reason = 'excluded by name';
    else if (resolved.excludedOpTypes.has(node.opType)) entry.reason = 'excluded by op type';
    else if (resolved.opTypes && !resolved.opTypes.has(node.opType)) entry.reason = 'op type not selected';
    else {
      const values = [...dataInputs(node, rule).map((index) => node.inputs[index] ?? ''), node.outputs[0] ?? ''];
      const notFloat = values.find((value) => value !== '' && typeOf(value)?.dtype !== 'float32');
      const missing = values.find((value) => value === '');
      if (missing !== undefined) entry.reason = 'a data input or output is missing';
      else if (notFloat !== undefined) {
        const dtype = typeOf(notFloat)?.dtype;
        entry.reason = dtype === undefined ? `type of '${notFloat}' unknown (run prepareForQuantization first)` : `'${notFloat}' is ${dtype}, not float32`;
      } else rules.set(node, rule);
    }
  }

  const activations = new Map<string, PlannedActivation>();
  const initializers: PlannedInitializer[] = [];
  /** Quantized constants by initializer name (their params can be shared). */
  const quantizedConstants = new Set<string>();
  const markCalibrated = (value: string): void => {
    if (!activations.has(value)) activations.set(value, { value, params: 'calibrated' });
  };
  const markData = (node: Node, input: number): void => {
    const value = node.inputs[input]!;
    if (isConstant(value)) {
      initializers.push({ node: node.name, input, initializer: value, role: 'constant' });
      quantizedConstants.add(value);
    } else markCalibrated(value);
  };
  const isQuantized = (value: string): boolean => activations.has(value) || quantizedConstants.has(value);
  const rootOf = (value: string): string => {
    const entry = activations.get(value);
    return entry?.params === 'shared' && entry.sharesWith !== undefined ? entry.sharesWith : value;
  };
  const floatOutputs = (node: Node): string[] => node.outputs.filter((output) => output !== '' && typeOf(output)?.dtype === 'float32');

  // Ops that compute new values: Q/DQ on their data inputs and outputs, weights as initializers.
  for (const node of order) {
    const rule = rules.get(node);
    if (rule !== 'weighted' && rule !== 'every') continue;
    decisions.get(node)!.action = 'quantize';
    if (rule === 'every') {
      for (const input of dataInputs(node, rule)) markData(node, input);
      for (const output of floatOutputs(node)) markCalibrated(output);
      continue;
    }
    markData(node, 0);
    const weightName = node.inputs[1]!;
    const weight = isConstant(weightName) ? graph.initializers.get(weightName)! : undefined;
    if (weight) {
      const axis = resolved.perChannel ? channelAxis(node, weight) : undefined;
      initializers.push({ node: node.name, input: 1, initializer: weightName, role: 'weight', ...(axis === undefined ? {} : { axis }) });
      if (node.opType !== 'MatMul') {
        const channels = outputChannels(node, weight.shape);
        const biasName = node.inputs[2] ?? '';
        const bias = biasName !== '' && isConstant(biasName) ? graph.initializers.get(biasName) : undefined;
        const biasAxis = axis === undefined ? {} : { axis: 0 };
        const fits =
          bias !== undefined && bias.dtype === 'float32' && bias.size === channels && (bias.rank === 1 || (node.opType === 'Gemm' && bias.rank === 2 && bias.shape[0] === 1));
        if (biasName !== '' && fits) initializers.push({ node: node.name, input: 2, initializer: biasName, role: 'bias', ...biasAxis });
        // onnxruntime fuses DQ → Conv → Q into QLinearConv only with an int32 bias: give a bias-free Conv a zero one.
        else if (biasName === '' && (node.opType === 'Conv' || node.opType === 'Gemm') && channels !== undefined) {
          initializers.push({ node: node.name, input: 2, role: 'bias', ...biasAxis });
        }
      }
    } else markData(node, 1);
    markCalibrated(node.outputs[0]!);
  }

  // Reshape-like ops and removable activations, in graph order so chains see their inputs' decisions.
  const asymmetric = !resolved.activations.symmetric;
  for (const node of order) {
    const rule = rules.get(node);
    const entry = decisions.get(node)!;
    if (rule === 'shared') {
      const input = node.inputs[0]!;
      if (node.opType === 'Pad' && padsWithNonZero(graph, node)) {
        // A non-zero fill may lie outside the input's range: input and output get their own.
        entry.action = 'quantize';
        markData(node, 0);
        for (const output of floatOutputs(node)) markCalibrated(output);
        continue;
      }
      if (node.opType === 'Gather' && isConstant(input)) markData(node, 0);
      if (!isQuantized(input)) {
        entry.reason = 'input not quantized';
        continue;
      }
      entry.action = 'share';
      const root = rootOf(input);
      for (const output of floatOutputs(node)) activations.set(output, { value: output, params: 'shared', sharesWith: root });
    } else if (rule === 'removable') {
      const input = node.inputs[0]!;
      if (!isQuantized(input)) {
        entry.reason = 'input not quantized';
        continue;
      }
      const producer = graph.producer(input);
      const producerRule = producer ? rules.get(producer) : undefined;
      const removable =
        asymmetric &&
        producer !== undefined &&
        (producerRule === 'weighted' || producerRule === 'every') &&
        activations.get(input)?.params === 'calibrated' &&
        graph.consumers(input).length === 1 &&
        !graph.isOutput(input) &&
        clipsThroughZero(graph, node);
      if (removable) {
        entry.action = 'remove';
        entry.reason = `absorbed into the output quantization of ${describeNode(producer)}`;
        activations.delete(input);
      } else entry.action = 'quantize';
      markCalibrated(node.outputs[0]!);
    }
  }

  const usesAxis = initializers.some((entry) => entry.axis !== undefined);
  const sixteenBit = isSixteenBit(resolved.activations.type) || isSixteenBit(resolved.weights.type);
  const requiredOpset = Math.max(graph.opset(), QDQ_OPSET, usesAxis ? PER_AXIS_OPSET : 0, sixteenBit ? SIXTEEN_BIT_OPSET : 0);

  // Graph order for the activation lists: graph inputs first, then node outputs as produced.
  const position = new Map<string, number>();
  graph.inputs.forEach((input, index) => position.set(input.name, index - graph.inputs.length));
  order.forEach((node, index) => node.outputs.forEach((output) => position.set(output, index)));
  const quantizedActivations = [...activations.values()].sort((a, b) => (position.get(a.value) ?? 0) - (position.get(b.value) ?? 0));

  return {
    graph: graph.name,
    opset: graph.opset(),
    requiredOpset,
    activations: resolved.activations,
    weights: resolved.weights,
    perChannel: resolved.perChannel,
    nodes: graph.nodes.map((node) => decisions.get(node)!),
    quantizedActivations,
    quantizedInitializers: initializers,
    activationsToCalibrate: quantizedActivations.filter((entry) => entry.params === 'calibrated').map((entry) => entry.value),
  };
}

/**
 * QDQ to QOperator: rewrites the DequantizeLinear → float op → QuantizeLinear groups of a QDQ
 * graph (onnxruntime's conventions) into integer operators that read and write the quantized
 * tensors directly: QLinearConv, QLinearMatMul, com.microsoft QGemm, QLinearAdd, QLinearMul,
 * QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat, QLinearSigmoid and
 * QLinearLeakyRelu; data-movement ops (Reshape, Transpose, Flatten, MaxPool, Squeeze, Unsqueeze,
 * Slice, Pad) run on the integers when their input and output share one scale and zero point.
 * Groups that do not fit an integer kernel stay as they were.
 */
import {
  ErrorCodes,
  Tensor,
  fail,
  getFloat,
  getInt,
  getInts,
  getString,
  inferShapes,
  topologicalOrder,
  topologicalSort,
  type AttributeInput,
  type AttributeValue,
  type DType,
  type Graph,
  type Node,
  type NodeSpec,
  type OpRegistry,
} from '@razor/core';
import { roundHalfToEven } from '../quant-params.js';

/** The domain of onnxruntime's contrib operators. */
const MICROSOFT_DOMAIN = 'com.microsoft';
const INT32_RANGE: readonly [number, number] = [-2147483648, 2147483647];
/** Bias scales within this relative distance of x_scale × w_scale are taken as equal. */
const SCALE_TOLERANCE = 1e-6;

/** Options of `toQOperator`. */
export interface ToQOperatorOptions {
  /** The op definitions used for shape inference; core's `defaultRegistry` when omitted. */
  registry?: OpRegistry;
}

/** One float op replaced by an integer op. */
export interface ConvertedNode {
  /** The node's name (kept by the integer node). */
  node: string;
  /** The float op type, e.g. 'Conv'. */
  from: string;
  /**
   * The integer op, e.g. 'QLinearConv' or 'com.microsoft::QGemm'; the op itself for a
   * shape-only op now on integers ('MaxPool'); 'Identity' for a Relu that leaves its integers
   * unchanged and was removed.
   */
  to: string;
}

/** A float op between quantized tensors that stays DequantizeLinear → float op → QuantizeLinear. */
export interface KeptNode {
  node: string;
  opType: string;
  /** Why no integer op replaces it. */
  reason: string;
}

/** What `toQOperator` did. */
export interface QOperatorSummary {
  converted: ConvertedNode[];
  kept: KeptNode[];
  /**
   * Integer ops onnxruntime may compute inexactly on some CPUs: uint8 activations times int8
   * weights beyond ±64 saturate 16-bit pair sums on x86 CPUs with AVX2 but without VNNI.
   */
  warnings: string[];
  /** QuantizeLinear and DequantizeLinear nodes removed (absorbed into integer ops). */
  removedQdqNodes: number;
  nodesBefore: number;
  nodesAfter: number;
}

/** A value read through DequantizeLinear: the integer tensor and its parameters. */
interface Dequantized {
  dq: Node;
  /** The integer tensor (DequantizeLinear's input). */
  value: string;
  dtype: DType;
  scale: string;
  zeroPoint: string | undefined;
  /** Number of scales (1: per tensor), undefined when not known statically. */
  channels: number | undefined;
  /** The resolved channel axis when per channel. */
  axis: number | undefined;
}

/** A float op output quantized by one QuantizeLinear. */
interface QuantizedOutput {
  q: Node;
  /** The integer tensor (QuantizeLinear's output). */
  value: string;
  dtype: DType;
  scale: string;
  zeroPoint: string | undefined;
}

/**
 * How one float op is replaced: by a new node, or (an identity on the integers) by reading
 * `alias.to` wherever `alias.from` was read; `removeQ` is the QuantizeLinear it absorbs.
 */
type Conversion = { spec: NodeSpec; removeQ?: Node } | { alias: { from: string; to: string }; removeQ: Node } | { reason: string };

const EIGHT_BIT: ReadonlySet<DType> = new Set(['int8', 'uint8']);
const SHAPE_ONLY_OPS: ReadonlySet<string> = new Set(['Reshape', 'Transpose', 'Flatten', 'MaxPool', 'Squeeze', 'Unsqueeze', 'Slice', 'Pad']);

/**
 * Converts a QDQ graph to the QOperator format. Each float op whose data inputs come from
 * DequantizeLinear and whose output goes to one QuantizeLinear becomes an integer op reading
 * the quantized inputs and writing the quantized output; Conv, MatMul and Gemm take their
 * weights as the quantized initializers and their bias as int32 with scale
 * x_scale × w_scale (requantized when it was written with another scale); a MatMul or
 * Gemm whose output stays float becomes com.microsoft MatMulIntegerToFloat or a float-output
 * QGemm. QuantizeLinear/DequantizeLinear nodes left without readers are removed. Ops that do
 * not fit an integer kernel (int8 activations with uint8 weights, per-channel activations,
 * differing types, a non-constant bias, ...) stay as they were and are listed in
 * `summary.kept` with the reason.
 *
 * The input graph is not changed. Fails with RAZOR_INVALID_ARGUMENT when the graph has no
 * DequantizeLinear node (quantize it to QDQ first).
 */
export function toQOperator(graph: Graph, options: ToQOperatorOptions = {}): { graph: Graph; summary: QOperatorSummary } {
  if (!graph.nodes.some((node) => isDefault(node) && node.opType === 'DequantizeLinear')) {
    fail(ErrorCodes.INVALID_ARGUMENT, `graph '${graph.name}' has no DequantizeLinear node; toQOperator converts QDQ graphs, so quantize the model to QDQ first`);
  }
  const working = graph.clone();
  const inference = inferShapes(working, { strict: false, ...(options.registry ? { registry: options.registry } : {}) });
  const converter = new Converter(working, inference.constants);
  const nodesBefore = working.nodes.length;
  const converted: ConvertedNode[] = [];
  const kept: KeptNode[] = [];

  for (const node of topologicalOrder(working)) {
    if (!isDefault(node) || node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear') continue;
    if (!node.inputs.some((input) => input !== '' && converter.dequantized(input) !== undefined)) continue;
    const result = converter.convert(node);
    if ('reason' in result) {
      kept.push({ node: node.name, opType: node.opType, reason: result.reason });
      continue;
    }
    if ('alias' in result) {
      working.removeNode(node);
      working.removeNode(result.removeQ);
      working.replaceAllUses(result.alias.from, result.alias.to);
      converted.push({ node: node.name, from: node.opType, to: 'Identity' });
      continue;
    }
    let position = working.nodes.indexOf(node);
    working.removeNode(node);
    if (result.removeQ) {
      if (working.nodes.indexOf(result.removeQ) < position) position--;
      working.removeNode(result.removeQ);
    }
    const replacement = working.addNode(result.spec, position);
    converted.push({ node: node.name, from: node.opType, to: replacement.domain === '' ? replacement.opType : `${replacement.domain}::${replacement.opType}` });
  }

  const removedQdqNodes = converter.absorbedQuantizers + converter.removeUnreadQdq();
  if (converted.some((entry) => entry.to.startsWith(`${MICROSOFT_DOMAIN}::`)) && !working.opsetImports.has(MICROSOFT_DOMAIN)) {
    working.opsetImports.set(MICROSOFT_DOMAIN, 1);
  }
  // A parameter read by an integer op may be produced after the float op it replaced.
  topologicalSort(working);
  converter.dropStaleTypes();
  inferShapes(working, { strict: false, ...(options.registry ? { registry: options.registry } : {}) });
  return {
    graph: working,
    summary: { converted, kept, warnings: converter.warnings, removedQdqNodes, nodesBefore, nodesAfter: working.nodes.length },
  };
}

function isDefault(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

function attributesOf(node: Node, names?: readonly string[]): Record<string, AttributeInput> {
  const attributes: Record<string, AttributeInput> = {};
  for (const [name, value] of node.attributes) if (names === undefined || names.includes(name)) attributes[name] = value as AttributeValue;
  return attributes;
}

class Converter {
  readonly #graph: Graph;
  readonly #constants: Map<string, Tensor>;
  /** Zero-point initializers made here, by dtype and element count. */
  readonly #zeroPoints = new Map<string, string>();
  /** Values produced by nodes removed here, whose inferred types must go. */
  readonly #removedValues = new Set<string>();
  /** QuantizeLinear nodes absorbed into the integer ops. */
  absorbedQuantizers = 0;
  readonly warnings: string[] = [];

  constructor(graph: Graph, constants: Map<string, Tensor>) {
    this.#graph = graph;
    this.#constants = constants;
  }

  #constant(name: string | undefined): Tensor | undefined {
    if (name === undefined || name === '') return undefined;
    return this.#graph.initializers.get(name) ?? this.#constants.get(name);
  }

  #elements(name: string): number | undefined {
    const constant = this.#constant(name);
    if (constant) return constant.size;
    const shape = this.#graph.typeOf(name)?.shape;
    if (shape === undefined || !shape.every((dim) => typeof dim === 'number')) return undefined;
    return (shape as number[]).reduce((product, dim) => product * dim, 1);
  }

  /** The DequantizeLinear reading of `value`, if `value` is a DequantizeLinear output. */
  dequantized(value: string): Dequantized | undefined {
    const dq = this.#graph.producer(value);
    if (!dq || !isDefault(dq) || dq.opType !== 'DequantizeLinear') return undefined;
    const [input, scale, zeroPoint] = dq.inputs;
    if (!input || !scale) return undefined;
    const dtype = this.#graph.typeOf(input)?.dtype;
    if (dtype === undefined) return undefined;
    const channels = this.#elements(scale);
    let axis: number | undefined;
    if (channels !== 1) {
      const rank = this.#graph.typeOf(input)?.shape?.length;
      const attribute = getInt(dq, 'axis', 1);
      axis = rank === undefined ? undefined : attribute < 0 ? attribute + rank : attribute;
    }
    return { dq, value: input, dtype, scale, zeroPoint: zeroPoint || undefined, channels, axis };
  }

  /** The QuantizeLinear that alone reads `node`'s only output (not a graph output). */
  #quantizedOutput(node: Node): QuantizedOutput | string {
    const outputs = node.outputs.filter((output) => output !== '');
    if (outputs.length !== 1 || node.outputs[0] === '') return 'it has more than one output';
    const output = outputs[0]!;
    if (this.#graph.isOutput(output)) return `its output '${output}' is a graph output, not quantized`;
    const readers = this.#graph.consumers(output);
    const q = readers[0];
    if (readers.length !== 1 || !q || !isDefault(q) || q.opType !== 'QuantizeLinear' || q.inputs[0] !== output) {
      return `its output '${output}' is read by ${readers.map((reader) => `'${reader.name}' (${reader.opType})`).join(', ') || 'nothing'}, not by one QuantizeLinear`;
    }
    const [, scale, zeroPoint] = q.inputs;
    if (!scale || !q.outputs[0]) return `QuantizeLinear '${q.name}' has no scale`;
    if (this.#elements(scale) !== 1) return `QuantizeLinear '${q.name}' quantizes per channel; integer ops take a per-tensor output`;
    const dtype = this.#graph.typeOf(q.outputs[0])?.dtype ?? (zeroPoint ? this.#graph.typeOf(zeroPoint)?.dtype : 'uint8');
    if (dtype === undefined || !EIGHT_BIT.has(dtype)) return `QuantizeLinear '${q.name}' quantizes to ${dtype ?? 'an unknown type'}; integer ops take int8 or uint8`;
    return { q, value: q.outputs[0], dtype, scale, zeroPoint: zeroPoint || undefined };
  }

  /**
   * A zero point initializer of `dtype` holding `elements` zeros, for parameters written without
   * one (a per-channel scale gets as many zeros as it has channels, the shape integer ops expect).
   */
  #zero(dtype: DType, elements: number): string {
    const key = `${dtype}\u0000${elements}`;
    let name = this.#zeroPoints.get(key);
    if (name === undefined) {
      const zeros = Tensor.from(dtype, elements === 1 ? [] : [elements], new Array<number>(elements).fill(0));
      name = this.#graph.addInitializer(this.#graph.uniqueName(elements === 1 ? `zero_point_${dtype}` : `zero_point_${dtype}_${elements}`), zeros);
      this.#zeroPoints.set(key, name);
    }
    return name;
  }

  #zeroPointOf(operand: { zeroPoint: string | undefined; dtype: DType; channels?: number | undefined }): string {
    return operand.zeroPoint ?? this.#zero(operand.dtype, operand.channels ?? 1);
  }

  /** The data inputs of `node` at `positions`, each through DequantizeLinear per tensor with an 8-bit type. */
  #activations(node: Node, positions: readonly number[]): Dequantized[] | string {
    const found: Dequantized[] = [];
    for (const position of positions) {
      const input = node.inputs[position];
      const dequantized = input ? this.dequantized(input) : undefined;
      if (!dequantized) return `input ${position} ('${input ?? ''}') does not come from DequantizeLinear`;
      if (!EIGHT_BIT.has(dequantized.dtype)) return `input ${position} is dequantized from ${dequantized.dtype}; integer ops take int8 or uint8`;
      if (dequantized.channels !== 1) return `input ${position} is quantized per channel; integer ops take per-tensor activations`;
      found.push(dequantized);
    }
    return found;
  }

  /** Same dtype and, as constants or as names, the same scale and zero point. */
  #sameParameters(left: { dtype: DType; scale: string; zeroPoint: string | undefined }, right: { dtype: DType; scale: string; zeroPoint: string | undefined }): boolean {
    if (left.dtype !== right.dtype) return false;
    const equal = (a: string | undefined, b: string | undefined): boolean => {
      if (a === b) return true;
      const first = this.#constant(a);
      const second = this.#constant(b);
      const values = (tensor: Tensor | undefined): number[] => (tensor ? tensor.toNumbers() : [0]);
      if ((a !== undefined && !first) || (b !== undefined && !second)) return false;
      const x = values(first);
      const y = values(second);
      return x.length === y.length && x.every((value, index) => value === y[index]);
    };
    return equal(left.scale, right.scale) && equal(left.zeroPoint, right.zeroPoint);
  }

  /** Notes a uint8 × int8 product whose weights use more than 7 bits (see `QOperatorSummary.warnings`). */
  #checkSaturation(node: Node, input: Dequantized, weight: Dequantized): void {
    if (input.dtype !== 'uint8' || weight.dtype !== 'int8') return;
    const data = this.#constant(weight.value);
    if (!data) return;
    const values = data.data as Int8Array;
    let largest = 0;
    for (let index = 0; index < values.length; index++) largest = Math.max(largest, Math.abs(values[index]!));
    if (largest <= 64) return;
    this.warnings.push(
      `node '${node.name}' (${node.opType}): uint8 activations times int8 weights up to ±${largest} can saturate on x86 CPUs with AVX2 but no VNNI, ` +
        'where onnxruntime sums pairs of products in 16 bits; quantize the weights with reduceRange (7 bits) for such CPUs',
    );
  }

  convert(node: Node): Conversion {
    switch (node.opType) {
      case 'Conv':
        return this.#conv(node);
      case 'MatMul':
        return this.#matMul(node);
      case 'Gemm':
        return this.#gemm(node);
      case 'Add':
      case 'Mul':
        return this.#binary(node);
      case 'GlobalAveragePool':
      case 'AveragePool':
      case 'Sigmoid':
      case 'LeakyRelu':
        return this.#unary(node);
      case 'Concat':
        return this.#concat(node);
      case 'Relu':
        return this.#relu(node);
      default:
        if (SHAPE_ONLY_OPS.has(node.opType)) return this.#shapeOnly(node);
        return { reason: `no integer op stands for ${node.opType}` };
    }
  }

  #conv(node: Node): Conversion {
    const x = this.#activations(node, [0]);
    if (typeof x === 'string') return { reason: x };
    const w = this.dequantized(node.inputs[1] ?? '');
    if (!w || !EIGHT_BIT.has(w.dtype)) return { reason: 'the weight (input 1) is not an int8/uint8 tensor through DequantizeLinear' };
    const input = x[0]!;
    if (w.channels !== 1 && w.axis !== 0) return { reason: 'the weight is quantized per channel along an axis other than 0 (output channels)' };
    if (input.dtype === 'int8' && w.dtype === 'uint8') return { reason: 'int8 activations with uint8 weights have no onnxruntime kernel; quantize the weights to int8' };
    const output = this.#quantizedOutput(node);
    if (typeof output === 'string') return { reason: output };
    if (output.dtype !== input.dtype) return { reason: `the input is ${input.dtype} but the output is quantized to ${output.dtype}; QLinearConv keeps one type` };
    const bias = this.#bias(node.inputs[2], input, w, 1, node);
    if (typeof bias === 'object') return bias;
    const inputs = [input.value, input.scale, this.#zeroPointOf(input), w.value, w.scale, this.#zeroPointOf(w), output.scale, this.#zeroPointOf(output)];
    if (bias !== undefined) inputs.push(bias);
    this.#checkSaturation(node, input, w);
    this.#absorb(output);
    return { spec: { opType: 'QLinearConv', inputs, outputs: [output.value], attributes: attributesOf(node), name: node.name }, removeQ: output.q };
  }

  /**
   * The int32 bias with scale alpha × x_scale × w_scale: the DequantizeLinear input when it
   * was written that way, else a new initializer requantized from the constant bias (float,
   * or dequantized with another scale; multiplied by `factor`, Gemm's beta). Undefined for
   * no bias; `{ reason }` when the bias is not constant.
   */
  #bias(value: string | undefined, x: Dequantized, w: Dequantized, factor: number, node: Node, alpha = 1): string | undefined | { reason: string } {
    if (value === undefined || value === '') return undefined;
    const xScale = this.#constant(x.scale)?.toNumbers();
    const wScale = this.#constant(w.scale)?.toNumbers();
    if (!xScale || !wScale) return { reason: 'the input or weight scale is not constant, so the int32 bias scale is unknown' };
    const wanted = wScale.map((scale) => Math.fround(alpha * xScale[0]! * scale));
    const dequantized = this.dequantized(value);
    let data: Tensor | undefined;
    let values: Float64Array;
    if (dequantized) {
      data = this.#constant(dequantized.value);
      const scale = this.#constant(dequantized.scale)?.toNumbers();
      const zeroPoint = dequantized.zeroPoint ? this.#constant(dequantized.zeroPoint)?.toNumbers() : [0];
      if (dequantized.dtype === 'int32' && factor === 1 && scale && zeroPoint?.every((entry) => entry === 0) && sameScales(scale, wanted)) return dequantized.value;
      if (!data || !scale || !zeroPoint) return { reason: `the bias '${value}' is not constant, so it cannot be requantized to scale x_scale × w_scale` };
      values = dequantizeValues(data, scale, zeroPoint, dequantized.axis);
    } else {
      data = this.#constant(value);
      if (!data || (data.dtype !== 'float32' && data.dtype !== 'float64')) return { reason: `the bias '${value}' is neither a float constant nor int32 through DequantizeLinear` };
      values = Float64Array.from(data.toNumbers());
    }
    // The bias is [M] (Conv), or broadcasts along Gemm's output columns: scales run along its last axis.
    const quantized = new Int32Array(values.length);
    for (let index = 0; index < values.length; index++) {
      const scale = wanted[wanted.length === 1 ? 0 : index % wanted.length]!;
      const q = scale === 0 ? 0 : roundHalfToEven((values[index]! * factor) / scale);
      quantized[index] = Math.min(INT32_RANGE[1], Math.max(INT32_RANGE[0], q));
    }
    return this.#graph.addInitializer(this.#graph.uniqueName(`${node.name}_bias_quantized`), new Tensor('int32', [...data.shape], quantized));
  }

  #matMul(node: Node): Conversion {
    const a = this.#activations(node, [0]);
    if (typeof a === 'string') return { reason: a };
    const input = a[0]!;
    const b = this.dequantized(node.inputs[1] ?? '');
    if (!b || !EIGHT_BIT.has(b.dtype)) return { reason: 'input 1 is not an int8/uint8 tensor through DequantizeLinear' };
    const bRank = this.#graph.typeOf(b.value)?.shape?.length;
    if (b.channels !== 1 && (bRank !== 2 || b.axis !== 1)) return { reason: 'B is quantized per channel other than per column of a 2-D matrix' };
    if (input.dtype === 'int8' && b.dtype === 'uint8') return { reason: 'int8 A with uint8 B has no onnxruntime kernel' };
    const output = this.#quantizedOutput(node);
    if (typeof output !== 'string' && output.dtype !== input.dtype) return { reason: `A is ${input.dtype} but the output is quantized to ${output.dtype}; QLinearMatMul keeps one type` };
    this.#checkSaturation(node, input, b);
    if (typeof output === 'string') {
      // A float result: onnxruntime's MatMulIntegerToFloat (integer product, float scaling).
      return {
        spec: {
          opType: 'MatMulIntegerToFloat',
          domain: MICROSOFT_DOMAIN,
          inputs: [input.value, b.value, input.scale, b.scale, this.#zeroPointOf(input), this.#zeroPointOf(b)],
          outputs: [node.outputs[0]!],
          name: node.name,
        },
      };
    }
    this.#absorb(output);
    return {
      spec: {
        opType: 'QLinearMatMul',
        inputs: [input.value, input.scale, this.#zeroPointOf(input), b.value, b.scale, this.#zeroPointOf(b), output.scale, this.#zeroPointOf(output)],
        outputs: [output.value],
        name: node.name,
      },
      removeQ: output.q,
    };
  }

  #gemm(node: Node): Conversion {
    const a = this.#activations(node, [0]);
    if (typeof a === 'string') return { reason: a };
    const input = a[0]!;
    const b = this.dequantized(node.inputs[1] ?? '');
    if (!b || !EIGHT_BIT.has(b.dtype)) return { reason: 'B (input 1) is not an int8/uint8 tensor through DequantizeLinear' };
    const transB = getInt(node, 'transB', 0) !== 0;
    if (b.channels !== 1 && b.axis !== (transB ? 0 : 1)) return { reason: `B is quantized per channel along axis ${String(b.axis)}, not per output column (axis ${transB ? 0 : 1})` };
    if (input.dtype === 'int8' && b.dtype === 'uint8') return { reason: 'int8 A with uint8 B has no onnxruntime kernel' };
    const output = this.#quantizedOutput(node);
    if (typeof output !== 'string' && output.dtype !== input.dtype) return { reason: `A is ${input.dtype} but the output is quantized to ${output.dtype}; QGemm keeps one type` };
    const bias = this.#bias(node.inputs[2], input, b, getFloat(node, 'beta', 1), node, getFloat(node, 'alpha', 1));
    if (typeof bias === 'object') return bias;
    this.#checkSaturation(node, input, b);
    const attributes = attributesOf(node, ['transA', 'transB', 'alpha']);
    const inputs = [input.value, input.scale, this.#zeroPointOf(input), b.value, b.scale, this.#zeroPointOf(b), bias ?? ''];
    if (typeof output === 'string') {
      // QGemm without y_scale writes float32.
      while (inputs[inputs.length - 1] === '') inputs.pop();
      return { spec: { opType: 'QGemm', domain: MICROSOFT_DOMAIN, inputs, outputs: [node.outputs[0]!], attributes, name: node.name } };
    }
    this.#absorb(output);
    inputs.push(output.scale, this.#zeroPointOf(output));
    return { spec: { opType: 'QGemm', domain: MICROSOFT_DOMAIN, inputs, outputs: [output.value], attributes, name: node.name }, removeQ: output.q };
  }

  #binary(node: Node): Conversion {
    const operands = this.#activations(node, [0, 1]);
    if (typeof operands === 'string') return { reason: operands };
    const [left, right] = operands as [Dequantized, Dequantized];
    if (left.dtype !== right.dtype) return { reason: `the operands are ${left.dtype} and ${right.dtype}; QLinear${node.opType} takes one type` };
    const output = this.#quantizedOutput(node);
    if (typeof output === 'string') return { reason: output };
    if (output.dtype !== left.dtype) return { reason: `the operands are ${left.dtype} but the output is quantized to ${output.dtype}` };
    this.#absorb(output);
    return {
      spec: {
        opType: `QLinear${node.opType}`,
        domain: MICROSOFT_DOMAIN,
        inputs: [left.value, left.scale, this.#zeroPointOf(left), right.value, right.scale, this.#zeroPointOf(right), output.scale, this.#zeroPointOf(output)],
        outputs: [output.value],
        name: node.name,
      },
      removeQ: output.q,
    };
  }

  #unary(node: Node): Conversion {
    const operands = this.#activations(node, [0]);
    if (typeof operands === 'string') return { reason: operands };
    const input = operands[0]!;
    if (node.opType === 'AveragePool' && (getInts(node, 'dilations') ?? []).some((dilation) => dilation !== 1)) {
      return { reason: 'QLinearAveragePool has no dilations' };
    }
    const output = this.#quantizedOutput(node);
    if (typeof output === 'string') return { reason: output };
    if (output.dtype !== input.dtype) return { reason: `the input is ${input.dtype} but the output is quantized to ${output.dtype}` };
    const attributes: Record<string, AttributeInput> =
      node.opType === 'AveragePool'
        ? { ...attributesOf(node, ['auto_pad', 'ceil_mode', 'count_include_pad', 'kernel_shape', 'pads', 'strides']), channels_last: 0 }
        : node.opType === 'GlobalAveragePool'
          ? { channels_last: 0 }
          : node.opType === 'LeakyRelu'
            ? { alpha: { type: 'float', value: getFloat(node, 'alpha', 0.01) } }
            : {};
    this.#absorb(output);
    return {
      spec: {
        opType: `QLinear${node.opType}`,
        domain: MICROSOFT_DOMAIN,
        inputs: [input.value, input.scale, this.#zeroPointOf(input), output.scale, this.#zeroPointOf(output)],
        outputs: [output.value],
        attributes,
        name: node.name,
      },
      removeQ: output.q,
    };
  }

  #concat(node: Node): Conversion {
    const positions = node.inputs.map((_, index) => index).filter((index) => node.inputs[index] !== '');
    const operands = this.#activations(node, positions);
    if (typeof operands === 'string') return { reason: operands };
    const output = this.#quantizedOutput(node);
    if (typeof output === 'string') return { reason: output };
    const mixed = operands.find((operand) => operand.dtype !== output.dtype);
    if (mixed) return { reason: `an input is ${mixed.dtype} but the output is quantized to ${output.dtype}; QLinearConcat takes one type` };
    this.#absorb(output);
    const inputs = [output.scale, this.#zeroPointOf(output)];
    for (const operand of operands) inputs.push(operand.value, operand.scale, this.#zeroPointOf(operand));
    return {
      spec: { opType: 'QLinearConcat', domain: MICROSOFT_DOMAIN, inputs, outputs: [output.value], attributes: attributesOf(node, ['axis']), name: node.name },
      removeQ: output.q,
    };
  }

  /**
   * DequantizeLinear → shape-only op → QuantizeLinear with one scale and zero point: the op
   * moves integers exactly as it moved their float values, so it runs on the integers.
   */
  #shapeOnly(node: Node): Conversion {
    const operands = this.#activations(node, [0]);
    if (typeof operands === 'string') return { reason: operands };
    const input = operands[0]!;
    if (node.opType === 'MaxPool' && this.#graph.opset() < 12) return { reason: `MaxPool takes int8/uint8 from opset 12; the graph imports opset ${this.#graph.opset()}` };
    const output = this.#quantizedOutput(node);
    if (typeof output === 'string') return { reason: output };
    if (!this.#sameParameters(input, output)) return { reason: 'its input and output have different scales, zero points or types' };
    const inputs = [input.value, ...node.inputs.slice(1)];
    if (node.opType === 'Pad') {
      if (this.#graph.opset() < 11) return { reason: `Pad takes int8/uint8 from opset 11; the graph imports opset ${this.#graph.opset()}` };
      if (getString(node, 'mode', 'constant') === 'constant') {
        // The padding value, quantized as the output QuantizeLinear would quantize it.
        const padValue = this.#quantizedConstant(node.inputs[2], output);
        if (padValue === undefined) return { reason: 'its constant_value is computed at run time' };
        inputs[2] = padValue;
      }
    }
    this.#absorb(output);
    return {
      spec: { opType: node.opType, inputs, outputs: [output.value], attributes: attributesOf(node), name: node.name },
      removeQ: output.q,
    };
  }

  /** A float scalar (0 when absent) quantized with `output`'s parameters, as a new initializer; undefined when not constant. */
  #quantizedConstant(value: string | undefined, output: QuantizedOutput): string | undefined {
    const constant = value ? this.#constant(value) : Tensor.float32([], [0]);
    const scale = this.#constant(output.scale)?.numberAt(0);
    const zeroPoint = output.zeroPoint ? this.#constant(output.zeroPoint)?.numberAt(0) : 0;
    if (!constant || constant.size !== 1 || scale === undefined || zeroPoint === undefined) return undefined;
    const [low, high] = output.dtype === 'int8' ? [-128, 127] : [0, 255];
    const quantized = Math.min(high, Math.max(low, roundHalfToEven(constant.numberAt(0) / scale) + zeroPoint));
    return this.#graph.addInitializer(this.#graph.uniqueName(`${output.value}_pad_value`), Tensor.from(output.dtype, [], [quantized]));
  }

  /**
   * Relu between a dequantized input whose zero point is the type's minimum (every value it
   * stands for is ≥ 0) and a QuantizeLinear with the same parameters is the identity: its
   * readers read the integers directly (through an Identity node when they are a graph output).
   */
  #relu(node: Node): Conversion {
    const operands = this.#activations(node, [0]);
    if (typeof operands === 'string') return { reason: operands };
    const input = operands[0]!;
    const output = this.#quantizedOutput(node);
    if (typeof output === 'string') return { reason: output };
    const zeroPoint = input.zeroPoint ? this.#constant(input.zeroPoint)?.toNumbers()[0] : 0;
    const minimum = input.dtype === 'int8' ? -128 : 0;
    if (zeroPoint !== minimum || !this.#sameParameters(input, output)) {
      return { reason: 'Relu changes values here: its input can be negative or its output has other parameters' };
    }
    this.#absorb(output);
    if (this.#graph.isOutput(output.value)) return { spec: { opType: 'Identity', inputs: [input.value], outputs: [output.value], name: node.name }, removeQ: output.q };
    return { alias: { from: output.value, to: input.value }, removeQ: output.q };
  }

  #absorb(output: QuantizedOutput): void {
    this.absorbedQuantizers++;
    for (const value of output.q.inputs.slice(0, 1)) this.#removedValues.add(value);
  }

  /**
   * Removes QuantizeLinear/DequantizeLinear nodes whose outputs nothing reads any more, then
   * the initializers only they read. Returns the number of nodes removed.
   */
  removeUnreadQdq(): number {
    let removed = 0;
    const freed = new Set<string>();
    for (let changed = true; changed; ) {
      changed = false;
      for (const node of [...this.#graph.nodes]) {
        if (!isDefault(node) || (node.opType !== 'DequantizeLinear' && node.opType !== 'QuantizeLinear')) continue;
        const read = node.outputs.some((output) => output !== '' && (this.#graph.consumers(output).length > 0 || this.#graph.isOutput(output)));
        if (read) continue;
        this.#graph.removeNode(node);
        for (const output of node.outputs) this.#removedValues.add(output);
        for (const input of node.inputs) if (input !== '') freed.add(input);
        removed++;
        changed = true;
      }
    }
    for (const name of this.#zeroPoints.values()) freed.add(name);
    for (const name of freed) {
      if (!this.#graph.initializers.has(name) || this.#graph.consumers(name).length > 0 || this.#graph.isOutput(name) || this.#graph.isInput(name)) continue;
      this.#graph.initializers.delete(name);
      this.#graph.initializerPassthrough.delete(name);
    }
    return removed;
  }

  /** Drops value_info of values that no longer exist (shape inference then types the new ones). */
  dropStaleTypes(): void {
    const defined = this.#graph.definedValues();
    for (const name of this.#removedValues) if (!defined.has(name)) this.#graph.valueInfo.delete(name);
  }
}

/** Scales equal within `SCALE_TOLERANCE`, one list possibly a single value standing for all. */
function sameScales(actual: readonly number[], wanted: readonly number[]): boolean {
  const length = Math.max(actual.length, wanted.length);
  if ((actual.length !== 1 && actual.length !== length) || (wanted.length !== 1 && wanted.length !== length)) return false;
  for (let index = 0; index < length; index++) {
    const have = actual[actual.length === 1 ? 0 : index]!;
    const target = wanted[wanted.length === 1 ? 0 : index]!;
    if (Math.abs(have - target) > SCALE_TOLERANCE * Math.abs(target)) return false;
  }
  return true;
}

/** (q − zero point) × scale, per tensor or per channel along `axis`. */
function dequantizeValues(data: Tensor, scale: readonly number[], zeroPoint: readonly number[], axis: number | undefined): Float64Array {
  const values = new Float64Array(data.size);
  const channels = scale.length;
  let inner = 1;
  if (channels > 1 && axis !== undefined) for (let position = axis + 1; position < data.rank; position++) inner *= data.shape[position]!;
  for (let index = 0; index < values.length; index++) {
    const channel = channels === 1 ? 0 : Math.floor(index / inner) % channels;
    values[index] = (data.numberAt(index) - zeroPoint[zeroPoint.length === 1 ? 0 : channel]!) * scale[channel]!;
  }
  return values;
}

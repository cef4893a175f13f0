/**
 * Dynamic quantization in onnxruntime's quantize_dynamic conventions: the weights of MatMul
 * and Gemm become int8 (or uint8) initializers once; activations are quantized at run time by
 * DynamicQuantizeLinear (uint8, per tensor), multiplied by MatMulInteger, cast to float and
 * scaled by x_scale × w_scale. onnxruntime fuses each group into DynamicQuantizeMatMul or
 * MatMulIntegerToFloat when it loads the model. No calibration data is needed.
 */
import { ErrorCodes, Tensor, fail, getFloat, getInt, inferShapes, topologicalSort, type Graph, type Node, type NodeSpec, type OpRegistry } from '@razor/core';
import { raiseOpset } from '../qdq/opset.js';
import { quantParamsFromRange, quantizeTensor, tensorRange } from '../quant-params.js';

/** The ops `quantizeDynamic` quantizes. */
export type DynamicOpType = 'MatMul' | 'Gemm';

const DYNAMIC_OP_TYPES: readonly DynamicOpType[] = ['MatMul', 'Gemm'];
/** DynamicQuantizeLinear arrived in opset 11. */
const MINIMUM_OPSET = 11;
const FLOAT_ONNX_CODE = 1;

/** Options of `quantizeDynamic`. */
export interface QuantizeDynamicOptions {
  /** The weights' integer type: int8 symmetric (zero point 0, [−127, 127]) or uint8 asymmetric. */
  weightType: 'int8' | 'uint8';
  /** One scale per output column of each weight instead of one per weight (default false). */
  perChannel?: boolean;
  /**
   * 7-bit weights: uint8 activations times int8 weights cannot saturate onnxruntime's 16-bit
   * pair sums on x86 CPUs with AVX2 but no VNNI (default false).
   */
  reduceRange?: boolean;
  /** The op types to quantize (default both MatMul and Gemm). */
  opTypes?: readonly DynamicOpType[];
  /** Nodes to leave in float. */
  exclude?: { nodes?: readonly string[] };
  /** The op definitions used for shape inference; core's `defaultRegistry` when omitted. */
  registry?: OpRegistry;
}

/** A MatMul or Gemm whose weight was quantized. */
export interface DynamicQuantizedNode {
  node: string;
  opType: DynamicOpType;
  /** The float weight initializer it read. */
  weight: string;
  /** Bytes of the float weight, and of its integer form with scales and zero points. */
  floatBytes: number;
  quantizedBytes: number;
}

/** A MatMul or Gemm left in float, with why. */
export interface DynamicSkippedNode {
  node: string;
  opType: string;
  reason: string;
}

/** What `quantizeDynamic` did. */
export interface QuantizeDynamicSummary {
  quantized: DynamicQuantizedNode[];
  skipped: DynamicSkippedNode[];
  /** DynamicQuantizeLinear nodes added (one per distinct activation quantized). */
  dynamicQuantizers: number;
  /** Bytes of the float weights replaced, and of their integer forms (each weight counted once). */
  floatWeightBytes: number;
  quantizedWeightBytes: number;
  /**
   * Choices onnxruntime may compute inexactly on some CPUs: int8 weights beyond ±64 times the
   * uint8 activations saturate 16-bit pair sums on x86 CPUs with AVX2 but without VNNI.
   */
  warnings: string[];
  /** The default-domain opset before, when it had to be raised to 11 for DynamicQuantizeLinear. */
  raisedOpsetFrom?: number;
  nodesBefore: number;
  nodesAfter: number;
}

interface QuantizedWeight {
  value: string;
  scale: string;
  zeroPoint: string;
  bytes: number;
}

interface DynamicActivation {
  value: string;
  scale: string;
  zeroPoint: string;
}

/**
 * Quantizes the weights of a float graph's MatMul and Gemm nodes for dynamic quantization.
 * Each selected node whose weight (B) is a 2-D float initializer becomes
 * DynamicQuantizeLinear(A) → MatMulInteger(A_q, B_q, A_zp, B_zp) → Cast(float) →
 * Mul(A_scale × B_scale) (→ Add(bias) for Gemm, with alpha folded into the quantized weight,
 * transB into its layout and beta into the bias). Others stay float and are listed in
 * `summary.skipped`: a B that is not an initializer (attention's activation products), a weight
 * that is not 2-D, a Gemm with transA, excluded nodes. The input graph is not changed.
 *
 * Fails with RAZOR_INVALID_ARGUMENT on an unknown weight type or op type, or an excluded node
 * the graph does not have.
 */
export function quantizeDynamic(graph: Graph, options: QuantizeDynamicOptions): { graph: Graph; summary: QuantizeDynamicSummary } {
  if (options.weightType !== 'int8' && options.weightType !== 'uint8') {
    fail(ErrorCodes.INVALID_ARGUMENT, `weightType '${String(options.weightType)}' is not supported; use 'int8' (symmetric) or 'uint8' (asymmetric)`);
  }
  const opTypes = new Set(options.opTypes ?? DYNAMIC_OP_TYPES);
  for (const opType of opTypes) {
    if (!DYNAMIC_OP_TYPES.includes(opType)) fail(ErrorCodes.INVALID_ARGUMENT, `opTypes names '${String(opType)}'; dynamic quantization covers ${DYNAMIC_OP_TYPES.join(' and ')}`);
  }
  const excluded = new Set(options.exclude?.nodes ?? []);
  const missing = [...excluded].filter((name) => graph.node(name) === undefined);
  if (missing.length > 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `exclude.nodes names ${missing.map((name) => `'${name}'`).join(', ')}, not in graph '${graph.name}'; check the node names (razor inspect lists them)`);
  }

  const working = graph.clone();
  const nodesBefore = working.nodes.length;
  inferShapes(working, { strict: false, ...(options.registry ? { registry: options.registry } : {}) });
  const quantizer = new DynamicQuantizer(working, options);
  const quantized: DynamicQuantizedNode[] = [];
  const skipped: DynamicSkippedNode[] = [];
  let raisedOpsetFrom: number | undefined;

  for (const node of [...working.nodes]) {
    if ((node.domain !== '' && node.domain !== 'ai.onnx') || !DYNAMIC_OP_TYPES.includes(node.opType as DynamicOpType)) continue;
    const opType = node.opType as DynamicOpType;
    if (!opTypes.has(opType)) continue;
    if (excluded.has(node.name)) {
      skipped.push({ node: node.name, opType, reason: 'excluded by exclude.nodes' });
      continue;
    }
    const reason = quantizer.unsupported(node);
    if (reason !== undefined) {
      skipped.push({ node: node.name, opType, reason });
      continue;
    }
    if (raisedOpsetFrom === undefined && working.opset() < MINIMUM_OPSET) {
      raisedOpsetFrom = raiseOpset(working, MINIMUM_OPSET, 'dynamic quantization (DynamicQuantizeLinear)');
    }
    quantized.push(quantizer.quantize(node));
  }

  quantizer.removeUnreadWeights();
  topologicalSort(working);
  inferShapes(working, { strict: false, ...(options.registry ? { registry: options.registry } : {}) });
  const counted = new Set<string>();
  let floatWeightBytes = 0;
  let quantizedWeightBytes = 0;
  for (const entry of quantized) {
    if (counted.has(entry.weight)) continue;
    counted.add(entry.weight);
    floatWeightBytes += entry.floatBytes;
    quantizedWeightBytes += entry.quantizedBytes;
  }
  return {
    graph: working,
    summary: {
      quantized,
      skipped,
      dynamicQuantizers: quantizer.dynamicQuantizers,
      warnings:
        options.weightType === 'int8' && !options.reduceRange && quantized.length > 0
          ? [
              `int8 weights up to ±127 times uint8 activations can saturate on x86 CPUs with AVX2 but no VNNI, where onnxruntime sums pairs of products in 16 bits ` +
                `(${quantized.length} node(s)); pass reduceRange: true or weightType 'uint8' for such CPUs`,
            ]
          : [],
      floatWeightBytes,
      quantizedWeightBytes,
      ...(raisedOpsetFrom === undefined ? {} : { raisedOpsetFrom }),
      nodesBefore,
      nodesAfter: working.nodes.length,
    },
  };
}

class DynamicQuantizer {
  readonly #graph: Graph;
  readonly #options: QuantizeDynamicOptions;
  /** Quantized weights by float initializer name and layout (alpha, transposed). */
  readonly #weights = new Map<string, QuantizedWeight>();
  /** DynamicQuantizeLinear outputs by the activation they quantize (onnxruntime reuses them). */
  readonly #activations = new Map<string, DynamicActivation>();
  /** Float weights replaced; removed at the end when nothing reads them. */
  readonly #replaced = new Set<string>();
  dynamicQuantizers = 0;

  constructor(graph: Graph, options: QuantizeDynamicOptions) {
    this.#graph = graph;
    this.#options = options;
  }

  /** Why `node` stays float, or undefined when it can be quantized. */
  unsupported(node: Node): string | undefined {
    const [input, weight] = node.inputs;
    if (!input || !weight) return 'it has no B input';
    const tensor = this.#graph.initializers.get(weight);
    if (tensor === undefined || this.#graph.isInput(weight)) {
      return `B ('${weight}') is not an initializer but a value computed at run time; only constant weights are quantized (onnxruntime would quantize both operands at run time)`;
    }
    if (tensor.dtype !== 'float32') return `B ('${weight}') is ${tensor.dtype}, not float32`;
    if (tensor.rank !== 2) return `B ('${weight}') has shape [${tensor.shape.join(', ')}]; only 2-D weights are quantized, so this one stays float`;
    if (this.#graph.typeOf(input)?.dtype !== undefined && this.#graph.typeOf(input)?.dtype !== 'float32') {
      return `A ('${input}') is ${this.#graph.typeOf(input)?.dtype}, not float32`;
    }
    if (node.opType === 'Gemm') {
      if (getInt(node, 'transA', 0) !== 0) return 'transA = 1: the activation would need a Transpose before DynamicQuantizeLinear; left float';
      const bias = node.inputs[2];
      if (bias && getFloat(node, 'beta', 1) !== 1 && !this.#graph.initializers.has(bias)) return 'C is computed at run time and beta ≠ 1; left float';
      if (bias && this.#graph.initializers.has(bias) && this.#graph.initializers.get(bias)!.dtype !== 'float32') return `C ('${bias}') is not float32`;
    }
    return undefined;
  }

  /** Replaces `node` with the dynamic-quantization group (see `quantizeDynamic`). */
  quantize(node: Node): DynamicQuantizedNode {
    const graph = this.#graph;
    const [input, weightName] = node.inputs as [string, string];
    const output = node.outputs[0]!;
    const isGemm = node.opType === 'Gemm';
    const alpha = isGemm ? getFloat(node, 'alpha', 1) : 1;
    const transB = isGemm && getInt(node, 'transB', 0) !== 0;
    const source = graph.initializers.get(weightName)!;
    const weight = this.#weight(weightName, source, alpha, transB);
    const position = graph.nodes.indexOf(node);
    graph.removeNode(node);
    const added: NodeSpec[] = [];
    const activation = this.#activation(input, added);
    const base = node.name;
    const product = graph.uniqueName(`${output}_output_quantized`);
    added.push({ opType: 'MatMulInteger', inputs: [activation.value, weight.value, activation.zeroPoint, weight.zeroPoint], outputs: [product], name: graph.uniqueName(`${base}_quant`) });
    const cast = graph.uniqueName(`${product}_cast_output`);
    added.push({ opType: 'Cast', inputs: [product], outputs: [cast], attributes: { to: FLOAT_ONNX_CODE }, name: graph.uniqueName(`${product}_cast`) });
    const scales = graph.uniqueName(`${base}_scales_mul_output`);
    added.push({ opType: 'Mul', inputs: [activation.scale, weight.scale], outputs: [scales], name: graph.uniqueName(`${base}_scales_mul`) });
    const bias = isGemm ? node.inputs[2] : undefined;
    const scaled = bias ? graph.uniqueName(`${output}_scaled`) : output;
    added.push({ opType: 'Mul', inputs: [cast, scales], outputs: [scaled], name: graph.uniqueName(`${base}_output_scale_mul`) });
    if (bias) {
      added.push({ opType: 'Add', inputs: [scaled, this.#bias(bias, getFloat(node, 'beta', 1))], outputs: [output], name: graph.uniqueName(`${base}_bias_add`) });
    }
    added.forEach((spec, offset) => graph.addNode(spec, position + offset));
    this.#replaced.add(weightName);
    return { node: node.name, opType: node.opType as DynamicOpType, weight: weightName, floatBytes: source.byteLength, quantizedBytes: weight.bytes };
  }

  /** The quantized form of a weight, laid out [K, N] with alpha folded in (made once per layout). */
  #weight(name: string, source: Tensor, alpha: number, transpose: boolean): QuantizedWeight {
    const key = `${name}|${alpha}|${transpose}`;
    const existing = this.#weights.get(key);
    if (existing) return existing;
    let matrix = transpose ? transpose2d(source) : source;
    if (alpha !== 1) {
      const scaled = new Float32Array(matrix.size);
      const data = matrix.data as Float32Array;
      for (let index = 0; index < scaled.length; index++) scaled[index] = data[index]! * alpha;
      matrix = new Tensor('float32', [...matrix.shape], scaled);
    }
    const type = this.#options.weightType;
    const params = quantParamsFromRange(tensorRange(matrix, this.#options.perChannel ? 1 : undefined), {
      type,
      symmetric: type === 'int8',
      reduceRange: this.#options.reduceRange ?? false,
    });
    const channels = params.scale.length;
    const parameterShape = channels === 1 ? [] : [channels];
    const quantized = quantizeTensor(matrix, params);
    const zeroPoint = type === 'int8' ? new Tensor('int8', parameterShape, Int8Array.from(params.zeroPoint)) : new Tensor('uint8', parameterShape, Uint8Array.from(params.zeroPoint));
    const scale = new Tensor('float32', parameterShape, params.scale);
    const graph = this.#graph;
    const suffix = alpha === 1 && !transpose ? '' : '_gemm';
    const weight: QuantizedWeight = {
      value: graph.addInitializer(graph.uniqueName(`${name}${suffix}_quantized`), quantized),
      scale: graph.addInitializer(graph.uniqueName(`${name}${suffix}_scale`), scale),
      zeroPoint: graph.addInitializer(graph.uniqueName(`${name}${suffix}_zero_point`), zeroPoint),
      bytes: quantized.byteLength + scale.byteLength + zeroPoint.byteLength,
    };
    this.#weights.set(key, weight);
    return weight;
  }

  /** The DynamicQuantizeLinear outputs for `input`, adding the node the first time. */
  #activation(input: string, added: NodeSpec[]): DynamicActivation {
    const existing = this.#activations.get(input);
    if (existing) return existing;
    const graph = this.#graph;
    const activation: DynamicActivation = {
      value: graph.uniqueName(`${input}_quantized`),
      scale: graph.uniqueName(`${input}_scale`),
      zeroPoint: graph.uniqueName(`${input}_zero_point`),
    };
    added.push({ opType: 'DynamicQuantizeLinear', inputs: [input], outputs: [activation.value, activation.scale, activation.zeroPoint], name: graph.uniqueName(`${input}_QuantizeLinear`) });
    this.#activations.set(input, activation);
    this.dynamicQuantizers++;
    return activation;
  }

  /** Gemm's C as the bias to add: beta × C as a new initializer when beta ≠ 1. */
  #bias(bias: string, beta: number): string {
    if (beta === 1) return bias;
    const tensor = this.#graph.initializers.get(bias)!;
    const data = tensor.data as Float32Array;
    const scaled = new Float32Array(data.length);
    for (let index = 0; index < data.length; index++) scaled[index] = data[index]! * beta;
    return this.#graph.addInitializer(this.#graph.uniqueName(`${bias}_beta`), new Tensor('float32', [...tensor.shape], scaled));
  }

  /** Removes the float weights nothing reads any more. */
  removeUnreadWeights(): void {
    for (const name of this.#replaced) {
      if (this.#graph.consumers(name).length > 0 || this.#graph.isOutput(name)) continue;
      this.#graph.initializers.delete(name);
      this.#graph.initializerPassthrough.delete(name);
    }
  }
}

function transpose2d(tensor: Tensor): Tensor {
  const [rows, columns] = tensor.shape as [number, number];
  const data = tensor.data as Float32Array;
  const result = new Float32Array(data.length);
  for (let row = 0; row < rows; row++) for (let column = 0; column < columns; column++) result[column * rows + row] = data[row * columns + column]!;
  return new Tensor('float32', [columns, rows], result);
}

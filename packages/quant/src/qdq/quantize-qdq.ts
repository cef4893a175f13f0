/**
 * Static post-training quantization to a QDQ ONNX graph in onnxruntime's conventions
 * (quantize_static, QuantFormat.QDQ), shaped so that onnxruntime's graph optimizer fuses it into
 * integer kernels (QLinearConv, QLinearMatMul, QGemm, QLinearAdd, ...).
 */
import { ErrorCodes, Tensor, describeNode, fail, getFloat, topologicalSort, type Graph, type Node } from '@razor/core';
import { quantParamsFromRange, quantizeTensor, roundHalfToEven, tensorRange } from '../quant-params.js';
import type { QuantParams, QuantScheme, TensorRange } from '../types.js';
import { raiseOpset } from './opset.js';
import { outputChannels, planQuantization, type PlanOptions, type PlannedInitializer, type QuantizationPlan } from './plan.js';

/** Options of `quantizeQdq`. */
export interface QuantizeQdqOptions extends PlanOptions {
  /** Calibrated per-tensor ranges of `planQuantization(...).activationsToCalibrate` (e.g. `calibrate(...).ranges`). */
  ranges: ReadonlyMap<string, TensorRange>;
  /** Activation scheme, e.g. { type: 'uint8', symmetric: false }. */
  activations: QuantScheme;
  /** Weight scheme, e.g. { type: 'int8', symmetric: true }. */
  weights: QuantScheme;
  /** One scale per output channel of each weight (Conv 0, ConvTranspose 1, Gemm 0 if transB else 1, MatMul 1). */
  perChannel: boolean;
}

/** What `quantizeQdq` did. */
export interface QuantizeQdqSummary {
  /** Nodes given Q/DQ on their inputs and outputs, in total and by op type. */
  quantizedNodes: number;
  quantizedByOpType: Record<string, number>;
  /** Reshape-like nodes whose outputs reuse their input's scale and zero point. */
  sharedNodes: number;
  /** Relu/Clip nodes removed (their clipping is left to the integer range). */
  removedActivations: string[];
  /** Nodes with a QDQ rule that stayed float, with the reason. */
  floatNodes: { node: string; opType: string; reason: string }[];
  /** QuantizeLinear → DequantizeLinear pairs added on activations. */
  qdqPairs: number;
  /** Weights stored as integers, and how many of them per channel. */
  quantizedWeights: number;
  perChannelWeights: number;
  /** Biases stored as int32, and the nodes that got an all-zero one. */
  quantizedBiases: number;
  addedZeroBiases: string[];
  /** Biases with values beyond int32 at their scale (clipped). */
  clippedBiases: string[];
  /** Default-domain opset before and after (raised for per-channel or 16-bit quantization). */
  opset: { before: number; after: number };
  /** Initializer bytes before and after. */
  initializerBytes: { before: number; after: number };
  /** Things to know about running the result on onnxruntime's CPU provider. */
  notes: string[];
}

/** The result of `quantizeQdq`. */
export interface QuantizeQdqResult {
  graph: Graph;
  summary: QuantizeQdqSummary;
  /** The plan it followed. */
  plan: QuantizationPlan;
}

interface InitializerJob {
  tensor: Tensor;
  params: QuantParams;
  /** Base of the new initializer and node names. */
  base: string;
  /** The float initializer it replaces. */
  initializer: string;
  role: PlannedInitializer['role'];
  axis?: number;
  /** The plan entries (node inputs) that read it. */
  entries: PlannedInitializer[];
}

interface ParamNames {
  scale: string;
  /** '' when the DequantizeLinear leaves the zero point out. */
  zeroPoint: string;
  params: QuantParams;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
/** int32 values a symmetric bias range spans, and the headroom onnxruntime leaves above the smallest valid bias scale. */
const INT32_SPAN = INT32_MAX - (INT32_MIN + 1);
const BIAS_MARGIN = 1.0001;

function initializerBytes(graph: Graph): number {
  let bytes = 0;
  for (const tensor of graph.initializers.values()) bytes += tensor.byteLength;
  return bytes;
}

function scaleTensor(params: QuantParams, perChannel: boolean): Tensor {
  return perChannel ? new Tensor('float32', [params.scale.length], Float32Array.from(params.scale)) : Tensor.scalar('float32', params.scale[0]!);
}

/** int8 parameters whose zero points are all 0 (symmetric int8). */
function isZeroInt8(params: QuantParams): boolean {
  return params.type === 'int8' && params.zeroPoint.every((zeroPoint) => zeroPoint === 0);
}

function zeroPointTensor(params: QuantParams, perChannel: boolean): Tensor {
  return perChannel ? Tensor.from(params.type, [params.zeroPoint.length], params.zeroPoint) : Tensor.scalar(params.type, params.zeroPoint[0]!);
}

function checkOptions(options: QuantizeQdqOptions): void {
  if (typeof options !== 'object' || options === null) fail(ErrorCodes.INVALID_ARGUMENT, `quantizeQdq needs an options object with ranges, activations, weights and perChannel`);
  if (!(options.ranges instanceof Map)) {
    fail(ErrorCodes.INVALID_ARGUMENT, `quantizeQdq: ranges must be a Map from value name to TensorRange (calibrate(...).ranges), got ${Object.prototype.toString.call(options.ranges)}`);
  }
  for (const key of ['activations', 'weights'] as const) {
    if (options[key] === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `quantizeQdq: option '${key}' is required, e.g. { type: '${key === 'activations' ? 'uint8' : 'int8'}', symmetric: ${key === 'weights'} }`);
  }
  if (typeof options.perChannel !== 'boolean') fail(ErrorCodes.INVALID_ARGUMENT, `quantizeQdq: option 'perChannel' must be true or false, got ${String(options.perChannel)}`);
}

/**
 * Quantizes `graph` (a float graph, best from `prepareForQuantization`) to QDQ form, following
 * `planQuantization(graph, options)`:
 * - each planned activation gets QuantizeLinear → DequantizeLinear (scale and zero point from
 *   its calibrated range; reshape-like ops reuse their input's), read by all its consumers; a
 *   graph output keeps its name on the DequantizeLinear output;
 * - weights become `<w>_quantized` + `<w>_scale` + `<w>_zero_point` read by one DequantizeLinear
 *   (with `axis` when per channel; a symmetric int8 Conv filter leaves out its all-zero zero
 *   point); Gemm's alpha and beta are folded into weight and bias;
 * - biases become int32 `<b>_quantized` with scale input scale × weight scale and no zero point,
 *   read by a DequantizeLinear; a Conv or Gemm without bias gets an all-zero one;
 * - Relu/Clip after a quantized op are removed when activations are asymmetric;
 * - the opset is raised to 13 for per-channel and to 21 for 16-bit types when the graph's ops
 *   allow it (RAZOR_UNSUPPORTED_OP otherwise).
 * A planned activation without a range fails with RAZOR_INVALID_ARGUMENT naming it. The input
 * graph is not changed.
 */
export function quantizeQdq(graph: Graph, options: QuantizeQdqOptions): QuantizeQdqResult {
  checkOptions(options);
  const plan = planQuantization(graph, options);
  const activationScheme = plan.activations;
  const weightScheme = plan.weights;

  // Every range first: a missing one fails before any work.
  const activationParams = new Map<string, QuantParams>();
  for (const value of plan.activationsToCalibrate) {
    const range = options.ranges.get(value);
    if (range === undefined) {
      fail(
        ErrorCodes.INVALID_ARGUMENT,
        `no calibrated range for activation '${value}' of graph '${graph.name}'; calibrate every value of planQuantization(graph, options).activationsToCalibrate on the same (prepared) graph`,
      );
    }
    if (range.min.length !== 1 || range.max.length !== 1) {
      fail(ErrorCodes.INVALID_ARGUMENT, `the range of activation '${value}' has ${range.min.length} channels; activations are quantized per tensor, calibrate them without an axis`);
    }
    activationParams.set(value, quantParamsFromRange({ min: range.min, max: range.max }, activationScheme));
  }

  const out = graph.clone();
  const bytesBefore = initializerBytes(graph);
  const opsetBefore = out.opset();
  if (plan.requiredOpset > opsetBefore) {
    const why =
      plan.requiredOpset >= 21
        ? `16-bit quantization (${activationScheme.type} activations, ${weightScheme.type} weights)`
        : plan.requiredOpset >= 13
          ? 'per-channel weight quantization'
          : 'QuantizeLinear/DequantizeLinear';
    raiseOpset(out, plan.requiredOpset, why);
  }
  const nodeByName = new Map(out.nodes.map((node) => [node.name, node]));
  const planned = (name: string): Node => {
    const node = nodeByName.get(name);
    if (!node) fail(ErrorCodes.INVALID_GRAPH, `graph '${graph.name}' has no node named '${name}' (node names must be unique)`);
    return node;
  };
  const summary: QuantizeQdqSummary = {
    quantizedNodes: 0,
    quantizedByOpType: {},
    sharedNodes: 0,
    removedActivations: [],
    floatNodes: [],
    qdqPairs: 0,
    quantizedWeights: 0,
    perChannelWeights: 0,
    quantizedBiases: 0,
    addedZeroBiases: [],
    clippedBiases: [],
    opset: { before: opsetBefore, after: out.opset() },
    initializerBytes: { before: bytesBefore, after: 0 },
    notes: runtimeNotes(graph, plan),
  };
  for (const entry of plan.nodes) {
    if (entry.action === 'quantize') {
      summary.quantizedNodes++;
      summary.quantizedByOpType[entry.opType] = (summary.quantizedByOpType[entry.opType] ?? 0) + 1;
    } else if (entry.action === 'share') summary.sharedNodes++;
    else if (entry.action === 'float' && entry.reason !== undefined && !entry.reason.startsWith('no QDQ rule')) {
      summary.floatNodes.push({ node: entry.name, opType: entry.opType, reason: entry.reason });
    }
  }

  // Gemm computes alpha·A·B + beta·C; with alpha and beta folded into the constants, the integer
  // kernel's bias (added to the int32 accumulator) and the QDQ graph mean the same thing.
  const replaced = new Map<string, Tensor>();
  for (const entry of plan.quantizedInitializers) {
    const node = planned(entry.node);
    if (node.opType !== 'Gemm' || entry.initializer === undefined) continue;
    const factor = entry.role === 'weight' ? getFloat(node, 'alpha', 1) : entry.role === 'bias' ? getFloat(node, 'beta', 1) : 1;
    if (factor === 1) continue;
    const source = out.initializers.get(entry.initializer)!;
    const scaled = new Float32Array(source.size);
    const data = source.data as Float32Array;
    for (let index = 0; index < scaled.length; index++) scaled[index] = data[index]! * factor;
    replaced.set(`${entry.node}\u0000${entry.input}`, new Tensor('float32', source.shape, scaled));
    node.attributes.set(entry.role === 'weight' ? 'alpha' : 'beta', { type: 'float', value: 1 });
  }

  // Float initializers replaced or left unread here: dropped at the end when nothing reads them.
  const floatInitializers = new Set<string>();
  // Relu/Clip absorbed into their producer: the producer writes the activation's output.
  for (const entry of plan.nodes) {
    if (entry.action !== 'remove') continue;
    const node = planned(entry.name);
    const input = node.inputs[0]!;
    const producer = out.producer(input)!;
    producer.outputs = producer.outputs.map((output) => (output === input ? node.outputs[0]! : output));
    out.valueInfo.delete(input);
    out.removeNode(node);
    // Clip's bounds are read by nothing now (unless shared).
    for (const bound of node.inputs.slice(1)) if (bound !== '' && out.initializers.has(bound)) floatInitializers.add(bound);
    summary.removedActivations.push(entry.name);
  }

  const addNode = (opType: string, inputs: string[], output: string, name: string, axis?: number): void => {
    out.addNode({ opType, inputs, outputs: [output], name: out.uniqueName(name), attributes: axis === undefined ? {} : { axis } });
  };
  const addInitializer = (base: string, tensor: Tensor): string => {
    const name = out.uniqueName(base);
    out.initializers.set(name, tensor);
    return name;
  };

  // Initializers: parameters first (biases may widen weight scales), integer tensors after.
  const jobs = new Map<string, InitializerJob>();
  const jobOf = new Map<PlannedInitializer, InitializerJob>();
  const biases: { entry: PlannedInitializer; node: Node }[] = [];
  for (const entry of plan.quantizedInitializers) {
    const node = planned(entry.node);
    if (entry.role === 'bias') {
      biases.push({ entry, node });
      continue;
    }
    const initializer = entry.initializer!;
    const replacement = replaced.get(`${entry.node}\u0000${entry.input}`);
    // A tensor scaled for one Gemm is that node's own; otherwise nodes reading the same tensor in the same form share one.
    const key = replacement ? `${entry.node}\u0000${entry.input}` : `${initializer}\u0000${entry.role}\u0000${entry.axis ?? ''}`;
    let job = jobs.get(key);
    if (!job) {
      const tensor = replacement ?? out.initializers.get(initializer)!;
      const params = quantParamsFromRange(tensorRange(tensor, entry.axis), entry.role === 'weight' ? weightScheme : activationScheme);
      job = { tensor, params, base: replacement ? `${initializer}_${node.name}` : initializer, initializer, role: entry.role, entries: [] };
      if (entry.axis !== undefined) job.axis = entry.axis;
      jobs.set(key, job);
    }
    job.entries.push(entry);
    jobOf.set(entry, job);
  }
  const weightJob = (nodeName: string): InitializerJob | undefined => {
    for (const [entry, job] of jobOf) if (entry.node === nodeName && entry.role === 'weight') return job;
    return undefined;
  };
  const constantJob = (value: string): InitializerJob | undefined => {
    for (const job of jobs.values()) if (job.role === 'constant' && job.initializer === value) return job;
    return undefined;
  };
  const inputScale = (value: string): number | undefined => activationParams.get(value)?.scale[0] ?? constantJob(value)?.params.scale[0];
  const shareRoot = new Map(plan.quantizedActivations.filter((entry) => entry.params === 'shared').map((entry) => [entry.value, entry.sharesWith!]));

  // A bias scale (input scale × weight scale) too small for the bias in int32 widens the weight
  // scale, as onnxruntime does: clipping the bias would be a larger error than coarser weights.
  const biasJobs: { entry: PlannedInitializer; node: Node; input: number; weight: InitializerJob; values: Float32Array }[] = [];
  for (const { entry, node } of biases) {
    const inputValue = node.inputs[0]!;
    const input = inputScale(shareRoot.get(inputValue) ?? inputValue);
    const weight = weightJob(node.name);
    if (input === undefined || weight === undefined) fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)}: its bias needs a quantized input and weight`);
    const source = entry.initializer === undefined ? undefined : (replaced.get(`${entry.node}\u0000${entry.input}`) ?? out.initializers.get(entry.initializer)!);
    const values = source ? (source.data as Float32Array) : new Float32Array(outputChannels(node, weight.tensor.shape) ?? 0);
    const scale = weight.params.scale;
    const perChannel = scale.length > 1;
    for (let channel = 0; channel < scale.length; channel++) {
      let absMax = 0;
      for (let index = perChannel ? channel : 0; index < values.length; index += perChannel ? values.length : 1) absMax = Math.max(absMax, Math.abs(values[index]!));
      const smallest = (BIAS_MARGIN * 2 * absMax) / INT32_SPAN;
      if (input * scale[channel]! < smallest) scale[channel] = Math.fround(smallest / input);
    }
    biasJobs.push({ entry, node, input, weight, values });
  }

  const initializerOutputs = new Map<InitializerJob, { output: string; names: ParamNames }>();
  for (const job of jobs.values()) {
    const perChannel = job.axis !== undefined;
    const quantized = addInitializer(`${job.base}_quantized`, quantizeTensor(job.tensor, job.params));
    const scale = addInitializer(`${job.base}_scale`, scaleTensor(job.params, perChannel));
    // A symmetric int8 convolution filter leaves out its all-zero zero point (the ONNX default):
    // onnxruntime fuses the group the same, and a per-channel one is a byte per channel of file.
    const implicitZero = job.role === 'weight' && isZeroInt8(job.params) && job.entries.every((entry) => planned(entry.node).opType === 'Conv');
    const names: ParamNames = {
      scale,
      zeroPoint: implicitZero ? '' : addInitializer(`${job.base}_zero_point`, zeroPointTensor(job.params, perChannel)),
      params: job.params,
    };
    const output = out.uniqueName(`${job.base}_DequantizeLinear_Output`);
    addNode('DequantizeLinear', implicitZero ? [quantized, scale] : [quantized, scale, names.zeroPoint], output, `${job.base}_DequantizeLinear`, job.axis);
    initializerOutputs.set(job, { output, names });
    floatInitializers.add(job.initializer);
    if (job.role === 'weight') {
      summary.quantizedWeights++;
      if (perChannel) summary.perChannelWeights++;
    }
    for (const entry of job.entries) out.setNodeInput(planned(entry.node), entry.input, output);
  }

  // Activations: the calibrated ones first, so shared ones find their source's names.
  const activationNames = new Map<string, ParamNames>();
  for (const [value, params] of activationParams) {
    activationNames.set(value, {
      scale: addInitializer(`${value}_scale`, scaleTensor(params, false)),
      zeroPoint: addInitializer(`${value}_zero_point`, zeroPointTensor(params, false)),
      params,
    });
  }
  for (const entry of plan.quantizedActivations) {
    const root = entry.params === 'shared' ? entry.sharesWith! : entry.value;
    const rootConstant = constantJob(root);
    const names = activationNames.get(root) ?? (rootConstant ? initializerOutputs.get(rootConstant)?.names : undefined);
    if (!names) fail(ErrorCodes.INVALID_GRAPH, `activation '${entry.value}' shares the quantization of '${root}', which is not quantized`);
    const value = entry.value;
    const quantizedOutput = out.uniqueName(`${value}_QuantizeLinear_Output`);
    let quantizeInput = value;
    let dequantizedOutput: string;
    if (out.isOutput(value) && !out.isInput(value) && out.producer(value)) {
      // A graph output keeps its name: the producer writes a new value and the DequantizeLinear the output.
      quantizeInput = out.uniqueName(`${value}_QuantizeLinear_Input`);
      const producer = out.producer(value)!;
      producer.outputs = producer.outputs.map((output) => (output === value ? quantizeInput : output));
      out.invalidate();
      dequantizedOutput = value;
    } else {
      dequantizedOutput = out.uniqueName(`${value}_DequantizeLinear_Output`);
      out.replaceAllUses(value, dequantizedOutput, { includeOutputs: false });
    }
    addNode('QuantizeLinear', [quantizeInput, names.scale, names.zeroPoint], quantizedOutput, `${value}_QuantizeLinear`);
    addNode('DequantizeLinear', [quantizedOutput, names.scale, names.zeroPoint], dequantizedOutput, `${value}_DequantizeLinear`);
    summary.qdqPairs++;
  }

  // Biases: int32 at scale input scale × weight scale, no zero point (the ONNX default of 0).
  for (const { entry, node, input, weight, values } of biasJobs) {
    const perChannel = weight.params.scale.length > 1;
    const scale = new Float32Array(weight.params.scale.length);
    for (let channel = 0; channel < scale.length; channel++) scale[channel] = Math.fround(input * weight.params.scale[channel]!);
    const quantized = new Int32Array(values.length);
    let clipped = false;
    for (let index = 0; index < values.length; index++) {
      const q = roundHalfToEven(values[index]! / scale[perChannel ? index : 0]!);
      if (q < INT32_MIN || q > INT32_MAX) clipped = true;
      quantized[index] = Math.min(INT32_MAX, Math.max(INT32_MIN, q));
    }
    const base = entry.initializer ?? `${node.name}_bias`;
    if (clipped) summary.clippedBiases.push(base);
    const integer = addInitializer(`${base}_quantized`, new Tensor('int32', [values.length], quantized));
    const scaleName = addInitializer(`${base}_quantized_scale`, perChannel ? new Tensor('float32', [scale.length], scale) : Tensor.scalar('float32', scale[0]!));
    const output = out.uniqueName(`${base}_DequantizeLinear_Output`);
    addNode('DequantizeLinear', [integer, scaleName], output, `${base}_DequantizeLinear`, perChannel ? 0 : undefined);
    if (entry.initializer !== undefined) floatInitializers.add(entry.initializer);
    else summary.addedZeroBiases.push(node.name);
    summary.quantizedBiases++;
    // A [1, N] Gemm bias is stored as [N]: the same broadcast, and the form QGemm takes.
    while (node.inputs.length < 3) node.inputs.push('');
    out.setNodeInput(node, 2, output);
  }

  for (const name of floatInitializers) {
    if (out.consumers(name).length === 0 && !out.isOutput(name) && !out.isInput(name)) {
      out.initializers.delete(name);
      out.initializerPassthrough.delete(name);
    }
  }
  topologicalSort(out);
  summary.opset.after = out.opset();
  summary.initializerBytes.after = initializerBytes(out);
  return { graph: out, summary, plan };
}

const WEIGHTED_FLOAT_KERNELS = new Set(['Conv', 'ConvTranspose', 'Gemm']);

/** What onnxruntime's CPU provider will do with this plan that a user would not expect. */
function runtimeNotes(graph: Graph, plan: QuantizationPlan): string[] {
  const notes: string[] = [];
  if (plan.activations.type === 'uint8' && plan.weights.type === 'int8' && !plan.weights.reduceRange) {
    notes.push(
      'uint8 activations with full-range int8 weights (U8S8) can saturate in onnxruntime\'s integer kernels on x86 CPUs without VNNI ' +
        '(AVX2, AVX-512 without VNNI), where pairs of products are summed in 16 bits: use weights.reduceRange (7-bit weights) or uint8 weights there',
    );
  }
  const quantized = new Set(plan.quantizedActivations.map((entry) => entry.value));
  for (const entry of plan.nodes) {
    if (entry.action !== 'float' || !entry.reason?.startsWith('excluded') || !WEIGHTED_FLOAT_KERNELS.has(entry.opType)) continue;
    const input = graph.node(entry.name)?.inputs[0];
    if (input === undefined || !quantized.has(input)) continue;
    notes.push(
      `node '${entry.name}' (${entry.opType}) is excluded but reads a quantized value: at graph optimization 'extended' or 'all', onnxruntime quantizes ` +
        'a float Conv/ConvTranspose/Gemm between a DequantizeLinear and a QuantizeLinear itself (with full-range int8 weights); ' +
        'run with graph optimization \'basic\' to keep it float',
    );
  }
  return notes;
}

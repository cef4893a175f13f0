import type { KernelContext, KernelTable } from '../kernel.js';
import type { TfTensor, TfValue } from '../values.js';
import { channelAffine, isFloating, normalizeAxis, same } from './common.js';
import {
  convolution,
  convolutionPads,
  engineName,
  readConvolutionAttributes,
  transposedConvolution,
  transposedConvolutionGeometry,
} from './convolution.js';

type Tf = KernelContext['tf'];

const product = (values: readonly number[]): number => values.reduce((total, value) => total * value, 1);

/** Whether the node writes its output `index` (present and named). */
function writes(ctx: KernelContext, index: number): boolean {
  const name = ctx.node.outputs[index];
  return name !== undefined && name !== '';
}

/** A floating input as float32 (every floating dtype travels so already); integers fail. */
function floatInput(ctx: KernelContext, index: number, what: string): TfValue {
  const input = ctx.input(index);
  if (!isFloating(input.dtype)) ctx.unsupported(`does not run ${ctx.node.opType} on ${input.dtype} ${what}`);
  return input;
}

// ---------------------------------------------------------------------------------------------
// Convolutions

function conv(ctx: KernelContext): TfValue {
  const x = floatInput(ctx, 0, 'input X');
  const w = ctx.input(1).tensor;
  const attributes = readConvolutionAttributes(ctx, w.shape);
  return same(x, convolution(ctx, x.tensor, w, ctx.inputs[2]?.tensor, attributes));
}

function convTranspose(ctx: KernelContext): TfValue {
  const x = floatInput(ctx, 0, 'input X');
  const w = ctx.input(1).tensor;
  const attributes = readConvolutionAttributes(ctx, w.shape);
  const spatial = x.tensor.shape.slice(2);
  const rank = spatial.length;
  const outputPadding = ctx.intList('output_padding') ?? new Array<number>(rank).fill(0);
  if (outputPadding.length !== rank) ctx.invalid(`output_padding has ${outputPadding.length} values but the input has ${rank} spatial axes`);
  const outputShape = ctx.intList('output_shape');
  if (outputShape !== undefined && outputShape.length !== rank && outputShape.length !== rank + 2) {
    ctx.invalid(`output_shape has ${outputShape.length} values but needs ${rank} (the spatial sizes)`);
  }
  const { pads, outputSpatial } = transposedConvolutionGeometry(attributes, spatial, outputPadding, outputShape);
  outputSpatial.forEach((size, axis) => {
    if (size <= 0) ctx.invalid(`spatial axis ${axis} of the output would have size ${size}; reduce pads`);
  });
  return same(x, transposedConvolution(ctx, x.tensor, w, ctx.inputs[2]?.tensor, attributes, pads, outputSpatial));
}

// ---------------------------------------------------------------------------------------------
// Pooling

/** A pooling window over static spatial sizes, with auto_pad and ceil_mode resolved. */
export interface PoolGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis. */
  begins: number[];
  /** ONNX's end pads (what counts as padding for count_include_pad). */
  ends: number[];
  /** End pads the last windows reach (more than `ends` where ceil_mode adds windows). */
  reach: number[];
  outputSpatial: number[];
}

export function poolGeometry(ctx: KernelContext, spatial: readonly number[]): PoolGeometry {
  const rank = spatial.length;
  const kernel = ctx.intList('kernel_shape') ?? ctx.invalid('attribute kernel_shape is required');
  const strides = ctx.intList('strides') ?? new Array<number>(rank).fill(1);
  const dilations = ctx.intList('dilations') ?? new Array<number>(rank).fill(1);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  const ceilMode = ctx.int('ceil_mode', 0) === 1;
  if (kernel.length !== rank || strides.length !== rank || dilations.length !== rank) {
    ctx.invalid(`kernel_shape [${kernel.join(', ')}], strides [${strides.join(', ')}] and dilations [${dilations.join(', ')}] need one value per spatial axis (${rank})`);
  }
  const pads = convolutionPads({ autoPad, pads: ctx.intList('pads') ?? new Array<number>(2 * rank).fill(0), strides, dilations, kernelShape: kernel }, spatial);
  if (pads.length !== 2 * rank) ctx.invalid(`pads has ${pads.length} values but needs ${2 * rank}`);
  const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
  const begins = pads.slice(0, rank);
  const ends = pads.slice(rank);
  const outputSpatial: number[] = [];
  const reach: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const size = spatial[axis]!;
    const stride = strides[axis]!;
    const span = (kernel[axis]! - 1) * dilations[axis]! + 1;
    const room = size + begins[axis]! + ends[axis]! - span;
    if (room < 0) ctx.invalid(`spatial axis ${axis} has size ${size} (padded ${size + begins[axis]! + ends[axis]!}), smaller than the window span ${span}`);
    let output: number;
    if (same) output = Math.ceil(size / stride);
    else if (!ceilMode) output = Math.floor(room / stride) + 1;
    else {
      output = Math.ceil(room / stride) + 1;
      // A last window starting in the end padding is dropped (PyTorch's and onnxruntime's rule).
      if ((output - 1) * stride >= size + begins[axis]!) output--;
    }
    outputSpatial.push(output);
    reach.push(Math.max(ends[axis]!, (output - 1) * stride + span - size - begins[axis]!));
  }
  return { kernel, strides, dilations, begins, ends, reach, outputSpatial };
}

/**
 * Every tap of the windows: for each kernel offset (row-major), the [N, C, ...output] values
 * it reads, from x padded with `padValue` (begin pads and the end pads the windows reach).
 */
function windowTaps(tf: Tf, x: TfTensor, geometry: PoolGeometry, padValue: number): TfTensor[] {
  const rank = geometry.kernel.length;
  const [batch, channels] = x.shape as [number, number];
  const padded = geometry.begins.some((pad) => pad > 0) || geometry.reach.some((pad) => pad > 0)
    ? tf.pad(x, [[0, 0], [0, 0], ...geometry.begins.map((begin, axis): [number, number] => [begin, geometry.reach[axis]!])], padValue)
    : x;
  const taps: TfTensor[] = [];
  const offset = new Array<number>(rank).fill(0);
  for (let tap = 0; tap < product(geometry.kernel); tap++) {
    let rest = tap;
    for (let axis = rank - 1; axis >= 0; axis--) {
      offset[axis] = rest % geometry.kernel[axis]!;
      rest = Math.floor(rest / geometry.kernel[axis]!);
    }
    const begin = [0, 0, ...offset.map((index, axis) => index * geometry.dilations[axis]!)];
    const end = [batch, channels, ...offset.map((index, axis) => index * geometry.dilations[axis]! + (geometry.outputSpatial[axis]! - 1) * geometry.strides[axis]! + 1)];
    taps.push(tf.stridedSlice(padded, begin, end, [1, 1, ...geometry.strides]));
  }
  return taps;
}

/** The sum of the taps (a balanced tree of adds). */
function sumTaps(tf: Tf, taps: TfTensor[]): TfTensor {
  return taps.length === 1 ? taps[0]! : tf.addN(taps);
}

/**
 * A 1-D or 2-D max or average pool with dilation 1 on tfjs's pooling kernels. The channels
 * are independent, so [N, C, H, W] runs as N·C single-channel NHWC images: no transposes.
 * `includePad` (average only) counts the ONNX pads as values, not the ceil_mode overhang.
 */
function pool2d(ctx: KernelContext, x: TfTensor, geometry: PoolGeometry, type: 'max' | 'avg', includePad = false): TfTensor {
  const tf = ctx.tf;
  const lifted = geometry.kernel.length === 1;
  const [batch, channels] = x.shape as [number, number];
  const spatial = lifted ? [1, x.shape[2]!] : (x.shape.slice(2) as number[]);
  const lift = (values: number[], fill: number): [number, number] => (lifted ? [fill, values[0]!] : (values as [number, number]));
  const kernel = lift(geometry.kernel, 1);
  const strides = lift(geometry.strides, 1);
  const begins = lift(geometry.begins, 0);
  const ends = lift(geometry.ends, 0);
  const reach = lift(geometry.reach, 0);
  const output = lift(geometry.outputSpatial, 1);
  let images = tf.reshape(x, [batch * channels, spatial[0]!, spatial[1]!, 1]);
  let pad: [number, number][];
  if (includePad && (begins.some((value) => value > 0) || ends.some((value) => value > 0))) {
    // Pads as zeros the divisor counts; tfjs leaves its own (the overhang) out.
    images = tf.pad(images, [[0, 0], [begins[0], ends[0]], [begins[1], ends[1]], [0, 0]]);
    pad = [[0, 0], [0, reach[0] - ends[0]], [0, reach[1] - ends[1]], [0, 0]];
  } else pad = [[0, 0], [begins[0], reach[0]], [begins[1], reach[1]], [0, 0]];
  const explicit = pad.some(([begin, end]) => begin > 0 || end > 0) ? (pad as never) : 'valid';
  const pooled = type === 'max' ? tf.maxPool(images as never, kernel, strides, explicit) : tf.avgPool(images as never, kernel, strides, explicit);
  return tf.reshape(pooled, [batch, channels, ...(lifted ? [output[1]] : output)]);
}

/**
 * Indices of the maxima (onnxruntime's: flat positions in the whole input, spatial axes
 * row-major, or column-major with storage_order 1) from the winning tap of every window.
 */
function maxIndices(tf: Tf, x: TfTensor, geometry: PoolGeometry, winner: TfTensor, columnMajor: boolean): TfTensor {
  const spatial = x.shape.slice(2) as number[];
  const rank = spatial.length;
  const planes = x.shape[0]! * x.shape[1]!;
  const planeSize = product(spatial);
  // Strides of the spatial axes in the index numbering.
  const axisStrides = spatial.map((_, axis) => (columnMajor ? product(spatial.slice(0, axis)) : product(spatial.slice(axis + 1))));
  const tapCount = product(geometry.kernel);
  const tapOffsets = new Int32Array(tapCount);
  for (let tap = 0; tap < tapCount; tap++) {
    let rest = tap;
    let offset = 0;
    for (let axis = rank - 1; axis >= 0; axis--) {
      offset += (rest % geometry.kernel[axis]!) * geometry.dilations[axis]! * axisStrides[axis]!;
      rest = Math.floor(rest / geometry.kernel[axis]!);
    }
    tapOffsets[tap] = offset;
  }
  // Where every window starts (it may lie in the padding: the winning tap never does).
  const outputCount = product(geometry.outputSpatial);
  const origins = new Int32Array(outputCount);
  for (let position = 0; position < outputCount; position++) {
    let rest = position;
    let origin = 0;
    for (let axis = rank - 1; axis >= 0; axis--) {
      const index = rest % geometry.outputSpatial[axis]!;
      rest = Math.floor(rest / geometry.outputSpatial[axis]!);
      origin += (index * geometry.strides[axis]! - geometry.begins[axis]!) * axisStrides[axis]!;
    }
    origins[position] = origin;
  }
  const plane = tf.mul(tf.floorDiv(tf.range(0, planes * outputCount, 1, 'int32'), tf.scalar(outputCount, 'int32')), tf.scalar(planeSize, 'int32'));
  const start = tf.add(tf.reshape(plane, [planes, outputCount]), tf.tensor1d(origins, 'int32'));
  const within = tf.gather(tf.tensor1d(tapOffsets, 'int32'), tf.reshape(winner, [planes, outputCount]));
  return tf.reshape(tf.add(start, within), winner.shape);
}

function maxPool(ctx: KernelContext): (TfValue | undefined)[] {
  const tf = ctx.tf;
  const x = ctx.input(0);
  const input = x.tensor.dtype === 'float32' ? x.tensor : tf.cast(x.tensor, 'float32');
  const spatial = input.shape.slice(2) as number[];
  const rank = spatial.length;
  if (rank < 1) ctx.invalid(`input X has rank ${input.rank}; it needs N, C and spatial axes`);
  const storageOrder = ctx.int('storage_order', 0);
  if (storageOrder !== 0 && storageOrder !== 1) ctx.invalid(`storage_order ${storageOrder} must be 0 or 1`);
  const geometry = poolGeometry(ctx, spatial);
  const wantIndices = writes(ctx, 1);
  const dilated = geometry.dilations.some((dilation) => dilation > 1);
  let y: TfTensor;
  let indices: TfTensor | undefined;
  if (!wantIndices && rank <= 2 && !dilated) y = pool2d(ctx, input, geometry, 'max');
  else {
    if (rank > 3) ctx.unsupported(`does not run ${rank}-D pooling (1-D, 2-D and 3-D only)`);
    const stacked = tf.stack(windowTaps(tf, input, geometry, Number.NEGATIVE_INFINITY));
    y = tf.max(stacked, 0);
    // argMax keeps the first maximum, as onnxruntime's scan does.
    if (wantIndices) indices = maxIndices(tf, input, geometry, tf.argMax(stacked, 0), storageOrder === 1);
  }
  if (y.dtype !== x.tensor.dtype) y = tf.cast(y, x.tensor.dtype);
  return [same(x, y), indices === undefined ? undefined : { tensor: indices, dtype: 'int64' }];
}

/** Per output position, 1 / the number of taps the divisor counts. [O1, ..., On]. */
function averageDivisors(spatial: readonly number[], geometry: PoolGeometry, includePad: boolean): Float32Array {
  const rank = spatial.length;
  const perAxis = spatial.map((size, axis) => {
    const counts: number[] = [];
    for (let output = 0; output < geometry.outputSpatial[axis]!; output++) {
      let count = 0;
      for (let tap = 0; tap < geometry.kernel[axis]!; tap++) {
        const position = output * geometry.strides[axis]! - geometry.begins[axis]! + tap * geometry.dilations[axis]!;
        const low = includePad ? -geometry.begins[axis]! : 0;
        const high = includePad ? size + geometry.ends[axis]! : size;
        if (position >= low && position < high) count++;
      }
      counts.push(count);
    }
    return counts;
  });
  const total = product(geometry.outputSpatial);
  const divisors = new Float32Array(total);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let count = 1;
    for (let axis = rank - 1; axis >= 0; axis--) {
      const size = geometry.outputSpatial[axis]!;
      count *= perAxis[axis]![rest % size]!;
      rest = Math.floor(rest / size);
    }
    divisors[flat] = 1 / count;
  }
  return divisors;
}

/** Multiplies [N, C, ...O] by a [...O] tensor, seen as [N·C, ∏O] (a trailing broadcast every engine runs fast). */
function scalePositions(tf: Tf, x: TfTensor, factors: Float32Array): TfTensor {
  const [batch, channels] = x.shape as [number, number];
  return tf.reshape(tf.mul(tf.reshape(x, [batch * channels, factors.length]), tf.tensor1d(factors)), x.shape);
}

function averagePool(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = floatInput(ctx, 0, 'input X');
  const spatial = x.tensor.shape.slice(2) as number[];
  const rank = spatial.length;
  const geometry = poolGeometry(ctx, spatial);
  const includePad = ctx.int('count_include_pad', 0) === 1;
  if (rank <= 2 && geometry.dilations.every((dilation) => dilation === 1)) return same(x, pool2d(ctx, x.tensor, geometry, 'avg', includePad));
  if (rank > 3) ctx.unsupported(`does not run ${rank}-D pooling (1-D, 2-D and 3-D only)`);
  const sums = sumTaps(tf, windowTaps(tf, x.tensor, geometry, 0));
  return same(x, scalePositions(tf, sums, averageDivisors(spatial, geometry, includePad)));
}

/** |x|^p, for the Lp pools. */
function absolutePower(tf: Tf, x: TfTensor, p: number): TfTensor {
  if (p === 1) return tf.abs(x);
  if (p === 2) return tf.square(x);
  return tf.pow(tf.abs(x), p);
}

/** s^(1/p), for the Lp pools. */
function root(tf: Tf, sums: TfTensor, p: number): TfTensor {
  if (p === 1) return sums;
  if (p === 2) return tf.sqrt(sums);
  return tf.pow(sums, 1 / p);
}

function lpPool(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = floatInput(ctx, 0, 'input X');
  const p = ctx.int('p', 2);
  const spatial = x.tensor.shape.slice(2) as number[];
  const rank = spatial.length;
  if (rank > 3) ctx.unsupported(`does not run ${rank}-D pooling (1-D, 2-D and 3-D only)`);
  const geometry = poolGeometry(ctx, spatial);
  const powered = absolutePower(tf, x.tensor, p);
  let sums: TfTensor;
  if (rank <= 2 && geometry.dilations.every((dilation) => dilation === 1)) {
    // Pads and overhang as zeros: every window averages kernel-size values.
    const padded = tf.pad(powered, [[0, 0], [0, 0], ...geometry.begins.map((begin, axis): [number, number] => [begin, geometry.reach[axis]!])]);
    const unpadded: PoolGeometry = { ...geometry, begins: geometry.begins.map(() => 0), ends: geometry.ends.map(() => 0), reach: geometry.reach.map(() => 0) };
    sums = tf.mul(pool2d(ctx, padded, unpadded, 'avg'), product(geometry.kernel));
  } else sums = sumTaps(tf, windowTaps(tf, powered, geometry, 0));
  return same(x, root(tf, sums, p));
}

/** x [N, C, ...] as [N, C, rest]: reductions over the trailing axis run fast on every engine. */
function planes(tf: Tf, x: TfTensor): TfTensor {
  return tf.reshape(x, [x.shape[0]!, x.shape[1]!, product(x.shape.slice(2))]);
}

function globalPool(reduce: (tf: Tf, x: TfTensor, ctx: KernelContext) => TfTensor): (ctx: KernelContext) => TfValue {
  return (ctx) => {
    const tf = ctx.tf;
    const x = floatInput(ctx, 0, 'input X');
    if (x.tensor.rank < 3) ctx.invalid(`input X has rank ${x.tensor.rank}; it needs N, C and spatial axes`);
    const reduced = reduce(tf, planes(tf, x.tensor), ctx);
    return same(x, tf.reshape(reduced, [x.tensor.shape[0]!, x.tensor.shape[1]!, ...x.tensor.shape.slice(2).map(() => 1)]));
  };
}

// ---------------------------------------------------------------------------------------------
// Normalization

/** Per-channel sums of x [N, C, ...]: [C]. */
function channelSums(tf: Tf, x: TfTensor): TfTensor {
  return tf.sum(tf.sum(planes(tf, x), 2), 0);
}

/** (x − mean_c)² of x [N, C, ...] and per-channel means [C], in one pass (see channelAffine on cpu). */
function squaredDeviations(ctx: KernelContext, x: TfTensor, mean: TfTensor): TfTensor {
  const tf = ctx.tf;
  const [batch, channels] = x.shape as [number, number];
  const rest = x.size / (batch * channels);
  if (engineName(ctx) === 'cpu') {
    const tiled = tf.reshape(tf.tile(tf.reshape(mean, [channels, 1]), [1, rest]), [channels * rest]);
    return tf.reshape(tf.squaredDifference(tf.reshape(x, [batch, channels * rest]), tiled), x.shape);
  }
  return tf.squaredDifference(x, tf.reshape(mean, [1, channels, ...x.shape.slice(2).map(() => 1)]));
}

function batchNormalization(ctx: KernelContext): (TfValue | undefined)[] {
  const tf = ctx.tf;
  const x = floatInput(ctx, 0, 'input X');
  const scale = ctx.input(1).tensor;
  const bias = ctx.input(2).tensor;
  const inputMean = ctx.input(3);
  const inputVariance = ctx.input(4).tensor;
  const epsilon = ctx.float('epsilon', 1e-5);
  if (ctx.int('spatial', 1) !== 1) ctx.unsupported('does not run BatchNormalization with spatial = 0');
  if (x.tensor.rank < 2) ctx.invalid(`input X has rank ${x.tensor.rank}; it needs at least N and C`);
  const training = ctx.opset >= 14 ? ctx.int('training_mode', 0) === 1 : ctx.node.outputs.slice(1).some((output) => output !== '');
  if (!training) {
    // Inference: one affine pass, its per-channel gain and shift computed once per session.
    const sources = [scale, bias, inputMean.tensor, inputVariance];
    const gain = ctx.derived(sources, `batchnorm-gain:${ctx.node.name}`, () => tf.mul(scale, tf.rsqrt(tf.add(inputVariance, epsilon))));
    const shift = ctx.derived(sources, `batchnorm-shift:${ctx.node.name}`, () => tf.sub(bias, tf.mul(inputMean.tensor, gain)));
    return [same(x, channelAffine(ctx, x.tensor, gain, shift))];
  }
  // Batch statistics (population variance), and the running statistics moved toward them.
  const momentum = ctx.float('momentum', 0.9);
  const count = x.tensor.size / x.tensor.shape[1]!;
  const mean = tf.div(channelSums(tf, x.tensor), count);
  const variance = tf.div(channelSums(tf, squaredDeviations(ctx, x.tensor, mean)), count);
  const inverseStd = tf.rsqrt(tf.add(variance, epsilon));
  const gain = tf.mul(scale, inverseStd);
  const y = channelAffine(ctx, x.tensor, gain, tf.sub(bias, tf.mul(mean, gain)));
  const blend = (running: TfTensor, batch: TfTensor): TfTensor => (momentum === 0 ? batch : tf.add(tf.mul(running, momentum), tf.mul(batch, 1 - momentum)));
  const statistics = (tensor: TfTensor): TfValue => same(ctx.opset >= 15 ? inputMean : x, tensor);
  const results: (TfValue | undefined)[] = [same(x, y)];
  if (writes(ctx, 1)) results[1] = statistics(blend(inputMean.tensor, mean));
  if (writes(ctx, 2)) results[2] = statistics(blend(inputVariance, variance));
  if (ctx.opset < 14) {
    // Opsets 9 to 13 also give the batch's mean and, as onnxruntime computes it, 1/√(variance + ε).
    if (writes(ctx, 3)) results[3] = same(x, mean);
    if (writes(ctx, 4)) results[4] = same(x, inverseStd);
  }
  return results;
}

/** Mean, centered values and 1/√(variance + ε) of every row of x [rows, size]. */
function rowMoments(tf: Tf, rows: TfTensor, epsilon: number): { mean: TfTensor; centered: TfTensor; inverseStd: TfTensor } {
  const mean = tf.mean(rows, 1, true);
  const centered = tf.sub(rows, mean);
  const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), epsilon));
  return { mean, centered, inverseStd };
}

function layerNormalization(ctx: KernelContext): (TfValue | undefined)[] {
  const tf = ctx.tf;
  const x = floatInput(ctx, 0, 'input X');
  const shape = x.tensor.shape;
  const axis = normalizeAxis(ctx, ctx.int('axis', -1), shape.length);
  const epsilon = ctx.float('epsilon', 1e-5);
  const stash = ctx.int('stash_type', 1);
  if (stash !== 1) ctx.unsupported(`computes LayerNormalization statistics in float32 only (stash_type 1), not stash_type ${stash}`);
  const outer = product(shape.slice(0, axis));
  const { mean, centered, inverseStd } = rowMoments(tf, tf.reshape(x.tensor, [outer, product(shape.slice(axis))]), epsilon);
  let y = tf.reshape(tf.mul(centered, inverseStd), shape);
  y = tf.mul(y, ctx.input(1).tensor);
  if (ctx.has(2)) y = tf.add(y, ctx.input(2).tensor);
  const statisticsShape = [...shape.slice(0, axis), ...shape.slice(axis).map(() => 1)];
  const results: (TfValue | undefined)[] = [same(x, y)];
  if (writes(ctx, 1)) results[1] = { tensor: tf.reshape(mean, statisticsShape), dtype: 'float32' };
  if (writes(ctx, 2)) results[2] = { tensor: tf.reshape(inverseStd, statisticsShape), dtype: 'float32' };
  return results;
}

function instanceNormalization(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const x = floatInput(ctx, 0, 'input X');
  const shape = x.tensor.shape;
  if (shape.length < 3) ctx.invalid(`input X has rank ${shape.length}; it needs N, C and spatial axes`);
  const [batch, channels] = shape as [number, number];
  const { centered, inverseStd } = rowMoments(tf, tf.reshape(x.tensor, [batch * channels, product(shape.slice(2))]), ctx.float('epsilon', 1e-5));
  // Per (n, c) gain γ_c / σ_nc, then the per-channel shift β_c.
  const gain = tf.mul(inverseStd, tf.reshape(tf.tile(ctx.input(1).tensor, [batch]), [batch * channels, 1]));
  return same(x, channelAffine(ctx, tf.reshape(tf.mul(centered, gain), shape), undefined, ctx.input(2).tensor));
}

// ---------------------------------------------------------------------------------------------
// Matrix products

/**
 * Batched products run by the wasm engine's XNNPACK as a grouped GEMM: a depthwise
 * convolution with channel multiplier n over [m, 1, k, batch] "images" computes
 * out[i, b·n + j] = Σ_t a[b, i, t] · w[t, b, j]. tfjs's own wasm BatchMatMul takes a plain
 * C++ loop whenever there is a batch (2 to 7× slower here despite the transposes); worth
 * it only when each product does enough work per element moved.
 */
function depthwiseBatchedProduct(tf: Tf, a: TfTensor, b: TfTensor): TfTensor {
  const [batch, rows, inner] = a.shape as [number, number, number];
  const columns = b.shape[2]!;
  const images = tf.reshape(tf.transpose(a, [1, 2, 0]), [rows, 1, inner, batch]);
  const filter = tf.reshape(tf.transpose(b, [1, 0, 2]), [1, inner, batch, columns]);
  const out = tf.depthwiseConv2d(images as never, filter as never, 1, 'valid');
  return tf.transpose(tf.reshape(out, [rows, batch, columns]), [1, 0, 2]);
}

function worthDepthwise(batch: number, rows: number, inner: number, columns: number): boolean {
  const work = rows * inner * columns;
  return batch > 1 && work * batch >= 1 << 20 && work >= 8 * (rows * inner + inner * columns + rows * columns);
}

/**
 * A 2-D product with optional transposes. On wasm the transposes are made explicit: only the
 * untransposed 2-D form reaches XNNPACK's fully connected kernel (up to 10× faster).
 */
function product2d(ctx: KernelContext, a: TfTensor, b: TfTensor, transposeA: boolean, transposeB: boolean, bias?: TfTensor): TfTensor {
  const tf = ctx.tf;
  if (engineName(ctx) === 'wasm') {
    if (transposeA) a = tf.transpose(a);
    if (transposeB) b = tf.transpose(b);
    transposeA = transposeB = false;
  }
  if (bias === undefined) return tf.matMul(a, b, transposeA, transposeB);
  // wasm's _FusedMatMul reads the shape the bias's data was made with, which a reshape keeps:
  // there the bias is added apart (a trailing broadcast, cheap beside the product).
  if (engineName(ctx) === 'wasm') return tf.add(tf.matMul(a, b), bias);
  return tf.fused.matMul({ a, b, transposeA, transposeB, bias });
}

/** A numpy matmul of operands of rank 2 or more: batch axes broadcast. */
function batchedProduct(ctx: KernelContext, a: TfTensor, b: TfTensor): TfTensor {
  const tf = ctx.tf;
  const [rows, inner] = a.shape.slice(-2) as [number, number];
  const columns = b.shape[b.rank - 1]!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const padA = [...new Array<number>(rank - batchA.length).fill(1), ...batchA];
  const padB = [...new Array<number>(rank - batchB.length).fill(1), ...batchB];
  const batch = padA.map((size, axis) => {
    const other = padB[axis]!;
    if (size !== other && size !== 1 && other !== 1) ctx.invalid(`the batch axes of A [${a.shape.join(', ')}] and B [${b.shape.join(', ')}] do not broadcast`);
    return Math.max(size, other);
  });
  if (product(padB) === 1) {
    // One right operand: A's batch folds into its rows, one 2-D product.
    const flat = product2d(ctx, tf.reshape(a, [product(padA) * rows, inner]), tf.reshape(b, [inner, columns]), false, false);
    return tf.reshape(flat, [...batch, rows, columns]);
  }
  const count = product(batch);
  if (product(padA) === 1) {
    // One left operand: B's batch folds into its columns ([k, batch·n]), one 2-D product.
    const columnsFirst = tf.reshape(tf.transpose(tf.reshape(b, [count, inner, columns]), [1, 0, 2]), [inner, count * columns]);
    const flat = product2d(ctx, tf.reshape(a, [rows, inner]), columnsFirst, false, false);
    return tf.reshape(tf.transpose(tf.reshape(flat, [rows, count, columns]), [1, 0, 2]), [...batch, rows, columns]);
  }
  const spread = (operand: TfTensor, padded: number[], matrix: number[]): TfTensor => {
    const reshaped = tf.reshape(operand, [...padded, ...matrix]);
    const full = padded.every((size, axis) => size === batch[axis]) ? reshaped : tf.broadcastTo(reshaped, [...batch, ...matrix]);
    return tf.reshape(full, [count, ...matrix]);
  };
  const left = spread(a, padA, [rows, inner]);
  const right = spread(b, padB, [inner, columns]);
  const result =
    engineName(ctx) === 'wasm' && worthDepthwise(count, rows, inner, columns) ? depthwiseBatchedProduct(tf, left, right) : tf.matMul(left, right);
  return tf.reshape(result, [...batch, rows, columns]);
}

function matMul(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const a = ctx.input(0);
  const b = ctx.input(1);
  let left = a.tensor;
  let right = b.tensor;
  if (left.rank === 0 || right.rank === 0) ctx.invalid('MatMul does not take scalars; use Mul');
  const vectorA = left.rank === 1;
  const vectorB = right.rank === 1;
  if (vectorA) left = tf.reshape(left, [1, left.shape[0]!]);
  if (vectorB) right = tf.reshape(right, [right.shape[0]!, 1]);
  const inner = left.shape[left.rank - 1]!;
  if (right.shape[right.rank - 2] !== inner) {
    ctx.invalid(`A has shape [${a.tensor.shape.join(', ')}] and B has shape [${b.tensor.shape.join(', ')}]: A's last dim ${inner} must equal B's ${vectorB ? 'only' : 'second-to-last'} dim`);
  }
  const floating = isFloating(a.dtype);
  if (!floating) {
    left = tf.cast(left, 'float32');
    right = tf.cast(right, 'float32');
  }
  let result = batchedProduct(ctx, left, right);
  const shape = result.shape.slice();
  if (vectorB) shape.splice(shape.length - 1, 1);
  if (vectorA) shape.splice(shape.length - (vectorB ? 1 : 2), 1);
  result = tf.reshape(result, shape);
  if (!floating) result = tf.cast(tf.round(result), 'int32');
  return same(a, result);
}

function gemm(ctx: KernelContext): TfValue {
  const tf = ctx.tf;
  const a = floatInput(ctx, 0, 'input A');
  const b = ctx.input(1).tensor;
  if (a.tensor.rank !== 2 || b.rank !== 2) ctx.invalid(`A and B must be matrices; got shapes [${a.tensor.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  const transposeA = ctx.int('transA', 0) !== 0;
  const transposeB = ctx.int('transB', 0) !== 0;
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  const rows = a.tensor.shape[transposeA ? 1 : 0]!;
  const columns = b.shape[transposeB ? 0 : 1]!;
  const c = ctx.inputs[2]?.tensor;
  const vectorBias = c !== undefined && alpha === 1 && beta === 1 && c.size === columns && (c.rank === 1 || (c.rank === 2 && c.shape[0] === 1));
  if (vectorBias) return same(a, product2d(ctx, a.tensor, b, transposeA, transposeB, tf.reshape(c, [columns])));
  let y = product2d(ctx, a.tensor, b, transposeA, transposeB);
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (c !== undefined && beta !== 0) {
    const addend = beta === 1 ? c : tf.mul(c, beta);
    y = tf.add(y, addend);
    if (y.shape[0] !== rows || y.shape[1] !== columns) ctx.invalid(`C has shape [${c.shape.join(', ')}], which does not broadcast to [${rows}, ${columns}]`);
  }
  return same(a, y);
}

export const nnKernels: KernelTable = {
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: maxPool,
  AveragePool: averagePool,
  LpPool: lpPool,
  GlobalAveragePool: globalPool((tf, x) => tf.mean(x, 2)),
  GlobalMaxPool: globalPool((tf, x) => tf.max(x, 2)),
  GlobalLpPool: globalPool((tf, x, ctx) => {
    const p = ctx.int('p', 2);
    return root(tf, tf.sum(absolutePower(tf, x, p), 2), p);
  }),
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  InstanceNormalization: instanceNormalization,
  MatMul: matMul,
  Gemm: gemm,
};

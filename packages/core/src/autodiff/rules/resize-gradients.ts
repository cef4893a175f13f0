import { getAttribute, getInt, getInts, getString } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, int64Constant, normalizeAxes, reduceSum, requireInputType, requireOutputType, requireStaticShape } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

const f32 = Math.fround;

/** How one resized axis maps output positions to input positions, as onnxruntime reads the node. */
interface AxisResize {
  axis: number;
  inputSize: number;
  outputSize: number;
  /** The scale the coordinate transform divides by (given, or output/input for sizes). */
  scale: number;
}

interface ResizeSettings {
  mode: 'nearest' | 'linear';
  coordinateMode: string;
  nearestMode: string;
  axes: AxisResize[];
}

const coordinateModes = new Set(['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nearest']);
const nearestModes = new Set(['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil', 'simple']);

/** The floats of constant input `index`; undefined when omitted or empty. */
function constantFloats(ctx: GradientContext, index: number, what: string): number[] | undefined {
  if (ctx.inputs[index] === undefined || ctx.inputs[index] === '') return undefined;
  const value = ctx.constant(index) ?? ctx.fail(`its ${what} (input ${index}) are computed at run time; gradients need constant ${what}`);
  return value.size === 0 ? undefined : value.toNumbers();
}

/**
 * Resize (opset 10+) and Upsample: the mode, coordinate transform and per-axis scales.
 * Before Resize-11 (and for Upsample) onnxruntime uses asymmetric coordinates and its
 * 'simple' nearest rounding (ceil when shrinking, truncation when growing).
 */
function readSettings(ctx: GradientContext): ResizeSettings {
  const input = requireInputType(ctx, 0).shape;
  const output = requireOutputType(ctx, 0).shape;
  const rank = input.length;
  const mode = getString(ctx.node, 'mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') {
    ctx.fail(`mode '${mode}' has no gradient rule; only 'nearest' and 'linear' resizes are differentiated (export with mode nearest or bilinear)`);
  }
  const legacy = ctx.node.opType === 'Upsample' || ctx.opset < 11;
  const coordinateMode = legacy ? 'asymmetric' : getString(ctx.node, 'coordinate_transformation_mode', 'half_pixel');
  if (!coordinateModes.has(coordinateMode)) {
    ctx.fail(`coordinate_transformation_mode '${coordinateMode}' has no gradient rule; use half_pixel, pytorch_half_pixel, align_corners or asymmetric`);
  }
  const nearestMode = legacy ? 'simple' : getString(ctx.node, 'nearest_mode', 'round_prefer_floor');
  if (!nearestModes.has(nearestMode)) ctx.fail(`nearest_mode '${nearestMode}' is not one ONNX defines`);
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (ctx.node.opType === 'Upsample' && ctx.opset < 9) scales = getAttribute(ctx.node, 'scales', 'floats');
  else if (legacy) scales = constantFloats(ctx, 1, 'scales');
  else {
    scales = constantFloats(ctx, 2, 'scales');
    sizes = constantFloats(ctx, 3, 'sizes');
  }
  const axes = ctx.opset >= 18 && !legacy ? normalizeAxes(ctx, getInts(ctx.node, 'axes') ?? input.map((_, axis) => axis), rank) : input.map((_, axis) => axis);
  let axisScales: number[];
  if (scales !== undefined) axisScales = scales.map(f32);
  else if (sizes !== undefined) {
    const policy = getString(ctx.node, 'keep_aspect_ratio_policy', 'stretch');
    const inputSizes = requireStaticShape(ctx, axes.map((axis) => input[axis] ?? null), `the resized axes of input X ('${ctx.inputs[0]!}')`);
    const ratios = sizes.map((size, index) => f32(size / inputSizes[index]!));
    if (policy === 'stretch') axisScales = ratios;
    else axisScales = ratios.map(() => (policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios)));
  } else return ctx.fail('it has neither scales nor sizes');
  if (getInt(ctx.node, 'antialias', 0) !== 0 && mode === 'linear' && axisScales.some((scale) => scale < 1)) {
    ctx.fail('antialias downsampling has no gradient rule; set antialias 0 or resize up');
  }
  const resized: AxisResize[] = [];
  axes.forEach((axis, index) => {
    const [inputSize, outputSize] = requireStaticShape(ctx, [input[axis] ?? null, output[axis] ?? null], `axis ${axis} of input X and output Y (a resized axis)`);
    resized.push({ axis, inputSize: inputSize!, outputSize: outputSize!, scale: axisScales[index]! });
  });
  return { mode, coordinateMode, nearestMode, axes: resized };
}

/** The input coordinate of output position `x` (onnxruntime's float32 arithmetic). */
function originalCoordinate(mode: string, x: number, resize: AxisResize): number {
  const { scale, inputSize, outputSize } = resize;
  switch (mode) {
    case 'asymmetric':
      return f32(x / scale);
    case 'pytorch_half_pixel':
      return outputSize > 1 ? f32(f32(f32(x + 0.5) / scale) - 0.5) : 0;
    case 'tf_half_pixel_for_nearest':
      return f32(f32(x + 0.5) / scale);
    case 'align_corners':
      return outputSize === 1 ? 0 : f32(f32(x * (inputSize - 1)) / (outputSize - 1));
    case 'half_pixel_symmetric': {
      const adjustment = f32(outputSize / f32(scale * inputSize));
      const offset = f32(f32(inputSize / 2) * f32(1 - adjustment));
      return f32(f32(offset + f32(f32(x + 0.5) / scale)) - 0.5);
    }
    default:
      return f32(f32(f32(x + 0.5) / scale) - 0.5);
  }
}

/** std::round: halves away from zero. */
function roundHalfAway(value: number): number {
  return Math.sign(value) * Math.floor(Math.abs(value) + 0.5);
}

function nearestIndex(mode: string, coordinate: number, scale: number): number {
  switch (mode) {
    case 'round_prefer_ceil':
      return roundHalfAway(coordinate);
    case 'floor':
      return Math.floor(coordinate);
    case 'ceil':
      return Math.ceil(coordinate);
    case 'simple':
      return scale < 1 ? Math.ceil(coordinate) : Math.trunc(coordinate);
    default:
      return coordinate === Math.trunc(coordinate) + 0.5 ? Math.floor(coordinate) : roundHalfAway(coordinate);
  }
}

/** The interpolation matrix A [out, in] of one axis: Y = A X along that axis. */
function interpolationMatrix(settings: ResizeSettings, resize: AxisResize): Float32Array {
  const { inputSize, outputSize } = resize;
  const matrix = new Float32Array(outputSize * inputSize);
  const last = inputSize - 1;
  for (let position = 0; position < outputSize; position++) {
    const coordinate = originalCoordinate(settings.coordinateMode, position, resize);
    const row = position * inputSize;
    if (settings.mode === 'nearest') {
      matrix[row + Math.max(0, Math.min(last, nearestIndex(settings.nearestMode, coordinate, resize.scale)))] = 1;
      continue;
    }
    const clamped = Math.max(0, Math.min(coordinate, last));
    const low = Math.min(Math.trunc(clamped), last);
    const high = Math.min(low + 1, last);
    if (low === high) {
      matrix[row + low] = 1;
      continue;
    }
    matrix[row + low]! += f32(Math.abs(clamped - high));
    matrix[row + high]! += f32(Math.abs(clamped - low));
  }
  return matrix;
}

function isIdentity(matrix: Float32Array, resize: AxisResize): boolean {
  if (resize.inputSize !== resize.outputSize) return false;
  for (let row = 0; row < resize.outputSize; row++) {
    for (let column = 0; column < resize.inputSize; column++) if (matrix[row * resize.inputSize + column] !== (row === column ? 1 : 0)) return false;
  }
  return true;
}

/** The repeat factor k when the matrix copies input i to outputs [i·k, (i + 1)·k) (nearest, integer upsampling). */
function blockFactor(matrix: Float32Array, resize: AxisResize): number | undefined {
  const { inputSize, outputSize } = resize;
  if (outputSize % inputSize !== 0) return undefined;
  const factor = outputSize / inputSize;
  for (let row = 0; row < outputSize; row++) {
    for (let column = 0; column < inputSize; column++) if (matrix[row * inputSize + column] !== (Math.floor(row / factor) === column ? 1 : 0)) return undefined;
  }
  return factor;
}

/** Swaps `axis` with the last axis of a rank-`rank` value (its own inverse). */
function swapWithLast(axis: number, rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, position) => position);
  perm[axis] = rank - 1;
  perm[rank - 1] = axis;
  return perm;
}

/**
 * Resize and Upsample in 'nearest' and 'linear' modes. Both are separable: along each
 * resized axis Y = A X for an interpolation matrix A [out, in] computed here with
 * onnxruntime's coordinate transform, rounding and clamping, so dX = Aᵀ dY axis by axis.
 * Integer nearest upsampling (every output copies one block-aligned input, PyTorch's
 * scale_factor=2) sums the k×k blocks by Reshape and ReduceSum; other cases are one MatMul
 * per resized axis against the constant A (a Transpose pair for axes before the last two).
 * Cubic, antialiased downsampling and tf_crop_and_resize fail naming the node and mode.
 */
function resize(ctx: GradientContext): (string | undefined)[] {
  const extra = ctx.inputs.slice(1).map(() => undefined);
  const settings = readSettings(ctx);
  const dtype = requireInputType(ctx, 0).dtype;
  const inputShape = requireInputType(ctx, 0).shape;
  const rank = inputShape.length;
  const resized = settings.axes
    .map((axis) => ({ resize: axis, matrix: interpolationMatrix(settings, axis) }))
    .filter(({ resize, matrix }) => !isIdentity(matrix, resize));
  let gradient = outputGradient(ctx);
  if (resized.length === 0) return [gradient, ...extra];
  const factors = resized.map(({ resize, matrix }) => blockFactor(matrix, resize));
  const firstResized = Math.min(...resized.map(({ resize }) => resize.axis));
  const blockable = factors.every((factor) => factor !== undefined) && inputShape.every((dim, axis) => axis < firstResized || typeof dim === 'number');
  if (blockable) {
    // [.., in·k, ..] → [.., in, k, ..], then sum the k axes away.
    const split: number[] = [];
    const summed: number[] = [];
    inputShape.forEach((dim, axis) => {
      const index = resized.findIndex(({ resize }) => resize.axis === axis);
      if (axis < firstResized) split.push(typeof dim === 'number' ? dim : 0);
      else if (index < 0) split.push(dim as number);
      else {
        split.push(resized[index]!.resize.inputSize, factors[index]!);
        summed.push(split.length - 1);
      }
    });
    return [reduceSum(ctx, emitOp(ctx, 'Reshape', [gradient, int64Constant(ctx, split)]), summed, false), ...extra];
  }
  for (const { resize, matrix } of resized) {
    const weights = (transposed: boolean): string => {
      const shape = transposed ? [resize.inputSize, resize.outputSize] : [resize.outputSize, resize.inputSize];
      let values = matrix;
      if (transposed) {
        values = new Float32Array(matrix.length);
        for (let row = 0; row < resize.outputSize; row++) for (let column = 0; column < resize.inputSize; column++) values[column * resize.outputSize + row] = matrix[row * resize.inputSize + column]!;
      }
      return ctx.addConstant(Tensor.from(dtype, shape, values), `${ctx.node.name}_grad_interpolation`);
    };
    if (resize.axis === rank - 1) gradient = emitOp(ctx, 'MatMul', [gradient, weights(false)]);
    else if (resize.axis === rank - 2) gradient = emitOp(ctx, 'MatMul', [weights(true), gradient]);
    else {
      const perm = swapWithLast(resize.axis, rank);
      const moved = emitOp(ctx, 'Transpose', [gradient], { perm });
      gradient = emitOp(ctx, 'Transpose', [emitOp(ctx, 'MatMul', [moved, weights(false)])], { perm });
    }
  }
  return [gradient, ...extra];
}

export const resizeGradients: Record<string, GradientRule> = {
  Resize: resize,
  Upsample: resize,
};

import { dtypeToOnnx } from '../../ir/dtype.js';
import { getInt } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { GradientContext } from '../../ops/registry.js';
import { readWindowAttributes } from '../../ops/defs/window-shape.js';
import { emitOp, int64Constant, reduceSum, requireInputType, requireOutputType, requireStaticShape, shapeOfInput } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** A pooling window with auto_pad resolved to explicit pads, on static spatial sizes. */
interface PoolWindow {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis, then end pads. */
  pads: number[];
  spatial: number[];
  outputSpatial: number[];
}

function poolWindow(ctx: GradientContext): PoolWindow {
  const input = requireInputType(ctx, 0);
  const spatial = requireStaticShape(ctx, input.shape.slice(2), `the spatial axes of input X ('${ctx.inputs[0]!}')`);
  const outputSpatial = requireStaticShape(ctx, requireOutputType(ctx, 0).shape.slice(2), `the spatial axes of output Y ('${ctx.outputs[0]!}')`);
  const window = readWindowAttributes(ctx, spatial.length);
  const kernel = window.kernel as number[];
  const rank = spatial.length;
  const pads = [...window.pads];
  if (window.autoPad === 'VALID') pads.fill(0);
  if (window.autoPad === 'SAME_UPPER' || window.autoPad === 'SAME_LOWER') {
    for (let axis = 0; axis < rank; axis++) {
      const span = (kernel[axis]! - 1) * window.dilations[axis]! + 1;
      const total = Math.max(0, (outputSpatial[axis]! - 1) * window.strides[axis]! + span - spatial[axis]!);
      const begin = window.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      pads[axis] = begin;
      pads[axis + rank] = total - begin;
    }
  }
  return { kernel, strides: window.strides, dilations: window.dilations, pads, spatial, outputSpatial };
}

/**
 * MaxPool: a second MaxPool on X with the Indices output (flat positions in X, ONNX Runtime
 * computes them row-major whatever the forward storage_order) says where each window's
 * maximum sits; dX is dY scattered there. ScatterElements with reduction 'add' (opset 16)
 * sums the windows that share a maximum; before opset 16 only windows that cannot overlap
 * are supported, where a plain scatter is exact. ONNX has no MaxPool gradient op, and the
 * indices formulation costs one forward pool and one scatter, less than a windowed mask.
 */
function maxPool(ctx: GradientContext): (string | undefined)[] {
  const window = poolWindow(ctx);
  const overlapping = window.kernel.some((size, axis) => (size - 1) * window.dilations[axis]! + 1 > window.strides[axis]!);
  if (overlapping && ctx.opset < 16) {
    ctx.fail(`its windows overlap (kernel [${window.kernel.join(', ')}], strides [${window.strides.join(', ')}]) and summing the gradients of shared maxima needs ScatterElements with reduction (opset 16); import opset 16 or later`);
  }
  const attributes = {
    kernel_shape: window.kernel,
    strides: window.strides,
    dilations: window.dilations,
    pads: window.pads,
    ceil_mode: getInt(ctx.node, 'ceil_mode', 0),
  };
  const indices = ctx.emit({ opType: 'MaxPool', inputs: [ctx.inputs[0]!], outputs: 2, attributes }).outputs[1]!;
  const dtype = requireInputType(ctx, 0).dtype;
  const flat = int64Constant(ctx, [-1]);
  const size = emitOp(ctx, 'Reshape', [emitOp(ctx, 'Size', [ctx.inputs[0]!]), flat]);
  const zeros = emitOp(ctx, 'ConstantOfShape', [size], { value: Tensor.from(dtype, [1], [0]) });
  const scattered = emitOp(ctx, 'ScatterElements', [zeros, emitOp(ctx, 'Reshape', [indices, flat]), emitOp(ctx, 'Reshape', [outputGradient(ctx), flat])], {
    axis: 0,
    ...(ctx.opset >= 16 ? { reduction: 'add' } : {}),
  });
  return [emitOp(ctx, 'Reshape', [scattered, shapeOfInput(ctx, 0)])];
}

/**
 * The divisor of each output of an AveragePool: the window's taps inside X, or with
 * count_include_pad the taps inside the padded X (PyTorch's and ONNX Runtime's rule: a
 * ceil_mode window reaching past the end padding counts only up to it). [O1, ..., On].
 */
function averageDivisors(window: PoolWindow, includePad: boolean): Float32Array {
  const rank = window.spatial.length;
  const perAxis = window.spatial.map((size, axis) => {
    const counts: number[] = [];
    for (let output = 0; output < window.outputSpatial[axis]!; output++) {
      let count = 0;
      for (let tap = 0; tap < window.kernel[axis]!; tap++) {
        const position = output * window.strides[axis]! - window.pads[axis]! + tap * window.dilations[axis]!;
        const low = includePad ? -window.pads[axis]! : 0;
        const high = includePad ? size + window.pads[axis + rank]! : size;
        if (position >= low && position < high) count++;
      }
      counts.push(count);
    }
    return counts;
  });
  const total = window.outputSpatial.reduce((product, dim) => product * dim, 1);
  const divisors = new Float32Array(total);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let product = 1;
    for (let axis = rank - 1; axis >= 0; axis--) {
      const size = window.outputSpatial[axis]!;
      product *= perAxis[axis]![rest % size]!;
      rest = Math.floor(rest / size);
    }
    divisors[flat] = 1 / product;
  }
  return divisors;
}

/**
 * AveragePool: dY divided by each window's divisor, then spread over the window by a
 * ConvTranspose with a kernel of ones (N·C as the batch, one channel); its pads crop the
 * padding away, and output_padding (or extra end cropping for ceil_mode windows that run
 * past the input) restores X's size.
 */
function averagePool(ctx: GradientContext): (string | undefined)[] {
  const window = poolWindow(ctx);
  const input = requireInputType(ctx, 0);
  const rank = window.spatial.length;
  const includePad = getInt(ctx.node, 'count_include_pad', 0) !== 0;
  const divisors = ctx.addConstant(Tensor.from(input.dtype, window.outputSpatial, averageDivisors(window, includePad)), `${ctx.node.name}_grad_divisors`);
  const scaled = emitOp(ctx, 'Mul', [outputGradient(ctx), divisors]);
  const batched = emitOp(ctx, 'Reshape', [scaled, int64Constant(ctx, [-1, 1, ...window.outputSpatial])]);
  const kernelSize = window.kernel.reduce((product, dim) => product * dim, 1);
  const ones = ctx.addConstant(Tensor.from(input.dtype, [1, 1, ...window.kernel], new Float32Array(kernelSize).fill(1)), `${ctx.node.name}_grad_window`);
  const pads = [...window.pads];
  const outputPadding = window.spatial.map((size, axis) => {
    const span = (window.kernel[axis]! - 1) * window.dilations[axis]! + 1;
    const reached = window.strides[axis]! * (window.outputSpatial[axis]! - 1) + span - pads[axis]! - pads[axis + rank]!;
    if (reached > size) pads[axis + rank]! += reached - size;
    return Math.max(0, size - reached);
  });
  const spread = emitOp(ctx, 'ConvTranspose', [batched, ones], {
    kernel_shape: window.kernel,
    strides: window.strides,
    dilations: window.dilations,
    pads,
    output_padding: outputPadding,
  });
  return [emitOp(ctx, 'Reshape', [spread, shapeOfInput(ctx, 0)])];
}

/**
 * The gradient of a maximum over `axes` (kept as size 1 in `output`): dY goes to the
 * elements equal to the maximum, shared evenly between ties so the total is preserved.
 */
export function maximumGradient(ctx: GradientContext, output: string, gradient: string, axes: readonly number[]): string {
  const dtype = requireInputType(ctx, 0).dtype;
  const mask = emitOp(ctx, 'Cast', [emitOp(ctx, 'Equal', [ctx.inputs[0]!, output])], { to: dtypeToOnnx(dtype) });
  const ties = reduceSum(ctx, mask, axes, true);
  return emitOp(ctx, 'Mul', [mask, emitOp(ctx, 'Div', [gradient, ties])]);
}

export const poolGradients: Record<string, GradientRule> = {
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalMaxPool(ctx) {
    const rank = requireInputType(ctx, 0).shape.length;
    return [maximumGradient(ctx, ctx.outputs[0]!, outputGradient(ctx), Array.from({ length: rank - 2 }, (_, axis) => axis + 2))];
  },
};

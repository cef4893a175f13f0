import { getInts, getString, type Dim, type Node } from '../../ir/graph.js';
import type { InferenceContext } from '../registry.js';

/** Sliding-window attributes shared by Conv, ConvTranspose and the pooling ops. */
export interface WindowAttributes {
  /** Kernel size per spatial axis; null where only a symbolic weight shape is known. */
  kernel: (number | null)[];
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis, then end pads (ONNX order). */
  pads: number[];
  autoPad: 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
}

const autoPadValues = new Set(['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);

/**
 * Reads and checks kernel_shape/strides/dilations/pads/auto_pad for `spatialRank` axes.
 * `weightKernel` is the kernel read from a weight shape (Conv), used when kernel_shape is absent.
 */
export function readWindowAttributes(ctx: Pick<InferenceContext, 'fail'> & { node: Node }, spatialRank: number, weightKernel?: readonly Dim[]): WindowAttributes {
  const node = ctx.node;
  const kernelAttribute = getInts(node, 'kernel_shape');
  let kernel: (number | null)[];
  if (kernelAttribute !== undefined) {
    kernel = kernelAttribute;
    if (weightKernel) {
      weightKernel.forEach((dim, axis) => {
        if (typeof dim === 'number' && dim !== kernelAttribute[axis]) {
          ctx.fail(`kernel_shape [${kernelAttribute.join(', ')}] does not match the weight's spatial shape [${weightKernel.join(', ')}]`);
        }
      });
    }
  } else if (weightKernel) {
    kernel = weightKernel.map((dim) => (typeof dim === 'number' ? dim : null));
  } else {
    return ctx.fail('attribute kernel_shape is required');
  }
  const strides = getInts(node, 'strides') ?? new Array<number>(spatialRank).fill(1);
  const dilations = getInts(node, 'dilations') ?? new Array<number>(spatialRank).fill(1);
  const pads = getInts(node, 'pads') ?? new Array<number>(spatialRank * 2).fill(0);
  const autoPad = getString(node, 'auto_pad', 'NOTSET');
  if (kernel.length !== spatialRank) ctx.fail(`kernel_shape has ${kernel.length} values but the input has ${spatialRank} spatial axes`);
  if (strides.length !== spatialRank) ctx.fail(`strides has ${strides.length} values but the input has ${spatialRank} spatial axes`);
  if (dilations.length !== spatialRank) ctx.fail(`dilations has ${dilations.length} values but the input has ${spatialRank} spatial axes`);
  if (pads.length !== spatialRank * 2) ctx.fail(`pads has ${pads.length} values but needs ${spatialRank * 2} (begin and end of each spatial axis)`);
  if (!autoPadValues.has(autoPad)) ctx.fail(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  if (strides.some((value) => value < 1)) ctx.fail(`strides [${strides.join(', ')}] must be positive`);
  if (dilations.some((value) => value < 1)) ctx.fail(`dilations [${dilations.join(', ')}] must be positive`);
  if (pads.some((value) => value < 0)) ctx.fail(`pads [${pads.join(', ')}] must not be negative`);
  return { kernel, strides, dilations, pads, autoPad: autoPad as WindowAttributes['autoPad'] };
}

/**
 * The output size of one spatial axis of a forward sliding window (Conv, pooling).
 * `ceilMode` rounds up, dropping a last window that would start in the end padding
 * (PyTorch's and ONNX Runtime's rule). Symbolic inputs keep their name only where the
 * size cannot change (stride 1, a 1-wide window, no padding); otherwise unknown.
 */
export function windowOutputDim(
  ctx: Pick<InferenceContext, 'fail'>,
  input: Dim,
  axis: number,
  window: WindowAttributes,
  ceilMode = false,
): Dim {
  const kernel = window.kernel[axis] ?? null;
  const stride = window.strides[axis]!;
  const dilation = window.dilations[axis]!;
  const spatialRank = window.kernel.length;
  const padBegin = window.pads[axis]!;
  const padEnd = window.pads[axis + spatialRank]!;
  if (window.autoPad === 'SAME_UPPER' || window.autoPad === 'SAME_LOWER') {
    if (typeof input === 'number') return Math.ceil(input / stride);
    return stride === 1 ? input : null;
  }
  if (kernel === null) return null;
  const span = (kernel - 1) * dilation + 1;
  const [begin, end] = window.autoPad === 'VALID' ? [0, 0] : [padBegin, padEnd];
  if (typeof input !== 'number') return span === 1 && stride === 1 && begin === 0 && end === 0 ? input : null;
  const room = input + begin + end - span;
  if (room < 0) {
    ctx.fail(`spatial axis ${axis} has size ${input} (padded ${input + begin + end}), smaller than the window span ${span}; use a larger input or padding`);
  }
  if (!ceilMode) return Math.floor(room / stride) + 1;
  let output = Math.ceil(room / stride) + 1;
  if ((output - 1) * stride >= input + begin) output--;
  return output;
}

/** The output size of one spatial axis of ConvTranspose, without output_shape. */
export function transposedOutputDim(input: Dim, axis: number, window: WindowAttributes, outputPadding: number): Dim {
  const kernel = window.kernel[axis] ?? null;
  const stride = window.strides[axis]!;
  const dilation = window.dilations[axis]!;
  const spatialRank = window.kernel.length;
  if (typeof input !== 'number') return null;
  if (window.autoPad === 'SAME_UPPER' || window.autoPad === 'SAME_LOWER') return input * stride;
  if (kernel === null) return null;
  const pads = window.autoPad === 'VALID' ? 0 : window.pads[axis]! + window.pads[axis + spatialRank]!;
  return stride * (input - 1) + outputPadding + (kernel - 1) * dilation + 1 - pads;
}

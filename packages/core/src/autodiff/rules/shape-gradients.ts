import { getFloat, getInt, getInts, getString } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { GradientContext } from '../../ops/registry.js';
import { padParameters, sliceParameters, sliceRange } from '../../ops/defs/shape-ops.js';
import {
  emitOp,
  int64Constant,
  inversePermutation,
  normalizeAxes,
  reduceBroadcast,
  reduceSum,
  requireInputType,
  requireOutputType,
  requireStaticShape,
  scalarConstant,
  shapeOfInput,
} from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Ops that only rearrange elements in row-major order: the gradient is reshaped back. Later inputs (shape, axes) take none. */
function reshapeBack(ctx: GradientContext): (string | undefined)[] {
  const gradient = emitOp(ctx, 'Reshape', [outputGradient(ctx), shapeOfInput(ctx, 0)]);
  return [gradient, ...ctx.inputs.slice(1).map(() => undefined)];
}

/** The ints of constant input `index`; fails naming the input when it is computed at run time. */
function constantInts(ctx: GradientContext, index: number, what: string): number[] | undefined {
  if (ctx.inputs[index] === undefined || ctx.inputs[index] === '') return undefined;
  const constant = ctx.constant(index);
  if (constant === undefined) return ctx.fail(`the ${what} (input ${index}) are computed at run time; gradients need constant ${what}`);
  return constant.toNumbers();
}

/** Zeros of a static shape, as ConstantOfShape. */
function zerosOfShape(ctx: GradientContext, shape: readonly number[], dtype: Parameters<typeof scalarConstant>[2]): string {
  return emitOp(ctx, 'ConstantOfShape', [int64Constant(ctx, shape)], { value: Tensor.from(dtype, [1], [0]) });
}

/**
 * Scatters `gradient` (shaped like `from`) into zeros shaped like `to` along `axis`, at the
 * positions `positions` of that axis: ScatterElements with the positions broadcast over
 * the other axes. `add` sums repeated positions (opset 16).
 */
function scatterAlongAxis(ctx: GradientContext, gradient: string, from: readonly number[], to: readonly number[], axis: number, positions: string, add: boolean): string {
  const dtype = requireInputType(ctx, 0).dtype;
  const positionShape = from.map((dim, position) => (position === axis ? dim : 1));
  const indices = emitOp(ctx, 'Expand', [emitOp(ctx, 'Reshape', [positions, int64Constant(ctx, positionShape)]), int64Constant(ctx, from)]);
  return emitOp(ctx, 'ScatterElements', [zerosOfShape(ctx, to, dtype), indices, gradient], { axis, ...(add ? { reduction: 'add' } : {}) });
}

export const shapeGradients: Record<string, GradientRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose(ctx) {
    const rank = requireInputType(ctx, 0).shape.length;
    const perm = getInts(ctx.node, 'perm') ?? Array.from({ length: rank }, (_, axis) => rank - 1 - axis);
    return [emitOp(ctx, 'Transpose', [outputGradient(ctx)], { perm: inversePermutation(perm) })];
  },
  Expand(ctx) {
    return [reduceBroadcast(ctx, outputGradient(ctx), requireOutputType(ctx, 0).shape, 0), undefined];
  },
  Concat(ctx) {
    // dY split back along the axis into the inputs' sizes.
    const rank = requireOutputType(ctx, 0).shape.length;
    const axis = normalizeAxes(ctx, [getInt(ctx.node, 'axis', 0)], rank)[0]!;
    const sizes = ctx.inputs.map((_, index) => requireStaticShape(ctx, requireInputType(ctx, index).shape.slice(axis, axis + 1), `axis ${axis} of input ${index}`)[0]!);
    if (ctx.inputs.length === 1) return [outputGradient(ctx)];
    const split = ctx.opset >= 13 ? { inputs: [outputGradient(ctx), int64Constant(ctx, sizes)], attributes: { axis } } : { inputs: [outputGradient(ctx)], attributes: { axis, split: sizes } };
    const parts = ctx.emit({ opType: 'Split', ...split, outputs: ctx.inputs.length }).outputs;
    return parts.map((part, index) => (ctx.needsGradient(index) ? part : undefined));
  },
  Split(ctx) {
    // The outputs' gradients concatenated; outputs no gradient reaches contribute zeros.
    const dtype = requireInputType(ctx, 0).dtype;
    const rank = requireInputType(ctx, 0).shape.length;
    const axis = normalizeAxes(ctx, [getInt(ctx.node, 'axis', 0)], rank)[0]!;
    const parts = ctx.outputs.map((output, index) => {
      const gradient = output === '' ? undefined : ctx.outputGradient(index);
      if (gradient !== undefined) return gradient;
      const shape = requireStaticShape(ctx, requireOutputType(ctx, index).shape, `output ${index} ('${output}')`);
      return zerosOfShape(ctx, shape, dtype);
    });
    const joined = parts.length === 1 ? parts[0]! : emitOp(ctx, 'Concat', parts, { axis });
    return [joined, ...ctx.inputs.slice(1).map(() => undefined)];
  },
  Slice(ctx) {
    // Positive steps: dY spread out over the stepped axes (element i to i·step) by a nearest
    // Resize with integer scales and a 0/1 mask, then padded back with zeros; three memory
    // passes, where ScatterElements (or a Pad of a 6-D view) costs about ten times more.
    // Negative steps: dY scattered axis by axis to the positions the slice read.
    const input = requireInputType(ctx, 0);
    const shape = requireStaticShape(ctx, input.shape, `input 0 ('${ctx.inputs[0]!}')`);
    const read = (index: number): number[] | undefined => constantInts(ctx, index, ['', 'starts', 'ends', 'axes', 'steps'][index]!);
    const parameters = sliceParameters(ctx.node, ctx.opset, shape.length, read, ctx.fail)!;
    const extra = ctx.inputs.slice(1).map(() => undefined);
    const ranges = parameters.axes.map((axis, index) => ({ axis, step: parameters.steps[index]!, ...sliceRange(parameters.starts[index]!, parameters.ends[index]!, parameters.steps[index]!, shape[axis]!) }));
    const stepped = ranges.filter((range) => range.step > 1 && range.length > 0);
    if (ranges.every((range) => range.step > 0) && (stepped.length === 0 || ctx.opset >= 13)) {
      let gradient = outputGradient(ctx);
      const current = [...requireStaticShape(ctx, requireOutputType(ctx, 0).shape, `output 0 ('${ctx.outputs[0]!}')`)];
      if (stepped.length > 0) {
        const scales = current.map(() => 1);
        for (const range of stepped) scales[range.axis] = range.step;
        const dtype = input.dtype;
        const replicated = emitOp(ctx, 'Resize', [gradient, '', ctx.addConstant(Tensor.from('float32', [scales.length], scales), `${ctx.node.name}_grad_scales`)], {
          mode: 'nearest',
          coordinate_transformation_mode: 'asymmetric',
          nearest_mode: 'floor',
        });
        const maskShape = current.map((size, axis) => size * scales[axis]!).map((size, axis) => (scales[axis] === 1 ? 1 : size));
        const mask = new Array<number>(maskShape.reduce((product, size) => product * size, 1)).fill(0);
        const strides = maskShape.map((_, axis) => maskShape.slice(axis + 1).reduce((product, size) => product * size, 1));
        for (let index = 0; index < mask.length; index++) {
          mask[index] = maskShape.every((_, axis) => Math.floor(index / strides[axis]!) % maskShape[axis]! % scales[axis]! === 0) ? 1 : 0;
        }
        gradient = emitOp(ctx, 'Mul', [replicated, ctx.addConstant(Tensor.from(dtype, maskShape, mask), `${ctx.node.name}_grad_mask`)]);
        for (const range of stepped) current[range.axis] = range.length * range.step;
      }
      const before = shape.map(() => 0);
      const after = shape.map(() => 0);
      const trimAxes: number[] = [];
      const trimEnds: number[] = [];
      for (const range of ranges) {
        // The last element's step − 1 trailing zeros may run past the input's end.
        const fits = shape[range.axis]! - range.first;
        if (current[range.axis]! > fits) {
          trimAxes.push(range.axis);
          trimEnds.push(fits);
          current[range.axis] = fits;
        }
        before[range.axis] = range.first;
        after[range.axis] = shape[range.axis]! - range.first - current[range.axis]!;
      }
      if (trimAxes.length > 0) gradient = emitOp(ctx, 'Slice', [gradient, int64Constant(ctx, trimAxes.map(() => 0)), int64Constant(ctx, trimEnds), int64Constant(ctx, trimAxes)]);
      const pads = [...before, ...after];
      if (pads.every((amount) => amount === 0)) return [gradient, ...extra];
      return [ctx.opset >= 11 ? emitOp(ctx, 'Pad', [gradient, int64Constant(ctx, pads)]) : emitOp(ctx, 'Pad', [gradient], { pads }), ...extra];
    }
    if (ctx.opset < 11) ctx.fail('steps other than 1 need ScatterElements (opset 11); import opset 11 or later');
    let gradient = outputGradient(ctx);
    const current = [...requireStaticShape(ctx, requireOutputType(ctx, 0).shape, `output 0 ('${ctx.outputs[0]!}')`)];
    for (const range of ranges) {
      const positions = Array.from({ length: range.length }, (_, index) => range.first + index * range.step);
      const target = current.map((dim, axis) => (axis === range.axis ? shape[axis]! : dim));
      gradient = scatterAlongAxis(ctx, gradient, current, target, range.axis, int64Constant(ctx, positions), false);
      current[range.axis] = shape[range.axis]!;
    }
    return [gradient, ...extra];
  },
  Pad(ctx) {
    // Constant mode: dX is dY with the padding sliced away; the pad value's gradient is what
    // flowed into the padding.
    const mode = getString(ctx.node, 'mode', 'constant');
    if (mode !== 'constant') ctx.fail(`mode '${mode}' has no gradient rule yet; only constant padding is differentiated`);
    const input = requireInputType(ctx, 0);
    const rank = input.shape.length;
    const pads = ctx.opset >= 11 ? constantInts(ctx, 1, 'pads') : undefined;
    const axes = ctx.opset >= 18 ? constantInts(ctx, 3, 'axes') : undefined;
    const { before, after } = padParameters(ctx.node, ctx.opset, rank, pads, axes, ctx.fail);
    if ([...before, ...after].some((amount) => amount < 0)) ctx.fail('negative pads (cropping) have no gradient rule yet');
    const shape = requireStaticShape(ctx, input.shape, `input 0 ('${ctx.inputs[0]!}')`);
    const axesAll = shape.map((_, axis) => axis);
    const dy = outputGradient(ctx);
    const ends = shape.map((dim, axis) => before[axis]! + dim);
    const gradient =
      ctx.opset >= 10
        ? emitOp(ctx, 'Slice', [dy, int64Constant(ctx, before), int64Constant(ctx, ends), int64Constant(ctx, axesAll)])
        : emitOp(ctx, 'Slice', [dy], { starts: before, ends, axes: axesAll });
    const gradients: (string | undefined)[] = ctx.inputs.map(() => undefined);
    gradients[0] = ctx.needsGradient(0) ? gradient : undefined;
    if (ctx.opset >= 11 && ctx.needsGradient(2)) {
      const padded = emitOp(ctx, 'Sub', [reduceSum(ctx, dy, axesAll, false), reduceSum(ctx, gradient, axesAll, false)]);
      gradients[2] = emitOp(ctx, 'Reshape', [padded, shapeOfInput(ctx, 2)]);
    }
    return gradients;
  },
  Gather(ctx) {
    // dY [..., I..., ...] flattened over the index axes and scattered back onto the axis,
    // summing repeated indices (ScatterElements' add reduction, opset 16).
    const input = requireInputType(ctx, 0);
    const shape = requireStaticShape(ctx, input.shape, `input 0 ('${ctx.inputs[0]!}')`);
    const axis = normalizeAxes(ctx, [getInt(ctx.node, 'axis', 0)], shape.length)[0]!;
    const indexShape = requireStaticShape(ctx, requireInputType(ctx, 1).shape, `the indices ('${ctx.inputs[1]!}')`);
    const count = indexShape.reduce((product, dim) => product * dim, 1);
    const constant = ctx.constant(1)?.toNumbers();
    const repeats = constant === undefined || new Set(constant.map((index) => (index < 0 ? index + shape[axis]! : index))).size !== constant.length;
    if (repeats && ctx.opset < 16) ctx.fail('indices that may repeat need ScatterElements with reduction (opset 16) to sum their gradients; import opset 16 or later');
    const from = shape.map((dim, position) => (position === axis ? count : dim));
    const flatGradient = emitOp(ctx, 'Reshape', [outputGradient(ctx), int64Constant(ctx, from)]);
    let positions = emitOp(ctx, 'Reshape', [ctx.inputs[1]!, int64Constant(ctx, [count])]);
    if (requireInputType(ctx, 1).dtype !== 'int64') positions = emitOp(ctx, 'Cast', [positions], { to: 7 });
    return [scatterAlongAxis(ctx, flatGradient, from, shape, axis, positions, repeats), undefined];
  },
  Dropout(ctx) {
    // Inference: identity. Training (opset 12+, training_mode true): dY · mask / (1 − ratio),
    // which needs the node's mask output.
    const dy = outputGradient(ctx);
    const extra = ctx.inputs.slice(1).map(() => undefined);
    const trainingInput = ctx.opset >= 12 ? ctx.inputs[2] : undefined;
    if (trainingInput === undefined || trainingInput === '') return [dy, ...extra];
    const training = ctx.constant(2) ?? ctx.fail('training_mode (input 2) is computed at run time; pass a constant');
    if (training.numberAt(0) === 0) return [dy, ...extra];
    const mask = ctx.outputs[1] || ctx.fail('in training mode its gradient needs the mask output; give the node a second output');
    const ratioInput = ctx.inputs[1] === undefined || ctx.inputs[1] === '' ? undefined : ctx.constant(1);
    if (ctx.inputs[1] && ctx.inputs[1] !== '' && ratioInput === undefined) ctx.fail('ratio (input 1) is computed at run time; pass a constant');
    const ratio = ratioInput?.numberAt(0) ?? getFloat(ctx.node, 'ratio', 0.5);
    const dtype = requireInputType(ctx, 0).dtype;
    const kept = emitOp(ctx, 'Where', [mask, dy, scalarConstant(ctx, 0, dtype)]);
    return [ratio === 0 ? kept : emitOp(ctx, 'Mul', [kept, scalarConstant(ctx, 1 / (1 - ratio), dtype)]), ...extra];
  },
};

// Plain TypeScript reference implementations of ONNX operators, for the conformance suite.
// Written for clarity on small tensors (NCHW, 2-D spatial), not for speed.
import { shapeSize } from '../ir/tensor.js';

/** A float tensor for reference arithmetic. */
export interface ReferenceTensor {
  shape: number[];
  data: Float64Array;
}

export function reference(shape: readonly number[], data: ArrayLike<number>): ReferenceTensor {
  return { shape: [...shape], data: Float64Array.from(data) };
}

/** Deterministic values in [-1, 1) (mulberry32), so every backend sees the same inputs. */
export function seededValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const values = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    values[index] = (((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return values;
}

function strides(shape: readonly number[]): number[] {
  const result = new Array<number>(shape.length).fill(1);
  for (let axis = shape.length - 2; axis >= 0; axis--) result[axis] = result[axis + 1]! * shape[axis + 1]!;
  return result;
}

/** Calls `visit` with every multi-index of `shape` in row-major order and its flat position. */
function forEachIndex(shape: readonly number[], visit: (index: number[], flat: number) => void): void {
  const size = shapeSize(shape);
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < size; flat++) {
    visit(index, flat);
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++index[axis]! < shape[axis]!) break;
      index[axis] = 0;
    }
  }
}

export interface ConvParameters {
  strides?: [number, number];
  pads?: [number, number, number, number];
  dilations?: [number, number];
  group?: number;
}

/** ONNX Conv: x [N, C, H, W], weight [M, C/group, kH, kW], bias [M]. */
export function conv(x: ReferenceTensor, weight: ReferenceTensor, bias: ReferenceTensor | undefined, parameters: ConvParameters = {}): ReferenceTensor {
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  const [outputChannels, groupChannels, kernelHeight, kernelWidth] = weight.shape as [number, number, number, number];
  const [strideH, strideW] = parameters.strides ?? [1, 1];
  const [padTop, padLeft, padBottom, padRight] = parameters.pads ?? [0, 0, 0, 0];
  const [dilationH, dilationW] = parameters.dilations ?? [1, 1];
  const group = parameters.group ?? 1;
  const outputsPerGroup = outputChannels / group;
  const outputHeight = Math.floor((height + padTop + padBottom - dilationH * (kernelHeight - 1) - 1) / strideH) + 1;
  const outputWidth = Math.floor((width + padLeft + padRight - dilationW * (kernelWidth - 1) - 1) / strideW) + 1;
  const output = new Float64Array(batch * outputChannels * outputHeight * outputWidth);
  for (let n = 0; n < batch; n++)
    for (let m = 0; m < outputChannels; m++) {
      const g = Math.floor(m / outputsPerGroup);
      for (let oh = 0; oh < outputHeight; oh++)
        for (let ow = 0; ow < outputWidth; ow++) {
          let sum = bias ? bias.data[m]! : 0;
          for (let c = 0; c < groupChannels; c++) {
            const inputChannel = g * groupChannels + c;
            for (let kh = 0; kh < kernelHeight; kh++) {
              const ih = oh * strideH - padTop + kh * dilationH;
              if (ih < 0 || ih >= height) continue;
              for (let kw = 0; kw < kernelWidth; kw++) {
                const iw = ow * strideW - padLeft + kw * dilationW;
                if (iw < 0 || iw >= width) continue;
                sum +=
                  x.data[((n * channels + inputChannel) * height + ih) * width + iw]! *
                  weight.data[((m * groupChannels + c) * kernelHeight + kh) * kernelWidth + kw]!;
              }
            }
          }
          output[((n * outputChannels + m) * outputHeight + oh) * outputWidth + ow] = sum;
        }
    }
  return { shape: [batch, outputChannels, outputHeight, outputWidth], data: output };
}

/** ONNX ConvTranspose: x [N, C, H, W], weight [C, M/group, kH, kW]. */
export function convTranspose(
  x: ReferenceTensor,
  weight: ReferenceTensor,
  bias: ReferenceTensor | undefined,
  parameters: ConvParameters & { outputPadding?: [number, number] } = {},
): ReferenceTensor {
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  const [, outputsPerGroup, kernelHeight, kernelWidth] = weight.shape as [number, number, number, number];
  const [strideH, strideW] = parameters.strides ?? [1, 1];
  const [padTop, padLeft, padBottom, padRight] = parameters.pads ?? [0, 0, 0, 0];
  const [dilationH, dilationW] = parameters.dilations ?? [1, 1];
  const [extraH, extraW] = parameters.outputPadding ?? [0, 0];
  const group = parameters.group ?? 1;
  const channelsPerGroup = channels / group;
  const outputChannels = outputsPerGroup * group;
  const outputHeight = strideH * (height - 1) + extraH + (kernelHeight - 1) * dilationH + 1 - padTop - padBottom;
  const outputWidth = strideW * (width - 1) + extraW + (kernelWidth - 1) * dilationW + 1 - padLeft - padRight;
  const output = new Float64Array(batch * outputChannels * outputHeight * outputWidth);
  for (let n = 0; n < batch; n++)
    for (let m = 0; m < outputChannels; m++)
      for (let position = 0; position < outputHeight * outputWidth; position++)
        output[(n * outputChannels + m) * outputHeight * outputWidth + position] = bias ? bias.data[m]! : 0;
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < channels; c++) {
      const g = Math.floor(c / channelsPerGroup);
      for (let ih = 0; ih < height; ih++)
        for (let iw = 0; iw < width; iw++) {
          const value = x.data[((n * channels + c) * height + ih) * width + iw]!;
          for (let local = 0; local < outputsPerGroup; local++)
            for (let kh = 0; kh < kernelHeight; kh++) {
              const oh = ih * strideH - padTop + kh * dilationH;
              if (oh < 0 || oh >= outputHeight) continue;
              for (let kw = 0; kw < kernelWidth; kw++) {
                const ow = iw * strideW - padLeft + kw * dilationW;
                if (ow < 0 || ow >= outputWidth) continue;
                const m = g * outputsPerGroup + local;
                output[((n * outputChannels + m) * outputHeight + oh) * outputWidth + ow]! +=
                  value * weight.data[((c * outputsPerGroup + local) * kernelHeight + kh) * kernelWidth + kw]!;
              }
            }
        }
    }
  return { shape: [batch, outputChannels, outputHeight, outputWidth], data: output };
}

/** ONNX BatchNormalization in inference mode. */
export function batchNormalization(
  x: ReferenceTensor,
  scale: ReferenceTensor,
  bias: ReferenceTensor,
  mean: ReferenceTensor,
  variance: ReferenceTensor,
  epsilon: number,
): ReferenceTensor {
  const [, channels] = x.shape as [number, number];
  const inner = shapeSize(x.shape.slice(2));
  const output = new Float64Array(x.data.length);
  for (let flat = 0; flat < x.data.length; flat++) {
    const c = Math.floor(flat / inner) % channels;
    output[flat] = ((x.data[flat]! - mean.data[c]!) / Math.sqrt(variance.data[c]! + epsilon)) * scale.data[c]! + bias.data[c]!;
  }
  return { shape: [...x.shape], data: output };
}

export function map(x: ReferenceTensor, apply: (value: number) => number): ReferenceTensor {
  return { shape: [...x.shape], data: x.data.map(apply) };
}

/** A numpy-style broadcast of two tensors through `apply`. */
export function broadcast(left: ReferenceTensor, right: ReferenceTensor, apply: (a: number, b: number) => number): ReferenceTensor {
  const rank = Math.max(left.shape.length, right.shape.length);
  const leftShape = [...new Array<number>(rank - left.shape.length).fill(1), ...left.shape];
  const rightShape = [...new Array<number>(rank - right.shape.length).fill(1), ...right.shape];
  const shape = leftShape.map((dim, axis) => Math.max(dim, rightShape[axis]!));
  const leftStrides = strides(leftShape);
  const rightStrides = strides(rightShape);
  const data = new Float64Array(shapeSize(shape));
  forEachIndex(shape, (index, flat) => {
    let leftFlat = 0;
    let rightFlat = 0;
    for (let axis = 0; axis < rank; axis++) {
      if (leftShape[axis] !== 1) leftFlat += index[axis]! * leftStrides[axis]!;
      if (rightShape[axis] !== 1) rightFlat += index[axis]! * rightStrides[axis]!;
    }
    data[flat] = apply(left.data[leftFlat]!, right.data[rightFlat]!);
  });
  return { shape, data };
}

/** MatMul of [..., M, K] by [K, N] (the right side 2-D). */
export function matmul(left: ReferenceTensor, right: ReferenceTensor): ReferenceTensor {
  const rows = left.shape[left.shape.length - 2]!;
  const inner = left.shape[left.shape.length - 1]!;
  const columns = right.shape[1]!;
  const batches = shapeSize(left.shape.slice(0, -2));
  const data = new Float64Array(batches * rows * columns);
  for (let b = 0; b < batches; b++)
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < columns; j++) {
        let sum = 0;
        for (let k = 0; k < inner; k++) sum += left.data[(b * rows + i) * inner + k]! * right.data[k * columns + j]!;
        data[(b * rows + i) * columns + j] = sum;
      }
  return { shape: [...left.shape.slice(0, -2), rows, columns], data };
}

/** Transpose with a permutation. */
export function transpose(x: ReferenceTensor, permutation: readonly number[]): ReferenceTensor {
  const shape = permutation.map((axis) => x.shape[axis]!);
  const inputStrides = strides(x.shape);
  const data = new Float64Array(x.data.length);
  forEachIndex(shape, (index, flat) => {
    let source = 0;
    for (let axis = 0; axis < shape.length; axis++) source += index[axis]! * inputStrides[permutation[axis]!]!;
    data[flat] = x.data[source]!;
  });
  return { shape, data };
}

export interface PoolParameters {
  kernel: [number, number];
  strides?: [number, number];
  pads?: [number, number, number, number];
  countIncludePad?: boolean;
}

/** MaxPool / AveragePool over NCHW. */
export function pool(x: ReferenceTensor, kind: 'max' | 'average', parameters: PoolParameters): ReferenceTensor {
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  const [kernelHeight, kernelWidth] = parameters.kernel;
  const [strideH, strideW] = parameters.strides ?? [1, 1];
  const [padTop, padLeft, padBottom, padRight] = parameters.pads ?? [0, 0, 0, 0];
  const outputHeight = Math.floor((height + padTop + padBottom - kernelHeight) / strideH) + 1;
  const outputWidth = Math.floor((width + padLeft + padRight - kernelWidth) / strideW) + 1;
  const data = new Float64Array(batch * channels * outputHeight * outputWidth);
  let flat = 0;
  for (let plane = 0; plane < batch * channels; plane++)
    for (let oh = 0; oh < outputHeight; oh++)
      for (let ow = 0; ow < outputWidth; ow++) {
        let best = Number.NEGATIVE_INFINITY;
        let sum = 0;
        let count = 0;
        for (let kh = 0; kh < kernelHeight; kh++)
          for (let kw = 0; kw < kernelWidth; kw++) {
            const ih = oh * strideH - padTop + kh;
            const iw = ow * strideW - padLeft + kw;
            if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
            const value = x.data[(plane * height + ih) * width + iw]!;
            best = Math.max(best, value);
            sum += value;
            count++;
          }
        data[flat++] = kind === 'max' ? best : sum / (parameters.countIncludePad ? kernelHeight * kernelWidth : count);
      }
  return { shape: [batch, channels, outputHeight, outputWidth], data };
}

/** Mean over `axes` (keepdims). */
export function reduceMean(x: ReferenceTensor, axes: readonly number[]): ReferenceTensor {
  const rank = x.shape.length;
  const reduced = new Set(axes.map((axis) => (axis < 0 ? axis + rank : axis)));
  const shape = x.shape.map((dim, axis) => (reduced.has(axis) ? 1 : dim));
  const outputStrides = strides(shape);
  const data = new Float64Array(shapeSize(shape));
  forEachIndex(x.shape, (index, flat) => {
    let target = 0;
    for (let axis = 0; axis < rank; axis++) if (!reduced.has(axis)) target += index[axis]! * outputStrides[axis]!;
    data[target]! += x.data[flat]!;
  });
  const count = x.data.length / data.length;
  return { shape, data: data.map((value) => value / count) };
}

/** Softmax along `axis` (opset 13 semantics: that axis only). */
export function softmax(x: ReferenceTensor, axis: number): ReferenceTensor {
  const rank = x.shape.length;
  const normalized = axis < 0 ? axis + rank : axis;
  const length = x.shape[normalized]!;
  const inner = shapeSize(x.shape.slice(normalized + 1));
  const outer = shapeSize(x.shape.slice(0, normalized));
  const data = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (k: number): number => (o * length + k) * inner + i;
      let largest = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < length; k++) largest = Math.max(largest, x.data[at(k)]!);
      let total = 0;
      for (let k = 0; k < length; k++) total += Math.exp(x.data[at(k)]! - largest);
      for (let k = 0; k < length; k++) data[at(k)] = Math.exp(x.data[at(k)]! - largest) / total;
    }
  return { shape: [...x.shape], data };
}

/** Concat along `axis`. */
export function concat(parts: readonly ReferenceTensor[], axis: number): ReferenceTensor {
  const first = parts[0]!;
  const shape = [...first.shape];
  shape[axis] = parts.reduce((sum, part) => sum + part.shape[axis]!, 0);
  const outer = shapeSize(first.shape.slice(0, axis));
  const data: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const part of parts) {
      const block = shapeSize(part.shape.slice(axis));
      for (let k = 0; k < block; k++) data.push(part.data[o * block + k]!);
    }
  }
  return reference(shape, data);
}

/** Slice with per-axis start, end and step (already clamped, positive or negative steps). */
export function slice(x: ReferenceTensor, starts: number[], ends: number[], axes: number[], steps: number[]): ReferenceTensor {
  const begin = x.shape.map(() => 0);
  const step = x.shape.map(() => 1);
  const shape = [...x.shape];
  axes.forEach((axis, position) => {
    const dim = x.shape[axis]!;
    const stride = steps[position]!;
    const clamp = (value: number, low: number, high: number): number => Math.min(Math.max(value < 0 ? value + dim : value, low), high);
    const start = stride > 0 ? clamp(starts[position]!, 0, dim) : clamp(starts[position]!, -1, dim - 1);
    const end = stride > 0 ? clamp(ends[position]!, 0, dim) : clamp(ends[position]!, -1, dim - 1);
    begin[axis] = start;
    step[axis] = stride;
    shape[axis] = Math.max(0, Math.ceil((end - start) / stride));
  });
  const inputStrides = strides(x.shape);
  const data = new Float64Array(shapeSize(shape));
  forEachIndex(shape, (index, flat) => {
    let source = 0;
    for (let axis = 0; axis < shape.length; axis++) source += (begin[axis]! + index[axis]! * step[axis]!) * inputStrides[axis]!;
    data[flat] = x.data[source]!;
  });
  return { shape, data };
}

/** Gather along `axis` with a 1-D index list (negative indices count from the end). */
export function gather(x: ReferenceTensor, indices: readonly number[], axis: number): ReferenceTensor {
  const dim = x.shape[axis]!;
  const outer = shapeSize(x.shape.slice(0, axis));
  const inner = shapeSize(x.shape.slice(axis + 1));
  const data: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const raw of indices) {
      const index = raw < 0 ? raw + dim : raw;
      for (let i = 0; i < inner; i++) data.push(x.data[(o * dim + index) * inner + i]!);
    }
  const shape = [...x.shape];
  shape.splice(axis, 1, indices.length);
  return reference(shape, data);
}

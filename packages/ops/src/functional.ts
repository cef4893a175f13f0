import type { Dim } from '@razor/core';
import type { GraphBuilder } from './graph-builder.js';

/** Elementwise sum of two values of the same shape (residual connections): ONNX Add. */
export function add(builder: GraphBuilder, left: string, right: string): string {
  return builder.emit1('Add', [left, right], { outputShapes: [builder.shape(left) ?? builder.shape(right)] });
}

/** max(x, 0) without a module: ONNX Relu. */
export function relu(builder: GraphBuilder, input: string): string {
  return builder.emit1('Relu', [input], { outputShapes: [builder.shape(input)] });
}

/** The mean over the spatial axes of [N, C, H, W] giving [N, C] (`x.mean([2, 3])`): ONNX ReduceMean, opset ≤ 17 form. */
export function spatialMean(builder: GraphBuilder, input: string): string {
  const shape = builder.requireShape(input, builder.describe(), 4);
  const outputShape: Dim[] = [shape[0]!, shape[1]!];
  return builder.emit1('ReduceMean', [input], { attributes: { axes: [2, 3], keepdims: 0 }, outputShapes: [outputShape] });
}

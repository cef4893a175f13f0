import { ErrorCodes, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { kaimingUniform, uniformBias } from '../init.js';
import { Module } from '../module.js';
import { currentRandom, type SeededRandom } from '../random.js';

/** Options of Linear, as `torch.nn.Linear`. */
export interface LinearOptions {
  /** Add a learned bias (default true). */
  bias?: boolean;
  random?: SeededRandom;
}

/**
 * A fully connected layer y = x·Wᵀ + b with `weight` [out, in] and `bias` [out]:
 * ONNX Gemm (transB = 1) on rank-2 inputs, MatMul + Add otherwise.
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    for (const [what, value] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(value) || value < 1) fail(ErrorCodes.INVALID_ARGUMENT, `Linear: ${what} must be a positive integer, got ${value}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const random = options.random ?? currentRandom();
    this.registerParameter('weight', kaimingUniform([outFeatures, inFeatures], random));
    if (options.bias ?? true) this.registerParameter('bias', uniformBias(outFeatures, inFeatures, random));
  }

  forward(builder: GraphBuilder, input: string): string {
    const shape = builder.requireShape(input, builder.describe());
    const last = shape[shape.length - 1];
    if (shape.length < 1 || (typeof last === 'number' && last !== this.inFeatures)) {
      fail(ErrorCodes.SHAPE_MISMATCH, `${builder.describe()}: expects ${this.inFeatures} input features in the last axis but value '${input}' has shape [${shape.join(', ')}]`);
    }
    const outputShape = [...shape.slice(0, -1), this.outFeatures];
    const weight = builder.parameter('weight', this.getParameter('weight'));
    const bias = this.hasParameter('bias') ? builder.parameter('bias', this.getParameter('bias')) : undefined;
    if (shape.length === 2) {
      return builder.emit1('Gemm', bias === undefined ? [input, weight] : [input, weight, bias], { attributes: { transB: 1 }, outputShapes: [outputShape] });
    }
    const transposed = builder.emit1('Transpose', [weight], { attributes: { perm: [1, 0] }, outputShapes: [[this.inFeatures, this.outFeatures]] });
    const product = builder.emit1('MatMul', [input, transposed], { outputShapes: [outputShape] });
    return bias === undefined ? product : builder.emit1('Add', [product, bias], { outputShapes: [outputShape] });
  }
}

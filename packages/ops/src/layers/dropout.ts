import { ErrorCodes, Tensor, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';

/**
 * Zeroes elements with probability `p` in training mode and scales the rest by
 * 1/(1 - p). In eval mode it emits nothing (the input passes through); in training
 * mode, ONNX Dropout with `ratio` and `training_mode` inputs.
 */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) fail(ErrorCodes.INVALID_ARGUMENT, `Dropout: p must be in [0, 1), got ${p}`);
    this.p = p;
  }

  forward(builder: GraphBuilder, input: string): string {
    if (!this.training || this.p === 0) return input;
    const ratio = builder.constant(Tensor.scalar('float32', this.p), `dropout_ratio`);
    const trainingMode = builder.constant(Tensor.scalar('bool', true), 'dropout_training_mode');
    return builder.emit1('Dropout', [input, ratio, trainingMode], { outputShapes: [builder.shape(input)] });
  }
}

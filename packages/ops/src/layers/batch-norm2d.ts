import { ErrorCodes, Tensor, attr, fail } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { filled } from '../init.js';
import { Module } from '../module.js';

/** Options of BatchNorm2d, as `torch.nn.BatchNorm2d`. */
export interface BatchNorm2dOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** PyTorch's momentum: running = (1 - momentum)·running + momentum·batch (default 0.1). */
  momentum?: number;
}

/**
 * Batch normalization over the channels of [N, C, H, W]: ONNX BatchNormalization.
 * Parameters `weight` (1) and `bias` (0); buffers `running_mean`, `running_var` and
 * `num_batches_tracked` (int64), as PyTorch's state dict holds them.
 *
 * In eval mode it emits the inference form (running statistics). In training mode it
 * emits `training_mode = 1` with the running-statistics outputs, recorded as state updates.
 */
export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;

  constructor(numFeatures: number, options: BatchNorm2dOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) fail(ErrorCodes.INVALID_ARGUMENT, `BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    this.numFeatures = numFeatures;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.momentum >= 0 && this.momentum <= 1)) fail(ErrorCodes.INVALID_ARGUMENT, `BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    this.registerParameter('weight', filled([numFeatures], 1));
    this.registerParameter('bias', filled([numFeatures], 0));
    this.registerBuffer('running_mean', filled([numFeatures], 0));
    this.registerBuffer('running_var', filled([numFeatures], 1));
    this.registerBuffer('num_batches_tracked', Tensor.scalar('int64', 0n));
  }

  forward(builder: GraphBuilder, input: string): string {
    const shape = builder.requireShape(input, builder.describe(), 4);
    if (typeof shape[1] === 'number' && shape[1] !== this.numFeatures) {
      fail(ErrorCodes.SHAPE_MISMATCH, `${builder.describe()}: expects ${this.numFeatures} channels but value '${input}' has shape [${shape.join(', ')}]`);
    }
    const inputs = [
      input,
      builder.parameter('weight', this.getParameter('weight')),
      builder.parameter('bias', this.getParameter('bias')),
      builder.parameter('running_mean', this.getBuffer('running_mean')),
      builder.parameter('running_var', this.getBuffer('running_var')),
    ];
    if (!this.training) {
      return builder.emit1('BatchNormalization', inputs, { attributes: { epsilon: attr.float(this.eps) }, outputShapes: [shape] });
    }
    const statsShape = [this.numFeatures];
    const [output, runningMean, runningVar] = builder.emit('BatchNormalization', inputs, {
      // ONNX's momentum weighs the old running value, PyTorch's the batch value.
      attributes: { epsilon: attr.float(this.eps), momentum: attr.float(1 - this.momentum), training_mode: 1 },
      outputs: 3,
      outputShapes: [shape, statsShape, statsShape],
    });
    builder.addStateUpdate(inputs[3]!, runningMean!);
    builder.addStateUpdate(inputs[4]!, runningVar!);
    return output!;
  }
}

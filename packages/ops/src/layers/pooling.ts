import { ErrorCodes, fail, type Dim } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';
import { pair, windowOutputSize, type Size2d } from './spatial.js';

/** Options of MaxPool2d and AvgPool2d, as PyTorch's. */
export interface Pool2dOptions {
  /** Default: the kernel size. */
  stride?: Size2d;
  padding?: Size2d;
  /** Round the output size up instead of down. */
  ceilMode?: boolean;
}

abstract class Pool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;

  constructor(kernelSize: Size2d, options: Pool2dOptions, what: string) {
    super();
    this.kernelSize = pair(kernelSize, `${what} kernelSize`);
    this.stride = pair(options.stride ?? this.kernelSize, `${what} stride`);
    this.padding = pair(options.padding ?? 0, `${what} padding`, 0);
    if (this.padding[0] * 2 > this.kernelSize[0] || this.padding[1] * 2 > this.kernelSize[1]) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${what}: padding [${this.padding.join(', ')}] must be at most half the kernel [${this.kernelSize.join(', ')}]`);
    }
    this.ceilMode = options.ceilMode ?? false;
  }

  protected outputShape(builder: GraphBuilder, input: string, dilation: [number, number] = [1, 1]): Dim[] {
    const shape = builder.requireShape(input, builder.describe(), 4);
    return [
      shape[0]!,
      shape[1]!,
      windowOutputSize(shape[2], this.kernelSize[0], this.stride[0], this.padding[0], this.padding[0], dilation[0], this.ceilMode),
      windowOutputSize(shape[3], this.kernelSize[1], this.stride[1], this.padding[1], this.padding[1], dilation[1], this.ceilMode),
    ];
  }

  protected windowAttributes(): Record<string, number | number[]> {
    return {
      kernel_shape: this.kernelSize,
      strides: this.stride,
      pads: [this.padding[0], this.padding[1], this.padding[0], this.padding[1]],
      ceil_mode: this.ceilMode ? 1 : 0,
    };
  }
}

/** Options of MaxPool2d. */
export interface MaxPool2dOptions extends Pool2dOptions {
  dilation?: Size2d;
}

/** Max pooling: ONNX MaxPool (padding counts as -∞, as in PyTorch). */
export class MaxPool2d extends Pool2d {
  readonly dilation: [number, number];

  constructor(kernelSize: Size2d, options: MaxPool2dOptions = {}) {
    super(kernelSize, options, 'MaxPool2d');
    this.dilation = pair(options.dilation ?? 1, 'MaxPool2d dilation');
  }

  forward(builder: GraphBuilder, input: string): string {
    return builder.emit1('MaxPool', [input], {
      attributes: { ...this.windowAttributes(), dilations: this.dilation },
      outputShapes: [this.outputShape(builder, input, this.dilation)],
    });
  }
}

/** Options of AvgPool2d. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count padded zeros in the divisor (PyTorch's default true; ONNX's default is false). */
  countIncludePad?: boolean;
}

/** Average pooling: ONNX AveragePool. */
export class AvgPool2d extends Pool2d {
  readonly countIncludePad: boolean;

  constructor(kernelSize: Size2d, options: AvgPool2dOptions = {}) {
    super(kernelSize, options, 'AvgPool2d');
    this.countIncludePad = options.countIncludePad ?? true;
  }

  forward(builder: GraphBuilder, input: string): string {
    return builder.emit1('AveragePool', [input], {
      attributes: { ...this.windowAttributes(), count_include_pad: this.countIncludePad ? 1 : 0 },
      outputShapes: [this.outputShape(builder, input)],
    });
  }
}

/**
 * Adaptive average pooling to a fixed output size. Output 1×1 is ONNX GlobalAveragePool
 * (any input size); other sizes need static input sizes divisible by the output size
 * and become an AveragePool.
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];

  constructor(outputSize: Size2d = 1) {
    super();
    this.outputSize = pair(outputSize, 'AdaptiveAvgPool2d outputSize');
  }

  forward(builder: GraphBuilder, input: string): string {
    const shape = builder.requireShape(input, builder.describe(), 4);
    const [outHeight, outWidth] = this.outputSize;
    if (outHeight === 1 && outWidth === 1) {
      return builder.emit1('GlobalAveragePool', [input], { outputShapes: [[shape[0]!, shape[1]!, 1, 1]] });
    }
    const height = shape[2];
    const width = shape[3];
    if (typeof height !== 'number' || typeof width !== 'number' || height % outHeight !== 0 || width % outWidth !== 0) {
      fail(
        ErrorCodes.SHAPE_MISMATCH,
        `${builder.describe()}: adaptive pooling of [${shape.join(', ')}] to ${outHeight}×${outWidth} needs static input sizes divisible by the output size; use output size 1 or resize the input`,
      );
    }
    const kernel = [height / outHeight, width / outWidth];
    return builder.emit1('AveragePool', [input], {
      attributes: { kernel_shape: kernel, strides: kernel },
      outputShapes: [[shape[0]!, shape[1]!, outHeight, outWidth]],
    });
  }
}

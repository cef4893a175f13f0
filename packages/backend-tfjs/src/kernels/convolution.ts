import type { KernelContext } from '../kernel.js';
import type { TfTensor } from '../values.js';

/** Conv/ConvTranspose/QLinearConv/ConvInteger attributes with auto_pad resolved later against the input. */
export interface ConvolutionAttributes {
  group: number;
  /** One per spatial axis. */
  strides: number[];
  dilations: number[];
  /** Begin pads of every spatial axis, then end pads (ONNX order). */
  pads: number[];
  /** 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID'. */
  autoPad: string;
  /** From the attribute, or the weight's spatial dims. */
  kernelShape: number[];
}

/** Reads a convolution node's attributes; `weightShape` is [M, C/group, k1, ..., kn]. */
export function readConvolutionAttributes(ctx: KernelContext, weightShape: readonly number[]): ConvolutionAttributes {
  void ctx;
  void weightShape;
  throw new Error('readConvolutionAttributes is not implemented yet');
}

/**
 * An ONNX Conv on float32 tfjs tensors in ONNX layout: x [N, C, ...spatial], w [M, C/group,
 * ...kernel], optional bias [M]; returns [N, M, ...outputSpatial]. 1-D and 2-D convolutions
 * (3-D where tfjs supports it), any group count, dilations, strides, explicit or auto pads.
 */
export function convolution(ctx: KernelContext, x: TfTensor, w: TfTensor, bias: TfTensor | undefined, attributes: ConvolutionAttributes): TfTensor {
  void ctx;
  void x;
  void w;
  void bias;
  void attributes;
  throw new Error('convolution is not implemented yet');
}

import { ErrorCodes, Tensor, fail, type DType, type DTypeArrays } from '@razor/core';
import type { Tensor as OrtTensor, TypedTensor } from 'onnxruntime-node';

/** The ort.Tensor constructor, passed in so this module does not load the native binding. */
export type OrtTensorConstructor = typeof import('onnxruntime-node').Tensor;

/** Element types onnxruntime-node exchanges with JavaScript, by razor dtype name (identical names). */
const ortTypes = new Set<DType>([
  'float32',
  'float16',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
  'string',
]);

/**
 * A razor tensor as an ort.Tensor over the same memory: no per-element copy
 * (float16 travels as its raw bits in a Uint16Array, bool as a Uint8Array).
 */
export function toOrtTensor(OrtTensorClass: OrtTensorConstructor, tensor: Tensor, name: string): OrtTensor {
  if (!ortTypes.has(tensor.dtype)) {
    fail(
      ErrorCodes.UNSUPPORTED_DTYPE,
      `input '${name}' is ${tensor.dtype}, which onnxruntime-node cannot exchange with JavaScript; cast it (for example to float32) in the graph`,
    );
  }
  return new OrtTensorClass(tensor.dtype as OrtTensor.Type, tensor.data as never, [...tensor.shape]);
}

/** An ort.Tensor output as a razor tensor sharing its memory. */
export function fromOrtTensor(tensor: OrtTensor, name: string): Tensor {
  const dtype = tensor.type as DType;
  if (!ortTypes.has(dtype)) {
    fail(ErrorCodes.UNSUPPORTED_DTYPE, `output '${name}' has onnxruntime type ${tensor.type}, which razor cannot represent`);
  }
  let data = (tensor as TypedTensor<OrtTensor.Type>).data as unknown;
  if (dtype === 'float16' && !(data instanceof Uint16Array)) {
    // Newer runtimes may hand out a Float16Array; razor keeps float16 as raw bits (same bytes).
    const view = data as { buffer: ArrayBufferLike; byteOffset: number; length: number };
    data = new Uint16Array(view.buffer, view.byteOffset, view.length);
  } else if (dtype === 'bool' && !(data instanceof Uint8Array)) {
    const view = data as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
    data = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  }
  return new Tensor(dtype, tensor.dims, data as DTypeArrays[typeof dtype]);
}

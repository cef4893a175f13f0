import { ErrorCodes, Tensor, fail } from '@razor/core';
import type { SeededRandom } from './random.js';

/** Inputs per output unit of a weight shaped [out, in/groups, ...kernel] (PyTorch's fan_in). */
export function fanIn(shape: readonly number[]): number {
  if (shape.length < 2) fail(ErrorCodes.INVALID_ARGUMENT, `fan-in needs a weight of rank 2 or more, got shape [${shape.join(', ')}]`);
  let size = 1;
  for (let axis = 1; axis < shape.length; axis++) size *= shape[axis]!;
  return size;
}

/** Outputs per input unit of a weight shaped [out, in/groups, ...kernel] (PyTorch's fan_out). */
export function fanOut(shape: readonly number[]): number {
  if (shape.length < 2) fail(ErrorCodes.INVALID_ARGUMENT, `fan-out needs a weight of rank 2 or more, got shape [${shape.join(', ')}]`);
  let size = shape[0]!;
  for (let axis = 2; axis < shape.length; axis++) size *= shape[axis]!;
  return size;
}

/**
 * PyTorch's `kaiming_uniform_(weight, a)` with fan_in and leaky_relu gain: uniform in
 * ±gain·√(3 / fan_in), gain = √(2 / (1 + a²)). With a = √5 (the default of Conv and
 * Linear) the bound is 1/√fan_in.
 */
export function kaimingUniform(shape: readonly number[], random: SeededRandom, a = Math.sqrt(5)): Tensor<'float32'> {
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn(shape));
  const tensor = new Tensor('float32', shape);
  random.fillUniform(tensor.data, -bound, bound);
  return tensor;
}

/** PyTorch's `kaiming_normal_(weight, mode='fan_out', nonlinearity='relu')`, used by torchvision's CNNs. */
export function kaimingNormalFanOut(shape: readonly number[], random: SeededRandom): Tensor<'float32'> {
  const tensor = new Tensor('float32', shape);
  random.fillNormal(tensor.data, 0, Math.sqrt(2 / fanOut(shape)));
  return tensor;
}

/** A bias uniform in ±1/√fan_in, PyTorch's default for Conv and Linear. */
export function uniformBias(length: number, fanInSize: number, random: SeededRandom): Tensor<'float32'> {
  const bound = fanInSize > 0 ? 1 / Math.sqrt(fanInSize) : 0;
  const tensor = new Tensor('float32', [length]);
  random.fillUniform(tensor.data, -bound, bound);
  return tensor;
}

/** A float32 tensor filled with one value. */
export function filled(shape: readonly number[], value: number): Tensor<'float32'> {
  const tensor = new Tensor('float32', shape);
  tensor.data.fill(value);
  return tensor;
}

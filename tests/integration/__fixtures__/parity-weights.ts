// Rebuilds the deterministic weights and inputs of tools/fixtures/ops_zoo_fixtures.py.
import { Tensor } from '@razor/core';
import { SeededRandom, type Module } from '@razor/ops';

/** 32-bit FNV-1a of an ASCII name. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
  return hash >>> 0;
}

function bounds(name: string, shape: readonly number[]): [number, number] {
  if (name.endsWith('running_var')) return [0.5, 1.5];
  if (name.endsWith('running_mean')) return [-0.1, 0.1];
  if (shape.length === 1) return name.endsWith('weight') ? [0.5, 1.5] : [-0.1, 0.1];
  let fanIn = 1;
  for (const dim of shape.slice(1)) fanIn *= dim;
  const bound = Math.sqrt(6 / fanIn);
  return [-bound, bound];
}

/** The state dict the Python script loads into the PyTorch model, for `module`'s names and shapes. */
export function parityStateDict(module: Module): Map<string, Tensor> {
  const state = new Map<string, Tensor>();
  for (const [name, tensor] of module.stateDict()) {
    if (name.endsWith('num_batches_tracked')) {
      state.set(name, Tensor.scalar('int64', 0n));
      continue;
    }
    const [low, high] = bounds(name, tensor.shape);
    const values = new Float32Array(tensor.size);
    new SeededRandom(fnv1a(name)).fillUniform(values, low, high);
    state.set(name, new Tensor('float32', tensor.shape, values));
  }
  return state;
}

/** The input the Python script feeds. */
export function parityInput(shape: readonly number[]): Tensor<'float32'> {
  const tensor = new Tensor('float32', shape);
  new SeededRandom(fnv1a('input')).fillUniform(tensor.data, -1, 1);
  return tensor;
}

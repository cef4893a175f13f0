// Optimizer update graphs on onnxruntime, six steps with fixed gradients, against the
// parameter trajectories of PyTorch 1.13's torch.optim (tools/fixtures/optimizer_trajectories.py).
import { Graph, Tensor, adam, adamw, sgd, type Optimizer } from '@razor/core';
import { catchRazorError } from '@razor/core/testing';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { describe, expect, it } from 'vitest';
import trajectories from './__fixtures__/optimizer-trajectories.json' with { type: 'json' };

const shape = [3, 4];
const backend = createOnnxruntimeBackend();

function gradientAt(step: number): Tensor {
  return Tensor.float32(shape, Array.from({ length: 12 }, (_, index) => Math.sin(0.37 * index + 1.3 * step) * (1 + 0.5 * step)));
}

/** Runs `optimizer` for as many steps as the PyTorch trajectory has, feeding each step's outputs back. */
async function run(optimizer: Optimizer, learningRate = 0.1): Promise<number[][]> {
  let parameter: Tensor = Tensor.float32(shape, Array.from({ length: 12 }, (_, index) => Math.cos(0.5 * index)));
  let state = optimizer.initialState(parameter);
  const graph = new Graph('update');
  graph.opsetImports = new Map([['', 17]]);
  const tensorInput = (name: string): void => void graph.inputs.push({ name, type: { dtype: 'float32', shape } });
  const scalarInput = (name: string): void => void graph.inputs.push({ name, type: { dtype: 'float32', shape: [] } });
  tensorInput('parameter');
  tensorInput('gradient');
  for (const name of Object.keys(state)) tensorInput(`state.${name}`);
  scalarInput('learning_rate');
  scalarInput('step');
  const outputs = optimizer.emitUpdate(
    graph,
    {
      parameter: 'parameter',
      gradient: 'gradient',
      state: Object.fromEntries(Object.keys(state).map((name) => [name, `state.${name}`])),
      learningRate: 'learning_rate',
      step: 'step',
    },
    'w',
  );
  graph.outputs.push({ name: outputs.parameter }, ...Object.values(outputs.state).map((name) => ({ name })));
  const session = await backend.createSession(graph);
  const result: number[][] = [];
  for (let step = 0; step < 6; step++) {
    const feeds: Record<string, Tensor> = {
      parameter,
      gradient: gradientAt(step),
      learning_rate: Tensor.from('float32', [], [learningRate]),
      step: Tensor.from('float32', [], [step + 1]),
    };
    for (const [name, value] of Object.entries(state)) feeds[`state.${name}`] = value;
    const out = await session.run(feeds);
    parameter = out[outputs.parameter]!;
    state = Object.fromEntries(Object.entries(outputs.state).map(([name, value]) => [name, out[value]!]));
    result.push(Array.from(parameter.toFloat32()));
  }
  await session.release();
  return result;
}

function expectTrajectory(actual: number[][], expected: number[][]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((values, step) =>
    values.forEach((value, index) => expect(Math.abs(value - expected[step]![index]!), `step ${step + 1}, element ${index}`).toBeLessThan(2e-6)),
  );
}

describe('optimizers follow torch.optim step for step', () => {
  it.each([
    ['sgd', sgd()],
    ['sgd_momentum_wd', sgd({ momentum: 0.9, weightDecay: 5e-4 })],
    ['sgd_nesterov', sgd({ momentum: 0.9, nesterov: true })],
    ['sgd_dampening', sgd({ momentum: 0.8, dampening: 0.3 })],
    ['adam', adam()],
    ['adam_wd', adam({ beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1 })],
    ['adamw', adamw()],
    ['adamw_wd', adamw({ weightDecay: 0.3 })],
  ] as const)('%s', async (name, optimizer) => {
    expectTrajectory(await run(optimizer), (trajectories as Record<string, number[][]>)[name]!);
  });

  it('rejects options PyTorch rejects', () => {
    expect(catchRazorError(() => sgd({ nesterov: true })).message).toMatch(/Nesterov momentum needs a momentum above 0/);
    expect(catchRazorError(() => adam({ beta1: 1 })).message).toMatch(/beta1 must be in \[0, 1\)/);
    expect(catchRazorError(() => sgd({ weightDecay: -1 })).code).toBe('RAZOR_INVALID_ARGUMENT');
  });
});

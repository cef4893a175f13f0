import { ErrorCodes, Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import type { GraphBuilder } from './graph-builder.js';
import { ReLU } from './layers/activations.js';
import { BatchNorm2d } from './layers/batch-norm2d.js';
import { Conv2d } from './layers/conv2d.js';
import { Linear } from './layers/linear.js';
import { Sequential } from './layers/sequential.js';
import { Module } from './module.js';
import { SeededRandom, manualSeed, withRandom } from './random.js';

class Block extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor() {
    super();
    this.conv = this.addModule('conv', new Conv2d(3, 4, 3, { padding: 1 }));
    this.bn = this.addModule('bn', new BatchNorm2d(4));
  }
  forward(builder: GraphBuilder, input: string): string {
    return builder.call(this.bn, builder.call(this.conv, input));
  }
}

function net(): Sequential {
  return new Sequential(new Block(), new ReLU(), new Sequential(new Linear(4, 2)));
}

describe('Module', () => {
  it('names parameters and buffers by path, in PyTorch order', () => {
    const model = net();
    expect([...model.namedParameters()].map(([name]) => name)).toEqual(['0.conv.weight', '0.conv.bias', '0.bn.weight', '0.bn.bias', '2.0.weight', '2.0.bias']);
    expect([...model.namedBuffers()].map(([name]) => name)).toEqual(['0.bn.running_mean', '0.bn.running_var', '0.bn.num_batches_tracked']);
    expect([...model.stateDict().keys()]).toEqual([
      '0.conv.weight', '0.conv.bias', '0.bn.weight', '0.bn.bias', '0.bn.running_mean', '0.bn.running_var', '0.bn.num_batches_tracked', '2.0.weight', '2.0.bias',
    ]);
    expect([...model.namedModules()].map(([name]) => name)).toEqual(['', '0', '0.conv', '0.bn', '1', '2', '2.0']);
    expect(model.numParameters()).toBe(4 * 3 * 9 + 4 + 4 + 4 + 2 * 4 + 2);
  });

  it('propagates train and eval to every descendant', () => {
    const model = net();
    expect([...model.namedModules()].every(([, module]) => module.training)).toBe(true);
    model.eval();
    expect([...model.namedModules()].some(([, module]) => module.training)).toBe(false);
    model.train();
    expect([...model.namedModules()].every(([, module]) => module.training)).toBe(true);
  });

  it('rejects duplicate and dotted names', () => {
    const model = new Sequential();
    model.addModule('head', new ReLU());
    expect(() => model.addModule('head', new ReLU())).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => model.addModule('a.b', new ReLU())).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
  });

  it('loads a state dict by name, copying the tensors', () => {
    const source = net();
    const target = net();
    const state = new Map([...source.stateDict()].map(([name, tensor]) => [name, tensor.clone()]));
    (state.get('0.bn.running_var')!.data as Float32Array).fill(2.5);
    target.loadStateDict(state);
    for (const [name, tensor] of target.stateDict()) expect(tensor.data).toEqual(state.get(name)!.data);
    (state.get('2.0.bias')!.data as Float32Array)[0] = 42;
    expect(target.stateDict().get('2.0.bias')!.data[0]).not.toBe(42);
  });

  it('converts float64 sources to float32', () => {
    const model = new Linear(2, 1);
    model.loadStateDict({ weight: Tensor.from('float64', [1, 2], [0.5, -1.25]), bias: Tensor.from('float64', [1], [3]) });
    expect(model.getParameter('weight').dtype).toBe('float32');
    expect([...model.getParameter('weight').data]).toEqual([0.5, -1.25]);
  });

  it('fails on a shape mismatch naming the parameter, and changes nothing', () => {
    const model = net();
    const before = model.stateDict().get('0.conv.weight')!;
    const state = new Map([...net().stateDict()]);
    state.set('2.0.weight', new Tensor('float32', [3, 4]));
    expect(() => model.loadStateDict(state)).toThrow(expect.objectContaining({ code: ErrorCodes.SHAPE_MISMATCH, message: expect.stringContaining("'2.0.weight'") }));
    expect(model.stateDict().get('0.conv.weight')).toBe(before);
  });

  it('reports missing and unexpected keys; strict by default', () => {
    const model = net();
    const state = new Map([...net().stateDict()]);
    state.delete('0.bn.running_mean');
    state.set('extra.weight', new Tensor('float32', [1]));
    expect(() => model.loadStateDict(state)).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringMatching(/missing keys: 0\.bn\.running_mean.*unexpected keys: extra\.weight/) }),
    );
    expect(model.loadStateDict(state, { strict: false })).toEqual({ missingKeys: ['0.bn.running_mean'], unexpectedKeys: ['extra.weight'] });
  });
});

describe('initialisation', () => {
  it('follows PyTorch defaults: kaiming_uniform(a=√5) weights, ±1/√fan_in biases, BatchNorm 1 and 0', () => {
    const conv = new Conv2d(16, 32, 3, { random: new SeededRandom(1) });
    const bound = 1 / Math.sqrt(16 * 9);
    const weight = conv.getParameter('weight').data;
    let sum = 0;
    let squares = 0;
    for (const value of weight) {
      expect(Math.abs(value)).toBeLessThanOrEqual(bound);
      sum += value;
      squares += value * value;
    }
    // Uniform(-b, b): mean 0, variance b²/3; 4608 samples.
    expect(Math.abs(sum / weight.length)).toBeLessThan(0.05 * bound);
    expect(squares / weight.length / ((bound * bound) / 3)).toBeCloseTo(1, 1);
    expect(Math.max(...conv.getParameter('bias').data.map(Math.abs))).toBeLessThanOrEqual(bound);
    const bn = new BatchNorm2d(5);
    expect([...bn.getParameter('weight').data]).toEqual([1, 1, 1, 1, 1]);
    expect([...bn.getParameter('bias').data]).toEqual([0, 0, 0, 0, 0]);
    expect([...(bn.getBuffer('running_var').data as Float32Array)]).toEqual([1, 1, 1, 1, 1]);
  });

  it('is deterministic under manualSeed and withRandom', () => {
    manualSeed(3);
    const first = new Linear(8, 4).getParameter('weight').data;
    manualSeed(3);
    const second = new Linear(8, 4).getParameter('weight').data;
    expect(second).toEqual(first);
    const scoped = withRandom(new SeededRandom(3), () => new Linear(8, 4)).getParameter('weight').data;
    expect(scoped).toEqual(first);
    expect(new Linear(8, 4).getParameter('weight').data).not.toEqual(first);
  });

  it('draws reproducible numbers (mulberry32 reference values)', () => {
    const random = new SeededRandom(42);
    // mulberry32(42), first three outputs.
    expect([random.nextUint32(), random.nextUint32(), random.nextUint32()]).toEqual([2581720956, 1925393290, 3661312704]);
  });
});

import { ErrorCodes, Graph, Tensor, defaultRegistry, readOnnx } from '@razor/core';
import { defaultModelFixturesDirectory, defineBackendConformanceSuite, listModelFixtures, loadModelFixture, rejectionOf } from '@razor/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { kernelKey } from './kernel.js';
import { supportedOps } from './kernels/index.js';
import { createTfjsBackend } from './tfjs-backend.js';

const cpu = createTfjsBackend();
const wasm = createTfjsBackend({ engine: 'wasm', name: 'tfjs-wasm' });

defineBackendConformanceSuite({ describe, it, expect }, () => cpu, { title: 'tfjs backend conformance (cpu engine)', integers: 'int32' });
defineBackendConformanceSuite({ describe, it, expect }, () => wasm, { title: 'tfjs backend conformance (wasm engine)', integers: 'int32' });

const fixturesDirectory = defaultModelFixturesDirectory()!;
const fixtures = listModelFixtures(fixturesDirectory);

describe('tfjs backend', () => {
  it('has a kernel for every op in core’s registry', () => {
    const registered = defaultRegistry.list().map((definition) => kernelKey({ opType: definition.opType, domain: definition.domain } as never));
    const supported = new Set(supportedOps());
    expect(registered.filter((op) => !supported.has(op))).toEqual([]);
    expect(registered.length).toBeGreaterThan(100);
  });

  it('reports its engines and version', async () => {
    const capabilities = await cpu.capabilities!();
    expect(capabilities.engine).toMatch(/^TensorFlow\.js 4\.\d+\.\d+ \(cpu\)$/);
    expect(capabilities.executionProviders).toEqual(expect.arrayContaining(['cpu', 'wasm']));
  });

  it.each(['residual-block', 'control-flow'])('keeps tf.memory() steady across many runs of %s and frees everything on release', async (name) => {
    const entry = fixtures.find((candidate) => candidate.name === name)!;
    const loaded = loadModelFixture(fixturesDirectory, entry);
    const before = tf.memory().numTensors;
    const session = await cpu.createSession(loaded.modelBytes);
    const afterCreate = tf.memory().numTensors;
    await session.run(loaded.inputs);
    const steady = tf.memory();
    for (let run = 0; run < 20; run++) await session.run(loaded.inputs);
    expect(tf.memory().numTensors).toBe(steady.numTensors);
    expect(tf.memory().numBytes).toBe(steady.numBytes);
    // The first run may add tensors derived from initializers (transposed filters, folded
    // BatchNorm gains), kept for the session: at most a few per node.
    expect(steady.numTensors - afterCreate).toBeGreaterThanOrEqual(0);
    expect(steady.numTensors - afterCreate).toBeLessThanOrEqual(2 * readOnnx(loaded.modelBytes).nodes.length);
    await session.release();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the nodes whose ops it cannot run', async () => {
    const graph = new Graph('unknown_op');
    graph.opsetImports = new Map([['', 17], ['com.example', 1]]);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2] } });
    graph.addNode({ name: 'mystery', opType: 'Frobnicate', domain: 'com.example', inputs: ['x'], outputs: ['y'] });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2] } });
    const error = await rejectionOf(cpu.createSession(graph));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_OP);
    expect(error.message).toMatch(/com\.example:Frobnicate \(node 'mystery'\)/);
  });

  it('fails clearly for an engine tfjs has not registered, and for released sessions', async () => {
    const graph = new Graph('relu');
    graph.opsetImports = new Map([['', 17]]);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2] } });
    graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['y'] });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2] } });
    const engine = await rejectionOf(cpu.createSession(graph, { executionProviders: ['webgpu'] }));
    expect(engine.code).toBe(ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE);
    expect(engine.message).toMatch(/'webgpu' is not registered; registered engines: .*cpu/);
    const session = await cpu.createSession(graph);
    expect((await session.run({ x: Tensor.float32([2], [-1, 2]) })).y!.toNumbers()).toEqual([0, 2]);
    await session.release();
    const released = await rejectionOf(session.run({ x: Tensor.float32([2], [-1, 2]) }));
    expect(released.code).toBe(ErrorCodes.INVALID_STATE);
  });

  it('rejects int64 feeds outside the int32 range tfjs computes in', async () => {
    const graph = new Graph('identity');
    graph.opsetImports = new Map([['', 17]]);
    graph.inputs.push({ name: 'x', type: { dtype: 'int64', shape: [2] } });
    graph.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['y'] });
    graph.outputs.push({ name: 'y', type: { dtype: 'int64', shape: [2] } });
    const session = await cpu.createSession(graph);
    const ok = await session.run({ x: Tensor.from('int64', [2], [-5n, 7n]) });
    expect(ok.y!.dtype).toBe('int64');
    expect([...(ok.y!.data as BigInt64Array)]).toEqual([-5n, 7n]);
    const error = await rejectionOf(session.run({ x: Tensor.from('int64', [2], [1n, 1n << 40n]) }));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_DTYPE);
    expect(error.message).toMatch(/input 'x' holds 1099511627776 at element 1/);
    await session.release();
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, Graph, Tensor } from '@razor/core';
import { defaultModelFixturesDirectory, defineBackendConformanceSuite, listModelFixtures, loadModelFixture, rejectionOf as rejection } from '@razor/core/testing';
import { describe, expect, it } from 'vitest';
import { createOnnxruntimeBackend } from './onnxruntime-backend.js';

const backend = createOnnxruntimeBackend();

defineBackendConformanceSuite({ describe, it, expect }, () => backend, { title: 'onnxruntime backend conformance' });

const fixturesDirectory = defaultModelFixturesDirectory()!;
const fixtures = listModelFixtures(fixturesDirectory);

function fixture(name: string) {
  const entry = fixtures.find((candidate) => candidate.name === name);
  if (!entry) throw new Error(`no model fixture '${name}'`);
  return loadModelFixture(fixturesDirectory, entry);
}

/** Counts nodes of an operator type in serialized ONNX bytes (op types shorter than 128 characters). */
function countOccurrences(bytes: Uint8Array, text: string): number {
  // An op_type field of a NodeProto: tag 0x22 (field 4, length-delimited), then a one-byte length.
  const field = String.fromCharCode(0x22, text.length) + text;
  return Buffer.from(bytes).toString('latin1').split(field).length - 1;
}

describe('onnxruntime backend options', () => {
  it('reports the engine and the CPU provider', async () => {
    const capabilities = await backend.capabilities!();
    expect(capabilities.engine).toMatch(/^onnxruntime-node 1\.\d+\.\d+/);
    expect(capabilities.executionProviders).toContain('cpu');
  });

  it('gives the same results with 1 and 2 intra-op threads and 2 inter-op threads', async () => {
    const loaded = fixture('residual-block');
    const outputs = [];
    for (const options of [{ threads: 1 }, { threads: 2, interOpThreads: 2 }]) {
      const session = await backend.createSession(loaded.modelBytes, options);
      outputs.push((await session.run(loaded.inputs)).features!);
      await session.release();
    }
    const expected = loaded.expectedOutputs.features!.toFloat32();
    for (const output of outputs) {
      const values = output.toFloat32();
      for (let index = 0; index < expected.length; index++) expect(Math.abs(values[index]! - expected[index]!)).toBeLessThan(1e-4);
    }
  });

  it('rejects thread counts that are not non-negative integers', async () => {
    const loaded = fixture('small-cnn-bn-fused');
    const error = await rejection(backend.createSession(loaded.modelBytes, { threads: 1.5 }));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toMatch(/threads must be a non-negative integer/);
    const interOp = await rejection(backend.createSession(loaded.modelBytes, { interOpThreads: -1 }));
    expect(interOp.message).toMatch(/interOpThreads/);
    const level = await rejection(backend.createSession(loaded.modelBytes, { graphOptimizationLevel: 'fast' as never }));
    expect(level.message).toMatch(/graphOptimizationLevel must be one of disabled, basic, extended, all/);
  });

  it('honours the optimization level: BatchNormalization stays when disabled and is fused into Conv otherwise', async () => {
    const loaded = fixture('small-cnn-bn-preserved');
    expect(countOccurrences(loaded.modelBytes, 'BatchNormalization')).toBe(1);
    const directory = mkdtempSync(join(tmpdir(), 'razor-ort-'));
    try {
      const counts: Record<string, number> = {};
      for (const level of ['disabled', 'basic', 'all'] as const) {
        const optimizedModelPath = join(directory, `${level}.onnx`);
        const session = await backend.createSession(loaded.modelBytes, { graphOptimizationLevel: level, optimizedModelPath });
        const results = await session.run(loaded.inputs);
        await session.release();
        const expected = loaded.expectedOutputs.logits!.toFloat32();
        const actual = results.logits!.toFloat32();
        for (let index = 0; index < expected.length; index++) expect(Math.abs(actual[index]! - expected[index]!)).toBeLessThan(1e-4);
        counts[level] = countOccurrences(readFileSync(optimizedModelPath), 'BatchNormalization');
      }
      expect(counts).toEqual({ disabled: 1, basic: 0, all: 0 });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('explains how to install CUDA when its provider libraries are missing, and runs on it when present', async () => {
    const loaded = fixture('small-cnn-bn-fused');
    const capabilities = await backend.capabilities!();
    if (capabilities.executionProviders.includes('cuda')) {
      const session = await backend.createSession(loaded.modelBytes, { executionProviders: ['cuda'] });
      const results = await session.run(loaded.inputs);
      expect(results.logits!.shape).toEqual([2, 10]);
      await session.release();
    } else {
      const error = await rejection(backend.createSession(loaded.modelBytes, { executionProviders: ['cuda'] }));
      expect(error.code).toBe(ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE);
      expect(error.message).toMatch(/'cuda' execution provider/);
      expect(error.message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    }
    const unknown = await rejection(backend.createSession(loaded.modelBytes, { executionProviders: ['quantum'] }));
    expect(unknown.code).toBe(ErrorCodes.EXECUTION_PROVIDER_UNAVAILABLE);
    expect(unknown.message).toMatch(/no 'quantum' execution provider; available here: cpu/);
  });

  it('turns corrupt and truncated model bytes into a RazorError with the cause attached', async () => {
    const garbage = await rejection(backend.createSession(new TextEncoder().encode('this is not an ONNX model')));
    expect(garbage.code).toBe(ErrorCodes.INVALID_ONNX);
    expect(garbage.message).toMatch(/could not parse an ONNX model of 25 bytes/);
    expect(garbage.cause).toBeInstanceOf(Error);
    const loaded = fixture('small-cnn-bn-fused');
    const truncated = await rejection(backend.createSession(loaded.modelBytes.subarray(0, loaded.modelBytes.length - 100)));
    expect([ErrorCodes.INVALID_ONNX, ErrorCodes.BACKEND_FAILURE]).toContain(truncated.code);
  });

  it('names the input and expected shape for mis-shaped, mistyped and extra feeds', async () => {
    const loaded = fixture('dynamic-batch');
    const session = await backend.createSession(loaded.modelBytes);
    try {
      const wrongShape = await rejection(session.run({ input: Tensor.float32([3, 1, 8, 7]) }));
      expect(wrongShape.code).toBe(ErrorCodes.INVALID_FEED);
      expect(wrongShape.message).toBe(
        "input 'input' (float32 [batch, 1, 8, 8]) was fed shape [3, 1, 8, 7]; expected [batch, 1, 8, 8] (named dimensions may take any size)",
      );
      const wrongType = await rejection(session.run({ input: new Tensor('float64', [3, 1, 8, 8]) }));
      expect(wrongType.message).toMatch(/was fed a float64 tensor; cast the feed to float32/);
      const extra = await rejection(session.run({ ...loaded.inputs, mask: Tensor.float32([1]) }));
      expect(extra.message).toMatch(/'mask' is not an input of this model; its inputs are 'input' \(float32 \[batch, 1, 8, 8\]\)/);
      const missing = await rejection(session.run({}));
      expect(missing.message).toMatch(/the feeds lack input 'input' \(float32 \[batch, 1, 8, 8\]\)/);
      // A batch size other than the traced one runs through the Shape/Gather/Reshape chain.
      const results = await session.run({ input: Tensor.float32([5, 1, 8, 8]) });
      expect(results.logits!.shape).toEqual([5, 5]);
    } finally {
      await session.release();
    }
  });

  it('leaves fed tensors as they were when a kernel writes its input in place (training-mode BatchNormalization)', async () => {
    const graph = new Graph('bn');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 2, 1, 1] } });
    graph.inputs.push({ name: 'running_var', type: { dtype: 'float32', shape: [2] } });
    for (const [name, values] of [['scale', [1, 1]], ['bias', [0, 0]], ['running_mean', [0, 0]]] as const) graph.addInitializer(name, Tensor.from('float32', [2], [...values]));
    graph.addNode({
      opType: 'BatchNormalization',
      inputs: ['x', 'scale', 'bias', 'running_mean', 'running_var'],
      outputs: ['y', 'mean_next', 'var_next'],
      attributes: { training_mode: 1, momentum: 0.5 },
      name: 'bn',
    });
    // The running output feeds another node (as in a training step) rather than being fetched.
    graph.addInitializer('two', Tensor.scalar('float32', 2));
    graph.addNode({ opType: 'Mul', inputs: ['var_next', 'two'], outputs: ['doubled'], name: 'double' });
    graph.outputs = [{ name: 'y' }, { name: 'doubled' }];
    const session = await createOnnxruntimeBackend().createSession(graph);
    const runningVar = Tensor.from('float32', [2], [3, 5]);
    // Channel 0 holds 0 and 2 (population variance 1), channel 1 holds 1 and 5 (variance 4).
    const result = await session.run({ x: Tensor.from('float32', [2, 2, 1, 1], [0, 1, 2, 5]), running_var: runningVar });
    expect([...result.doubled!.toFloat32()]).toEqual([4, 9]);
    expect([...runningVar.toFloat32()]).toEqual([3, 5]);
    await session.release();
  });

  it('refuses to run a released session', async () => {
    const loaded = fixture('small-cnn-bn-fused');
    const session = await backend.createSession(loaded.modelBytes);
    await session.release();
    const error = await rejection(session.run(loaded.inputs));
    expect(error.code).toBe(ErrorCodes.BACKEND_FAILURE);
    expect(error.message).toMatch(/released/);
  });

  it('wraps runtime failures of the engine in RAZOR_BACKEND_FAILURE', async () => {
    // Reshape to a shape with the wrong element count only fails when the model runs.
    const graph = new Graph('bad_reshape');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['n'] } });
    graph.addInitializer('shape', Tensor.int64([4, 4]));
    graph.addNode({ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] });
    graph.outputs.push({ name: 'y', type: { dtype: 'float32' } });
    const session = await backend.createSession(graph);
    try {
      const error = await rejection(session.run({ x: Tensor.float32([6]) }));
      expect(error.code).toBe(ErrorCodes.BACKEND_FAILURE);
      expect(error.message).toMatch(/onnxruntime failed to run the model/);
      expect(error.cause).toBeInstanceOf(Error);
    } finally {
      await session.release();
    }
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RazorError, compareLatency, measureLatency, readOnnx, type Backend, type Graph } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';

const model = readOnnx(new Uint8Array(readFileSync(new URL('../../packages/core/src/__fixtures__/models/residual-block.onnx', import.meta.url))));
const backend = createOnnxruntimeBackend();

describe('measureLatency', () => {
  it('times real runs on onnxruntime and orders its statistics', async () => {
    const result = await measureLatency(model, backend, { runs: 7, warmup: 1, threads: 1 });
    expect(result.runs).toBe(7);
    expect(result.minMs).toBeGreaterThan(0);
    expect(result.minMs).toBeLessThanOrEqual(result.medianMs);
    expect(result.medianMs).toBeLessThanOrEqual(result.p90Ms);
    expect(result.meanMs).toBeGreaterThanOrEqual(result.minMs);
    // A 3-conv block on an 8x8 input takes well under a second per run.
    expect(result.p90Ms).toBeLessThan(1000);
  });

  it('rejects a bad run count and unknown input names before creating a session', async () => {
    await expect(measureLatency(model, backend, { runs: 0 })).rejects.toThrow(/runs must be a positive integer/);
    const error = await measureLatency(model, backend, { inputShapes: { image: [1, 3, 8, 8] } }).catch((reason: unknown) => reason);
    expect(RazorError.isInstance(error) && error.code).toBe('RAZOR_INVALID_ARGUMENT');
  });
});

describe('compareLatency', () => {
  it('interleaves the graphs round by round, rotating which goes first, on real sessions', async () => {
    const second = readOnnx(new Uint8Array(readFileSync(new URL('../../packages/core/src/__fixtures__/models/residual-block.onnx', import.meta.url))));
    const order: number[] = [];
    const graphs: Graph[] = [model, second];
    // The real backend, with each run recorded by which graph's session made it.
    const recording: Backend = {
      ...backend,
      async createSession(graph, options) {
        const session = await backend.createSession(graph, options);
        const index = graphs.indexOf(graph as Graph);
        return { ...session, run: (feeds, runOptions) => { order.push(index); return session.run(feeds, runOptions); }, release: () => session.release() };
      },
    };
    const results = await compareLatency(graphs, recording, { rounds: 3, runsPerRound: 2, warmup: 1, threads: 1 });
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(result.runs).toBe(6);
      expect(result.minMs).toBeGreaterThan(0);
      expect(result.minMs).toBeLessThanOrEqual(result.medianMs);
    }
    // One warm-up run each, then rounds of two runs per graph: 0 0 1 1 | 1 1 0 0 | 0 0 1 1.
    expect(order).toEqual([0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
  });

  it('rejects an empty list and bad round counts', async () => {
    await expect(compareLatency([], backend)).rejects.toThrow(/at least one graph/);
    await expect(compareLatency([model], backend, { rounds: 0 })).rejects.toThrow(/rounds must be a positive integer/);
    await expect(compareLatency([model], backend, { runsPerRound: 1.5 })).rejects.toThrow(/runsPerRound must be a positive integer/);
  });
});

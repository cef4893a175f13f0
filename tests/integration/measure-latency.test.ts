import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RazorError, measureLatency, readOnnx } from '@razor/core';
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

/**
 * tfjs-node-gpu: where TensorFlow's native library loads, the tfjs backend on the 'tensorflow'
 * engine passes core's conformance suite; where it does not (the workspace install never
 * downloads it), loading fails with a RazorError that says why and what to install.
 */
import { ErrorCodes, RazorError, resolveBackend, listBackends } from '@razor/core';
import { defineBackendConformanceSuite, rejectionOf } from '@razor/core/testing';
import { describe, expect, it } from 'vitest';
import { createTfjsNodeGpuBackend, loadTensorflowEngine } from './tensorflow-engine.js';

const status = await loadTensorflowEngine().then(
  (info) => ({ loaded: true as const, info }),
  (error: unknown) => ({ loaded: false as const, error }),
);
if (!status.loaded) {
  console.warn(`@razor/backend-tfjs-node-gpu: TensorFlow's native library does not load here, so its conformance suite does not run: ${(status.error as Error).message}`);
} else {
  console.info(`@razor/backend-tfjs-node-gpu: TensorFlow ${status.info.versions.tensorflow}, GPU in use: ${status.info.usingGpu} (${status.info.gpus.join('; ') || 'none listed'})`);
}

describe('tfjs-node-gpu backend', () => {
  it.runIf(!status.loaded)('without the native library: RAZOR_BACKEND_UNAVAILABLE with the CUDA set-up it needs', async () => {
    const error = await rejectionOf(loadTensorflowEngine());
    expect(error.code).toBe(ErrorCodes.BACKEND_UNAVAILABLE);
    expect(error.message).toMatch(/tfjs_binding\.node|did not load/);
    expect(error.message).toMatch(/CUDA 11\.2 and cuDNN 8\.1/);
    // The registry moves on to the next backend instead of failing.
    await import('./register.js');
    await import('@razor/backend-onnxruntime/register');
    expect(listBackends().slice(0, 2)).toEqual(['tfjs-node-gpu', 'onnxruntime']);
    expect((await resolveBackend()).name).toBe('onnxruntime');
    const direct = await rejectionOf(createTfjsNodeGpuBackend().createSession(new Uint8Array()));
    expect(RazorError.isInstance(direct)).toBe(true);
    expect(direct.code).toBe(ErrorCodes.BACKEND_UNAVAILABLE);
  });

  it.runIf(status.loaded)('reports TensorFlow and the GPU it found', async () => {
    const capabilities = await createTfjsNodeGpuBackend().capabilities!();
    expect(capabilities.engine).toMatch(/^TensorFlow \d+\.\d+\.\d+ via tfjs-node-gpu/);
    expect(capabilities.executionProviders).toContain('tensorflow');
  });
});

if (status.loaded) {
  defineBackendConformanceSuite({ describe, it, expect }, () => createTfjsNodeGpuBackend(), { title: 'tfjs-node-gpu backend conformance (tensorflow engine)', integers: 'int32' });
}

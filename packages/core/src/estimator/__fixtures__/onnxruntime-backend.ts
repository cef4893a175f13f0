import { fileURLToPath } from 'node:url';
import type { Backend } from '../../backend/backend.js';

// Core must not depend on a backend package, yet the estimator and the folding pass are
// checked on the engine that runs their graphs. The backend's source is loaded by path at
// test time (a computed specifier keeps it out of core's type check and build).
const backendSource = fileURLToPath(new URL('../../../../backend-onnxruntime/src/onnxruntime-backend.ts', import.meta.url));

/** The onnxruntime backend, created from the sibling package's source. */
export async function createTestBackend(): Promise<Backend> {
  const module = (await import(backendSource)) as { createOnnxruntimeBackend(): Backend };
  return module.createOnnxruntimeBackend();
}

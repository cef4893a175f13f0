// Side effect: registers the tfjs-node-gpu backend with @razor/core's backend registry. The
// native library loads when the backend is first used, not on import.
import { registerBackend } from '@razor/core';
import { createTfjsNodeGpuBackend } from './tensorflow-engine.js';

/** Above onnxruntime's 100: where TensorFlow's GPU engine is installed on purpose, it is the default. */
export const TFJS_NODE_GPU_BACKEND_PRIORITY = 150;

registerBackend('tfjs-node-gpu', () => createTfjsNodeGpuBackend(), TFJS_NODE_GPU_BACKEND_PRIORITY);

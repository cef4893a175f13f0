// Side effect: registers the TensorFlow.js backend (cpu engine) with @razor/core's backend registry.
import { registerBackend } from '@razor/core';
import { createTfjsBackend } from './tfjs-backend.js';

/** Below onnxruntime's 100: onnxruntime stays the default when both are registered. */
export const TFJS_BACKEND_PRIORITY = 50;

registerBackend('tfjs', () => createTfjsBackend(), TFJS_BACKEND_PRIORITY);

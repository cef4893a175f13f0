// Side effect: registers the onnxruntime backend with @razor/core's backend registry.
import { registerBackend } from '@razor/core';
import { createOnnxruntimeBackend } from './onnxruntime-backend.js';

/** The priority of the onnxruntime backend: the default when several are registered. */
export const ONNXRUNTIME_BACKEND_PRIORITY = 100;

registerBackend('onnxruntime', () => createOnnxruntimeBackend(), ONNXRUNTIME_BACKEND_PRIORITY);

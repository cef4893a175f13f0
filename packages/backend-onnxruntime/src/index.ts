// @razor/backend-onnxruntime public API. Importing this file registers nothing;
// import '@razor/backend-onnxruntime/register' for that.
export { createOnnxruntimeBackend } from './onnxruntime-backend.js';
export type { OnnxruntimeBackendOptions } from './onnxruntime-backend.js';

// @razor/backend-tfjs-node-gpu public API. Importing this file loads nothing native;
// import '@razor/backend-tfjs-node-gpu/register' to register the backend with @razor/core.
export { createTfjsNodeGpuBackend, loadTensorflowEngine, GPU_SETUP } from './tensorflow-engine.js';
export type { TensorflowEngineInfo } from './tensorflow-engine.js';

// @razor/backend-tfjs public API. Importing this file registers nothing;
// import '@razor/backend-tfjs/register' for that.
export { createTfjsBackend, registeredEngines } from './tfjs-backend.js';
export type { TfjsBackendOptions } from './tfjs-backend.js';
export { kernelKey } from './kernel.js';
export type { Kernel, KernelContext, KernelResult, KernelTable } from './kernel.js';
export { supportedOps } from './kernels/index.js';
export type { TfValue } from './values.js';

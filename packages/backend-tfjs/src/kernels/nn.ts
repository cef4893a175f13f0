import type { KernelTable } from '../kernel.js';

export const nnKernels: KernelTable = {};

import type { KernelTable } from '../kernel.js';

export const quantKernels: KernelTable = {};

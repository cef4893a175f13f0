import type { KernelTable } from '../kernel.js';

export const reduceKernels: KernelTable = {};

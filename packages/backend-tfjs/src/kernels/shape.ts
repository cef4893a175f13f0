import type { KernelTable } from '../kernel.js';

export const shapeKernels: KernelTable = {};

import type { Kernel, KernelTable } from '../kernel.js';
import { elementwiseKernels } from './elementwise.js';
import { nnKernels } from './nn.js';
import { quantKernels } from './quant.js';
import { reduceKernels } from './reduce.js';
import { shapeKernels } from './shape.js';

const tables: KernelTable[] = [elementwiseKernels, shapeKernels, nnKernels, reduceKernels, quantKernels];

/** Every kernel of this backend, by op type ('domain:OpType' outside the default domain). */
export const kernels: Readonly<Record<string, Kernel>> = Object.freeze(Object.assign({}, ...tables));

/** The ops this backend runs, as kernel keys ('Conv', 'com.microsoft:QGemm'), sorted. */
export function supportedOps(): string[] {
  return Object.keys(kernels).sort();
}

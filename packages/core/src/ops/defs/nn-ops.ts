import type { OpDefinition } from '../registry.js';

export const nnOps: OpDefinition[] = [];

import type { OpDefinition } from '../registry.js';

export const elementwiseOps: OpDefinition[] = [];

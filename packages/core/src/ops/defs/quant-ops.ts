import type { OpDefinition } from '../registry.js';

export const quantOps: OpDefinition[] = [];

import type { OpDefinition } from '../registry.js';

export const shapeOps: OpDefinition[] = [];

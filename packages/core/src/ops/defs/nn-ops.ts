import type { OpDefinition } from '../registry.js';
import { convOps } from './conv-ops.js';
import { lossOps } from './loss-ops.js';
import { matrixOps } from './matrix-ops.js';
import { normalizationOps } from './normalization-ops.js';
import { poolOps } from './pool-ops.js';
import { reduceOps } from './reduce-ops.js';

/** Convolutions, pooling, normalization, matrix products, reductions, softmax and losses. */
export const nnOps: OpDefinition[] = [...convOps, ...poolOps, ...normalizationOps, ...matrixOps, ...reduceOps, ...lossOps];

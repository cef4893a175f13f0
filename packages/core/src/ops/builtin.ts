import { withGradientRules } from '../autodiff/rules/index.js';
import { elementwiseOps } from './defs/elementwise-ops.js';
import { nnOps } from './defs/nn-ops.js';
import { quantLinearOps } from './defs/quant-linear-ops.js';
import { quantOps } from './defs/quant-ops.js';
import { OpRegistry, type OpDefinition } from './registry.js';
import { shapeOps } from './defs/shape-ops.js';

/** Every op definition razor ships, with the gradient rules of the differentiable ones. */
export const builtinOps: readonly OpDefinition[] = withGradientRules([...shapeOps, ...elementwiseOps, ...nnOps, ...quantOps, ...quantLinearOps]);

/** The registry used when none is passed. Register third-party ops on it or on a clone. */
export const defaultRegistry = new OpRegistry(builtinOps);

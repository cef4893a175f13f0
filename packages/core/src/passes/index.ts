// Graph passes: shape inference, validation, ordering, dead code and constant folding.
export { inferShapes, NONDETERMINISTIC_OPS } from './infer-shapes.js';
export type { InferShapesOptions, InferShapesResult, UnknownOp } from './infer-shapes.js';
export { topologicalOrder, topologicalSort } from './toposort.js';
export type { TopologicalSortSummary } from './toposort.js';
export { validateGraph } from './validate.js';
export type { ValidationSummary } from './validate.js';
export { eliminateDeadCode } from './dead-code.js';
export type { DeadCodeSummary } from './dead-code.js';
export { foldConstants } from './constant-folding.js';
export type { FoldConstantsOptions, FoldConstantsSummary } from './constant-folding.js';

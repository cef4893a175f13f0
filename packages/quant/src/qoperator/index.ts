// QDQ to QOperator conversion (QLinearConv, QLinearMatMul, com.microsoft QLinear*/QGemm ops).
export { toQOperator } from './to-qoperator.js';
export type { ToQOperatorOptions, QOperatorSummary, ConvertedNode, KeptNode } from './to-qoperator.js';

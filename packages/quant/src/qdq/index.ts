// QDQ post-training quantization: prepare, plan, quantize.
export { prepareForQuantization } from './prepare.js';
export type { PrepareOptions, PrepareSummary } from './prepare.js';
export { planQuantization, QDQ_OP_RULES } from './plan.js';
export type { PlanOptions, QuantizationPlan, PlannedNode, PlannedActivation, PlannedInitializer, NodeAction, QdqRule } from './plan.js';
export { quantizeQdq } from './quantize-qdq.js';
export type { QuantizeQdqOptions, QuantizeQdqResult, QuantizeQdqSummary } from './quantize-qdq.js';

// Dynamic quantization (onnxruntime's quantize_dynamic conventions) of MatMul and Gemm weights.
export { quantizeDynamic } from './quantize-dynamic.js';
export type { QuantizeDynamicOptions, QuantizeDynamicSummary, DynamicQuantizedNode, DynamicSkippedNode, DynamicOpType } from './quantize-dynamic.js';

// @razor/quant public API: observers, calibration, post-training quantization to QDQ or QOperator ONNX,
// dynamic quantization, sensitivity analysis, mixed precision and a latency-measured float stem.
export type { QuantType, QuantScheme, TensorRange, QuantParams } from './types.js';
export { quantRange, quantParamsFromRange, tensorRange, quantizeTensor, dequantizeTensor, roundHalfToEven } from './quant-params.js';
export * from './observers/index.js';
export { calibrate, datasetFeeds, folderFeeds } from './calibrate.js';
export type { Feeds, CalibrationData, CalibrateOptions, CalibrationResult, DatasetFeedsOptions } from './calibrate.js';
export * from './qdq/index.js';
export * from './qoperator/index.js';
export * from './dynamic/index.js';
export { quantizeStatic, DEFAULT_ACTIVATION_SCHEME, DEFAULT_WEIGHT_SCHEME } from './quantize-static.js';
export type { QuantizeStaticOptions, QuantizeStaticResult, QuantFormat } from './quantize-static.js';
export { classifierTop1, layerSensitivity, mixedPrecision, quantizableNodes } from './sensitivity.js';
export type { GraphMetric, AccuracyToolOptions, LayerSensitivity, MixedPrecisionOptions, MixedPrecisionResult } from './sensitivity.js';
export { floatStem } from './float-stem.js';
export type { FloatStemOptions, FloatStemTrial, FloatStemResult } from './float-stem.js';

// @razor/core public API. Explicit named exports only.
export { RazorError, ErrorCodes, fail, errorMessage } from './errors.js';
export type { ErrorCode } from './errors.js';

export {
  ALL_DTYPES,
  isDType,
  dtypeToOnnx,
  dtypeFromOnnx,
  dtypeSize,
  isFloatDType,
  isIntegerDType,
  isBigIntDType,
  allocate,
  fromBytes,
  toBytes,
  float16ToFloat32,
  float32ToFloat16,
  bfloat16ToFloat32,
  float32ToBfloat16,
} from './ir/dtype.js';
export type { DType, DTypeArrays, TensorData, NumericDType } from './ir/dtype.js';
export { Tensor, shapeSize, rowMajorStrides } from './ir/tensor.js';
export {
  Graph,
  attr,
  toAttribute,
  nodeInputs,
  outerReferences,
  getAttribute,
  getInt,
  getInts,
  getFloat,
  getFloats,
  getString,
  getTensorAttribute,
  describeOp,
  describeNode,
} from './ir/graph.js';
export type { Dim, Shape, TensorType, ValueInfo, AttributeValue, AttributeInput, Node, NodeSpec, ModelInfo } from './ir/graph.js';

export { OpRegistry } from './ops/registry.js';
export { builtinOps, defaultRegistry } from './ops/builtin.js';
export { REDUCE_AXES_INPUT_SINCE } from './ops/defs/reduce-ops.js';
export { sliceRange } from './ops/defs/shape-ops.js';
export type { OpDefinition, InferenceContext, InferenceResult, CostContext, EvaluateContext } from './ops/registry.js';

export { BACKEND_SPECIFICATION_VERSION } from './backend/backend.js';
export type {
  Backend,
  BackendFactory,
  BackendSession,
  BackendCapabilities,
  SessionOptions,
  GraphOptimizationLevel,
  BackendSpecificationVersion,
} from './backend/backend.js';
export { registerBackend, listBackends, resolveBackend, clearBackendsForTesting } from './backend/backend-registry.js';

export {
  inferShapes,
  NONDETERMINISTIC_OPS,
  topologicalOrder,
  topologicalSort,
  validateGraph,
  eliminateDeadCode,
  foldConstants,
} from './passes/index.js';
export type {
  InferShapesOptions,
  InferShapesResult,
  UnknownOp,
  TopologicalSortSummary,
  ValidationSummary,
  DeadCodeSummary,
  FoldConstantsOptions,
  FoldConstantsSummary,
} from './passes/index.js';

export { decodeNpy, encodeNpy } from './io/npy.js';
export { readTensorFile, readNamedTensorFile, writeTensorFile, tensorFileFormat, decodeTensorProto, encodeTensorProto } from './io/tensor-file.js';
export type { TensorFileFormat, TensorFileContents } from './io/tensor-file.js';
export { encodeSafetensors, decodeSafetensors, saveSafetensors, loadSafetensors } from './io/safetensors.js';
export type { SafetensorsContents } from './io/safetensors.js';
export { writeFileAtomically } from './io/atomic-write.js';

// ONNX serialization.
export { readOnnx, loadOnnx } from './onnx/onnx-reader.js';
export type { ReadOnnxOptions } from './onnx/onnx-reader.js';
export { writeOnnx, saveOnnx } from './onnx/onnx-writer.js';
export type { SaveOnnxOptions, ExternalDataOptions } from './onnx/onnx-writer.js';

// Resource estimator and BatchNorm folding.
export { estimateResources } from './estimator/estimate-resources.js';
export type { EstimateOptions, ResourceEstimate, NodeEstimate, OpTypeEstimate } from './estimator/estimate-resources.js';
export { measureLatency, compareLatency } from './estimator/measure-latency.js';
export type { LatencyOptions, LatencyResult, CompareLatencyOptions } from './estimator/measure-latency.js';
export { randomInputs, resolveInputShapes, feedInputs, createRandom } from './estimator/random-inputs.js';
export type { RandomInputsOptions } from './estimator/random-inputs.js';
export { foldBatchNorm } from './passes/fold-batchnorm.js';
export { broadcastShapes, checkUnidirectionalBroadcast } from './ops/defs/broadcast.js';

// Datasets, DataLoader and transforms.
export { InMemoryDataset, SubsetDataset, subsetDataset, sliceDataset, labelCounts } from './data/dataset.js';
export type { Dataset, Sample, InMemoryDatasetOptions } from './data/dataset.js';
export { loadMnist, mnistDataDirectory, MNIST_CLASS_NAMES } from './data/mnist.js';
export type { LoadMnistOptions, MnistSplit } from './data/mnist.js';
export {
  loadFashionMnist,
  fashionMnistDataDirectory,
  FashionMnistDataset,
  FASHION_MNIST_CLASS_NAMES,
  FASHION_MNIST_SPLIT_SEED,
  FASHION_MNIST_TRAIN_PER_CLASS,
} from './data/fashion-mnist.js';
export type { LoadFashionMnistOptions, SkippedRow } from './data/fashion-mnist.js';
export { DataLoader } from './data/data-loader.js';
export type { DataLoaderOptions, Batch } from './data/data-loader.js';
// Image transforms as one namespace (transforms.normalize, transforms.randomCrop, ...): their names are generic.
export * as transforms from './data/transforms.js';
export type { Transform, RandomSource, PadOptions, RandomCropOptions, ResizeMode } from './data/transforms.js';
// Training: learning-rate schedules.
export { constantSchedule, stepSchedule, multiStepSchedule, cosineSchedule, linearWarmup, oneCycleSchedule } from './train/schedules.js';
export type { LearningRateSchedule } from './train/schedules.js';
// Autodiff: reverse-mode gradients as standard ONNX nodes.
export { buildGradients } from './autodiff/gradients.js';
export type { BuildGradientsOptions, GradientGraph } from './autodiff/gradients.js';
export { checkGradients } from './autodiff/gradient-check.js';
export type { GradientCheckOptions, GradientCheckValue, GradientCheckResult } from './autodiff/gradient-check.js';
export { gradientRules, withGradientRules } from './autodiff/rules/index.js';
export type { GradientRule } from './autodiff/rules/gradient-rule.js';
export type { GradientContext } from './ops/registry.js';
// Training: losses as graph builders.
export {
  crossEntropyLoss,
  mseLoss,
  l1Loss,
  klDivergenceLoss,
  binaryCrossEntropyWithLogitsLoss,
  binaryCrossEntropyLoss,
} from './train/losses.js';
export type { Reduction, LossOptions, CrossEntropyOptions, KlDivergenceOptions } from './train/losses.js';
// Training: optimizers as graph builders.
export { sgd, adam, adamw } from './train/optimizers.js';
export type { Optimizer, UpdateInputs, UpdateOutputs, SgdOptions, AdamOptions } from './train/optimizers.js';
// Training: training-step graphs (forward, loss, backward and update in one run).
export { buildTrainStep } from './train/train-step.js';
export type { TrainStep, TrainStepOptions, ParameterGroup, ParameterSelector, CarriedValue } from './train/train-step.js';
export { isTrainingBatchNorm, toInferenceForm, toTrainingForm } from './train/inference-form.js';
export { ClassificationMetrics } from './train/metrics.js';
export { Trainer } from './train/trainer.js';
export type { TrainerOptions, TrainerProgress, TrainerEvents, Evaluation, EpochRecord, FitOptions } from './train/trainer.js';
export { evaluateClassifier } from './train/evaluate.js';
export type { EvaluateClassifierOptions } from './train/evaluate.js';
export type { OptimizerOverrides } from './train/optimizers.js';
export { parameterInitializers, parameterSource } from './ops/parameters.js';
export type { ParameterSource } from './ops/parameters.js';
// Training: segments and the tape (networks whose path changes between steps, e.g. NAS supernets).
export { Segment, createSegment } from './train/segment.js';
export type { SegmentOptions, CompiledSegment, SegmentBackward } from './train/segment.js';
export { Tape, TapeValue, TapeGradients } from './train/tape.js';
export type { TapeOptions } from './train/tape.js';
export { SegmentOptimizer } from './train/segment-optimizer.js';
export type { SegmentOptimizerOptions } from './train/segment-optimizer.js';
export { SessionCache } from './train/session-cache.js';
export type { SessionCacheStats, SessionTarget } from './train/session-cache.js';

import { attr, getFloat, getInt } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { GradientContext } from '../../ops/registry.js';
import { emitOp, reduceMean, reduceSum, requireInputType, scalarConstant, shapeOfInput, unsqueeze } from '../gradient-helpers.js';
import { outputGradient } from './elementwise-gradients.js';
import type { GradientRule } from './gradient-rule.js';

/** Builds a value on first use only, so frozen parameters cost no nodes. */
function memo(build: () => string): () => string {
  let value: string | undefined;
  return () => (value ??= build());
}

/** Training mode: the training_mode attribute since opset 14, the extra outputs before (ONNX Runtime's reading). */
function isTrainingMode(ctx: GradientContext): boolean {
  if (ctx.opset >= 14) return getInt(ctx.node, 'training_mode', 0) === 1;
  return ctx.outputs.slice(1).some((output) => output !== '');
}

/**
 * Training-mode BatchNormalization whose outputs 1 and 2 are the batch mean μ and variance σ²
 * (momentum 0, as buildTrainStep runs it) on a static shape: the same gradients in seven passes
 * over the activations instead of nine. Per-channel affine maps a·v + b run as inference-mode
 * BatchNormalization nodes (mean 0, variance 1, epsilon 0), one pass each:
 * x̂ = s·x − s·μ (s = 1/√(σ² + ε)), S₁ = Σ dy, S₂ = Σ dy·x̂, dγ = S₂, dβ = S₁ and
 * dx = (γs·dy − γs·S₁/n) − (γs·S₂/n)·x̂. Undefined when the conditions do not hold.
 */
function batchNormalizationFromBatchStatistics(ctx: GradientContext): (string | undefined)[] | undefined {
  const input = requireInputType(ctx, 0);
  const rank = input.shape.length;
  const dtype = input.dtype;
  if (!isTrainingMode(ctx) || getFloat(ctx.node, 'momentum', 0.9) !== 0 || !ctx.outputs[1] || !ctx.outputs[2] || rank < 2) return undefined;
  const counts = [input.shape[0], ...input.shape.slice(2)];
  const channels = input.shape[1];
  if (!counts.every((dim): dim is number => typeof dim === 'number') || typeof channels !== 'number') return undefined;
  for (let index = 1; index < ctx.outputs.length; index++) {
    if (ctx.outputGradient(index) !== undefined) ctx.fail(`a gradient flows into output ${index} ('${ctx.outputs[index]!}'), a running statistic; running statistics are state updates and are not differentiated`);
  }
  const count = counts.reduce((product, dim) => product * dim, 1);
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, axis) => axis + 2)];
  const dy = outputGradient(ctx);
  const filled = (value: number): string => ctx.addConstant(Tensor.from(dtype, [channels], new Array<number>(channels).fill(value)), `${ctx.node.name}_grad_${value}`);
  const zeros = filled(0);
  const ones = filled(1);
  const affine = (value: string, scale: string, bias: string): string => emitOp(ctx, 'BatchNormalization', [value, scale, bias, zeros, ones], { epsilon: attr.float(0) });
  const epsilon = getFloat(ctx.node, 'epsilon', 1e-5);
  const inverseStd = emitOp(ctx, 'Reciprocal', [emitOp(ctx, 'Sqrt', [emitOp(ctx, 'Add', [ctx.outputs[2]!, scalarConstant(ctx, epsilon, dtype)])])]);
  const normalized = affine(ctx.inputs[0]!, inverseStd, emitOp(ctx, 'Neg', [emitOp(ctx, 'Mul', [ctx.outputs[1]!, inverseStd])]));
  const dySum = reduceSum(ctx, dy, axes, false);
  const dyNormalizedSum = reduceSum(ctx, emitOp(ctx, 'Mul', [dy, normalized]), axes, false);
  const gradients: (string | undefined)[] = ctx.inputs.map(() => undefined);
  if (ctx.needsGradient(0)) {
    const gain = emitOp(ctx, 'Mul', [ctx.inputs[1]!, inverseStd]);
    const perSample = scalarConstant(ctx, 1 / count, dtype);
    const shift = emitOp(ctx, 'Neg', [emitOp(ctx, 'Mul', [gain, emitOp(ctx, 'Mul', [dySum, perSample])])]);
    const slope = emitOp(ctx, 'Mul', [gain, emitOp(ctx, 'Mul', [dyNormalizedSum, perSample])]);
    gradients[0] = emitOp(ctx, 'Sub', [affine(dy, gain, shift), affine(normalized, slope, zeros)]);
  }
  if (ctx.needsGradient(1)) gradients[1] = dyNormalizedSum;
  if (ctx.needsGradient(2)) gradients[2] = dySum;
  return gradients;
}

/**
 * BatchNormalization. With per-channel statistics μ, σ² (axes N and spatial), x̂ = (x − μ)/√(σ² + ε)
 * and y = γ x̂ + β: dβ = Σ dy, dγ = Σ dy x̂. Inference mode (μ, σ² are inputs): dx = γ/√(σ² + ε) dy,
 * and the statistics inputs get their gradients too. Training mode (μ, σ² of the batch, recomputed
 * here as ONNX Runtime outputs neither): dx = γ/√(σ² + ε) · (dy − mean(dy) − x̂ · mean(dy x̂)); the
 * running statistics are state updates, not differentiated.
 */
function batchNormalization(ctx: GradientContext): (string | undefined)[] {
  const fast = batchNormalizationFromBatchStatistics(ctx);
  if (fast !== undefined) return fast;
  const input = requireInputType(ctx, 0);
  const rank = input.shape.length;
  const dtype = input.dtype;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, axis) => axis + 2)];
  const epsilon = getFloat(ctx.node, 'epsilon', 1e-5);
  const training = isTrainingMode(ctx);
  for (let index = 1; index < ctx.outputs.length; index++) {
    if (ctx.outputGradient(index) !== undefined) ctx.fail(`a gradient flows into output ${index} ('${ctx.outputs[index]!}'), a running statistic; running statistics are state updates and are not differentiated`);
  }
  const dy = outputGradient(ctx);
  const x = ctx.inputs[0]!;
  // [C] → [1, C, 1, ...] so per-channel values broadcast against X.
  const perChannel = (value: string): string => unsqueeze(ctx, value, axes);
  // With momentum 0 the running outputs are the batch mean and (population) variance
  // themselves (buildTrainStep runs its BatchNormalizations so): no reductions to redo.
  const batchStatistics = training && getFloat(ctx.node, 'momentum', 0.9) === 0 && !!ctx.outputs[1] && !!ctx.outputs[2];
  const mean = (): string => (batchStatistics ? perChannel(ctx.outputs[1]!) : reduceMean(ctx, x, axes, true));
  const centered = memo(() => emitOp(ctx, 'Sub', [x, training ? mean() : perChannel(ctx.inputs[3]!)]));
  const variance = training
    ? batchStatistics
      ? perChannel(ctx.outputs[2]!)
      : reduceMean(ctx, emitOp(ctx, 'Mul', [centered(), centered()]), axes, true)
    : perChannel(ctx.inputs[4]!);
  const inverseStd = emitOp(ctx, 'Reciprocal', [emitOp(ctx, 'Sqrt', [emitOp(ctx, 'Add', [variance, scalarConstant(ctx, epsilon, dtype)])])]);
  const scale = perChannel(ctx.inputs[1]!);
  const normalized = memo(() => emitOp(ctx, 'Mul', [centered(), inverseStd]));
  const gain = emitOp(ctx, 'Mul', [scale, inverseStd]);
  const toChannels = (value: string, index: number): string => emitOp(ctx, 'Reshape', [value, shapeOfInput(ctx, index)]);
  let dyNormalized: string | undefined;
  const dyNormalizedSum = memo(() => {
    dyNormalized = emitOp(ctx, 'Mul', [dy, normalized()]);
    return reduceSum(ctx, dyNormalized, axes, true);
  });
  const dySum = memo(() => reduceSum(ctx, dy, axes, true));

  const gradients: (string | undefined)[] = ctx.inputs.map(() => undefined);
  if (ctx.needsGradient(0)) {
    if (training) {
      // Means of the sums the parameter gradients need anyway when the batch is static.
      const reduced = axes.map((axis) => input.shape[axis]);
      const count = reduced.every((dim): dim is number => typeof dim === 'number') ? reduced.reduce((product, dim) => product * dim, 1) : undefined;
      const average = (sum: () => string, value: () => string): string =>
        count === undefined ? reduceMean(ctx, value(), axes, true) : emitOp(ctx, 'Mul', [sum(), scalarConstant(ctx, 1 / count, dtype)]);
      const meanDy = average(dySum, () => dy);
      const meanDyNormalized = average(dyNormalizedSum, () => dyNormalized ?? emitOp(ctx, 'Mul', [dy, normalized()]));
      const corrected = emitOp(ctx, 'Sub', [emitOp(ctx, 'Sub', [dy, meanDy]), emitOp(ctx, 'Mul', [normalized(), meanDyNormalized])]);
      gradients[0] = emitOp(ctx, 'Mul', [corrected, gain]);
    } else {
      gradients[0] = emitOp(ctx, 'Mul', [dy, gain]);
    }
  }
  if (ctx.needsGradient(1)) gradients[1] = toChannels(dyNormalizedSum(), 1);
  if (ctx.needsGradient(2)) gradients[2] = toChannels(dySum(), 2);
  if (!training) {
    // y depends on μ through −γ/σ̂ and on σ² through −½ γ x̂ / (σ² + ε).
    if (ctx.needsGradient(3)) gradients[3] = toChannels(emitOp(ctx, 'Neg', [emitOp(ctx, 'Mul', [dySum(), gain])]), 3);
    if (ctx.needsGradient(4)) {
      const factor = emitOp(ctx, 'Mul', [emitOp(ctx, 'Mul', [gain, inverseStd]), scalarConstant(ctx, -0.5, dtype)]);
      gradients[4] = toChannels(emitOp(ctx, 'Mul', [dyNormalizedSum(), factor]), 4);
    }
  }
  return gradients;
}

export const normalizationGradients: Record<string, GradientRule> = {
  BatchNormalization: batchNormalization,
};

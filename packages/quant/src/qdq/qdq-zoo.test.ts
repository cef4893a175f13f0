import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, loadOnnx, type Backend } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrateMinMax, countOps, maxAbsDifference, relativeError, runGraph } from '../__fixtures__/qdq/helpers.js';
import { mnistImages, zooGraph } from '../__fixtures__/qdq/zoo-models.js';
import type { QuantScheme } from '../types.js';
import { planQuantization } from './plan.js';
import { prepareForQuantization } from './prepare.js';
import { quantizeQdq } from './quantize-qdq.js';

const BATCH = 8;
const backend: Backend = createOnnxruntimeBackend();
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'razor-qdq-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** `count` batches of BATCH MNIST test images from `offset`, as feeds of the zoo graphs' input. */
function batches(offset: number, count: number): Record<string, Tensor>[] {
  const images = mnistImages(offset, count * BATCH).data as Float32Array;
  const size = BATCH * 28 * 28;
  return Array.from({ length: count }, (_, index) => ({ input: new Tensor('float32', [BATCH, 1, 28, 28], images.slice(index * size, (index + 1) * size)) }));
}

function argmaxRows(values: Float32Array, classes: number): number[] {
  const result: number[] = [];
  for (let row = 0; row < values.length / classes; row++) {
    let best = 0;
    for (let column = 1; column < classes; column++) if (values[row * classes + column]! > values[row * classes + best]!) best = column;
    result.push(best);
  }
  return result;
}

const uint8Asymmetric: QuantScheme = { type: 'uint8', symmetric: false };

interface ZooCase {
  model: string;
  options: Record<string, number>;
  weights: QuantScheme;
  perChannel: boolean;
  /** Bound on the relative L2 error of the logits on held-out images. */
  bound: number;
  /** Bound on the relative L2 distance between the fused run and the emulated QDQ graph. */
  fusedGap: number;
  /** Least share of held-out images whose top-1 class the quantized model keeps. */
  agreement: number;
}

// Weight schemes that avoid U8S8's 16-bit saturation (VPMADDUBSW on AVX2 without VNNI): 7-bit
// weights, or uint8 weights. Then the fused int8 kernels and the QDQ graph compute the same
// integers on every CPU up to rounding ties, and the fused-vs-emulated check can be tight.
//
// Error bounds: 8-bit activations add rounding noise of step/√12 ≈ 0.1% of each tensor's range,
// plus clipping where held-out images leave the calibrated range; over the ~20 (LeNet-5: 9)
// quantized tensors of these networks this compounds to 0.3–2% of the logits (measured), bounded
// here at 5%. MobileNetV2 (66 quantized tensors, depthwise layers) amplifies small perturbations:
// 1/255 of input noise alone moves its logits by 0.65%, and its 8-bit error measures 9–10%
// (bounded at 15%; MobileNetV2 is the known hard case of 8-bit PTQ, −1.3 to −1.6 points on
// ImageNet). For the same reason a single rounding tie between the integer kernels and the
// float emulation (one value off by one step in block 3) grows to ~3% at its logits.
const cases: ZooCase[] = [
  {
    model: 'resnet20',
    options: { inputChannels: 1, inputSize: 28 },
    weights: { type: 'int8', symmetric: true, reduceRange: true },
    perChannel: false,
    bound: 0.05,
    fusedGap: 0.01,
    agreement: 0.9,
  },
  {
    model: 'mobilenet_v2',
    options: { widthMultiplier: 0.5, inputChannels: 1, inputSize: 28 },
    weights: { type: 'int8', symmetric: true, reduceRange: true },
    perChannel: true,
    bound: 0.15,
    fusedGap: 0.06,
    agreement: 0.6,
  },
  { model: 'lenet5', options: {}, weights: { type: 'uint8', symmetric: false }, perChannel: false, bound: 0.05, fusedGap: 0.005, agreement: 0.9 },
];

describe('quantizeQdq on zoo models (MNIST, onnxruntime)', () => {
  const norm = (values: Float32Array): number => Math.hypot(...values);
  for (const { model, options, weights, perChannel, bound, fusedGap, agreement: leastAgreement } of cases) {
    it(`${model}: the QDQ model fuses into integer kernels and stays close to the float model`, async () => {
      const float = await zooGraph(backend, model, options, BATCH, mnistImages(0, 32));
      const { graph } = prepareForQuantization(float);
      const schemes = { activations: uint8Asymmetric, weights, perChannel };
      const plan = planQuantization(graph, schemes);
      const ranges = await calibrateMinMax(backend, graph, plan.activationsToCalibrate, batches(32, 4));
      const { graph: quantized, summary } = quantizeQdq(graph, { ...schemes, ranges });
      expect(summary.clippedBiases).toEqual([]);
      if (perChannel) expect(summary.perChannelWeights).toBe(summary.quantizedWeights);
      // No initializer is left unread (a removed Clip takes its bounds along): onnxruntime warns of each one at load.
      const read = new Set(quantized.nodes.flatMap((node) => node.inputs));
      expect([...quantized.initializers.keys()].filter((name) => !read.has(name))).toEqual([]);

      const evaluation = batches(2000, 2);
      const optimizedPath = join(directory, `${model}.optimized.onnx`);
      const reference = await runGraph(backend, graph, evaluation);
      const fused = await runGraph(backend, quantized, evaluation, { graphOptimizationLevel: 'all', optimizedModelPath: optimizedPath });
      const emulated = await runGraph(backend, quantized, evaluation, { graphOptimizationLevel: 'disabled' });

      // Every quantized op became an integer kernel: no float Conv/Gemm/Add/GlobalAveragePool is left.
      const floatCounts = countOps(graph);
      const optimized = await loadOnnx(optimizedPath);
      const fusedCounts = countOps(optimized);
      expect(fusedCounts.get('QLinearConv')).toBe(floatCounts.get('Conv'));
      expect(fusedCounts.get('QGemm')).toBe(floatCounts.get('Gemm'));
      expect(fusedCounts.get('QLinearAdd') ?? 0).toBe(floatCounts.get('Add') ?? 0);
      expect(fusedCounts.get('QLinearGlobalAveragePool') ?? 0).toBe(floatCounts.get('GlobalAveragePool') ?? 0);
      for (const opType of ['Conv', 'FusedConv', 'Gemm', 'Add', 'GlobalAveragePool', 'Relu', 'Clip']) expect(fusedCounts.get(opType) ?? 0, opType).toBe(0);

      const outputScale = quantized.initializers.get(`${graph.outputs[0]!.name}_scale`)!.numberAt(0);
      const classes = reference[0]!.length / BATCH;
      let agreement = 0;
      let total = 0;
      for (let index = 0; index < evaluation.length; index++) {
        const relative = relativeError(fused[index]!, reference[index]!);
        const gap = maxAbsDifference(fused[index]!, emulated[index]!);
        const gapRelative = norm(fused[index]!.map((value, position) => value - emulated[index]![position]!)) / norm(reference[index]!);
        console.info(`${model} batch ${index}: relative L2 error ${relative.toFixed(4)}, fused vs emulated ${(gap / outputScale).toFixed(2)} output steps, relative ${gapRelative.toFixed(4)}`);
        expect(relative).toBeLessThan(bound);
        // The fused integer kernels compute what the QDQ graph describes, up to rounding ties.
        expect(gapRelative).toBeLessThan(fusedGap);
        const fusedClasses = argmaxRows(fused[index]!, classes);
        argmaxRows(reference[index]!, classes).forEach((label, row) => {
          agreement += Number(label === fusedClasses[row]);
          total++;
        });
      }
      console.info(`${model}: top-1 agreement ${agreement}/${total}`);

      // The error is rounding, not structure: at 16 bits, calibrated on the very batch it runs
      // (no clipping), the same rewrite lands within 1% of the float model. A wrong scale, axis,
      // bias or rewiring would not shrink with the bit width.
      const wide = { activations: { type: 'uint16', symmetric: false } as QuantScheme, weights: { type: 'int16', symmetric: true } as QuantScheme, perChannel };
      const wideRanges = await calibrateMinMax(backend, graph, planQuantization(graph, wide).activationsToCalibrate, evaluation.slice(0, 1));
      const sixteen = quantizeQdq(graph, { ...wide, ranges: wideRanges });
      expect(sixteen.summary.opset).toEqual({ before: 17, after: 21 });
      const [wideOutput] = await runGraph(backend, sixteen.graph, evaluation.slice(0, 1));
      const wideError = relativeError(wideOutput!, reference[0]!);
      console.info(`${model}: 16-bit relative L2 error ${wideError.toFixed(5)}`);
      expect(wideError).toBeLessThan(0.01);
      expect(agreement / total).toBeGreaterThanOrEqual(leastAgreement);
    });
  }
});

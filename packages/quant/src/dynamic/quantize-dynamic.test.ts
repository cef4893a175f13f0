import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { Graph, RazorError, Tensor, attr, createRandom, loadOnnx, writeOnnx, type Backend, type SessionOptions } from '@razor/core';
import { afterAll, describe, expect, it } from 'vitest';
import { HIDDEN, randomTokens, tinyTransformer } from './__fixtures__/tiny-transformer.js';
import { quantizeDynamic, type QuantizeDynamicOptions } from './quantize-dynamic.js';

const backend: Backend = createOnnxruntimeBackend();
afterAll(async () => backend.release?.());

async function run(graph: Graph, feeds: Record<string, Tensor>, options: SessionOptions = { graphOptimizationLevel: 'disabled' }): Promise<Tensor> {
  const session = await backend.createSession(graph, { threads: 1, ...options });
  try {
    return (await session.run(feeds))[graph.outputs[0]!.name]!;
  } finally {
    await session.release();
  }
}

/** ‖actual − expected‖ / ‖expected‖. */
function relativeError(actual: Tensor, expected: Tensor): number {
  const a = actual.data as Float32Array;
  const b = expected.data as Float32Array;
  let difference = 0;
  let norm = 0;
  for (let index = 0; index < b.length; index++) {
    difference += (a[index]! - b[index]!) ** 2;
    norm += b[index]! ** 2;
  }
  return Math.sqrt(difference / norm);
}

function count(graph: Graph, opType: string): number {
  return graph.nodes.filter((node) => node.opType === opType).length;
}

const WEIGHTED = ['attention.query.matmul', 'attention.key.matmul', 'attention.value.matmul', 'attention.output.matmul', 'mlp.fc1.matmul', 'mlp.fc2.matmul', 'head'];

describe('quantizeDynamic on a small transformer', () => {
  const float = tinyTransformer();
  const feeds = { tokens: randomTokens(9, 4) };

  // Relative error bound. One quantized product y = x·W with uniform rounding errors: the
  // activation step is s_x = range(x)/255 (uint8 over [min(x, 0), max(x, 0)]) and the weight
  // step s_w = max|W|/64 (int8 7-bit symmetric) or range(W)/255 (uint8), each error of
  // variance step²/12, so ‖δy‖/‖y‖ ≈ √(s_x²/(12·E[x²]) + s_w²/(12·E[W²])). After
  // LayerNormalization |x| ≲ 4 with E[x²] ≈ 1: s_x ≈ 8/255, term ≈ 8e-5; uniform weights have
  // E[W²] = max²/3: term 3/(12·64²) ≈ 6e-5; about 1.2% per product. The logits pass four
  // quantized products in sequence (projection, output projection, MLP, head); errors of
  // independent layers add in quadrature: ≈ 2.4%. The bound is 5%; at least 0.05% shows the
  // weights really were quantized (float32 rounding alone is ~1e-7).
  // (Full-range int8 weights are left out here: on x86 CPUs with AVX2 but no VNNI
  // onnxruntime's uint8 × int8 kernels saturate, which the summary warns about.)
  const variants: (QuantizeDynamicOptions & { name: string })[] = [
    { name: 'int8 7-bit weights per tensor', weightType: 'int8', reduceRange: true },
    { name: 'uint8 weights per column', weightType: 'uint8', perChannel: true },
    { name: 'int8 7-bit weights per column', weightType: 'int8', perChannel: true, reduceRange: true },
  ];
  for (const variant of variants) {
    it(`${variant.name}: weights 1/4 of their size, logits within the int8 error bound`, async () => {
      const { graph, summary } = quantizeDynamic(float, variant);
      expect(summary.quantized.map((entry) => entry.node)).toEqual(WEIGHTED);
      expect(summary.skipped).toEqual([
        { node: 'attention.scores', opType: 'MatMul', reason: expect.stringMatching(/B \('attention.key_t'\) is not an initializer/) },
        { node: 'attention.context', opType: 'MatMul', reason: expect.stringMatching(/B \('attention.value'\) is not an initializer/) },
      ]);
      // One DynamicQuantizeLinear per distinct activation: the three projections share theirs.
      expect(summary.dynamicQuantizers).toBe(5);
      expect(summary.warnings).toEqual([]);
      expect(count(graph, 'DynamicQuantizeLinear')).toBe(5);
      expect(count(graph, 'MatMulInteger')).toBe(7);
      expect(count(graph, 'Gemm')).toBe(0);
      for (const entry of summary.quantized) expect(graph.initializers.has(entry.weight)).toBe(false);
      const channels = variant.perChannel ? [HIDDEN] : [];
      expect(graph.initializers.get('attention.query.weight_scale')?.shape).toEqual(channels);
      const zeroPoint = graph.initializers.get('attention.query.weight_zero_point')!;
      expect(zeroPoint.dtype).toBe(variant.weightType);
      if (variant.weightType === 'int8') expect(zeroPoint.toNumbers().every((value) => value === 0)).toBe(true);
      else expect(zeroPoint.toNumbers().some((value) => value !== 0 && value !== 128)).toBe(true);
      const quantizedQuery = graph.initializers.get('attention.query.weight_quantized')!;
      const largest = Math.max(...quantizedQuery.toNumbers().map(Math.abs));
      if (variant.weightType === 'int8') expect(largest).toBe(variant.reduceRange ? 64 : 127);

      // int8 weights plus one float32 scale (and one byte of zero point) per weight or column.
      const ratio = summary.quantizedWeightBytes / summary.floatWeightBytes;
      expect(ratio).toBeGreaterThanOrEqual(0.25);
      expect(ratio).toBeLessThan(variant.perChannel ? 0.27 : 0.251);
      // Only the replaced weights changed: the other initializers (embeddings, LayerNorm, biases)
      // stay float32, so all weights together shrink to under a third.
      const bytes = (model: Graph): number => [...model.initializers.values()].reduce((sum, tensor) => sum + tensor.byteLength, 0);
      expect(bytes(graph)).toBe(bytes(float) - summary.floatWeightBytes + summary.quantizedWeightBytes);
      expect(bytes(graph) / bytes(float)).toBeLessThan(0.32);
      expect(writeOnnx(graph).byteLength).toBeLessThan(0.4 * writeOnnx(float).byteLength);

      const expected = await run(float, feeds);
      const actual = await run(graph, feeds);
      const error = relativeError(actual, expected);
      expect(error).toBeLessThan(0.05);
      expect(error).toBeGreaterThan(5e-4);
    });
  }

  it('warns that full-range int8 weights saturate on AVX2 CPUs without VNNI', () => {
    const { summary } = quantizeDynamic(float, { weightType: 'int8' });
    expect(summary.warnings).toEqual([expect.stringMatching(/int8 weights up to ±127 times uint8 activations can saturate .* AVX2 but no VNNI.*reduceRange: true or weightType 'uint8'/)]);
    expect(quantizeDynamic(float, { weightType: 'uint8' }).summary.warnings).toEqual([]);
  });

  it('is fused by onnxruntime into DynamicQuantizeMatMul and MatMulIntegerToFloat', async () => {
    const { graph } = quantizeDynamic(float, { weightType: 'int8' });
    const folder = await mkdtemp(join(tmpdir(), 'razor-dynamic-'));
    try {
      const path = join(folder, 'optimized.onnx');
      const optimizedOutput = await run(graph, feeds, { graphOptimizationLevel: 'extended', optimizedModelPath: path });
      const optimized = await loadOnnx(path);
      const fused = optimized.nodes.filter((node) => node.domain === 'com.microsoft' && (node.opType === 'DynamicQuantizeMatMul' || node.opType === 'MatMulIntegerToFloat'));
      // Every MatMulInteger → Cast → Mul group (with its bias Add) became one contrib op: a
      // DynamicQuantizeMatMul where its DynamicQuantizeLinear feeds nothing else, else a
      // MatMulIntegerToFloat reading the shared DynamicQuantizeLinear.
      expect(fused).toHaveLength(7);
      expect(fused.filter((node) => node.opType === 'DynamicQuantizeMatMul').length).toBeGreaterThanOrEqual(4);
      expect(count(optimized, 'MatMulInteger') + count(optimized, 'Cast')).toBe(0);
      // The bias Adds were fused too: each fused op has a bias input.
      expect(fused.filter((node) => node.inputs.length >= 5 && node.inputs[node.inputs.length - 1] !== '')).toHaveLength(7);
      expect(relativeError(optimizedOutput, await run(graph, feeds))).toBeLessThan(1e-5);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('quantizeDynamic choices and notes', () => {
  /** x [2, 4] → MatMul(B) → y, with the given B (an initializer, or a graph input when null). */
  function oneMatMul(weight: Tensor | null): Graph {
    const graph = new Graph('one-matmul');
    graph.opsetImports.set('', 13);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 4] } });
    if (weight) graph.addInitializer('w', weight);
    else graph.inputs.push({ name: 'w', type: { dtype: 'float32', shape: [4, 3] } });
    graph.addNode({ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'], name: 'matmul' });
    graph.outputs.push({ name: 'y' });
    return graph;
  }

  it('leaves a 3-D weight and a computed B in float, saying why', () => {
    const threeD = quantizeDynamic(oneMatMul(Tensor.float32([1, 4, 3], new Array(12).fill(0.5))), { weightType: 'int8' });
    expect(threeD.summary.quantized).toEqual([]);
    expect(threeD.summary.skipped).toEqual([{ node: 'matmul', opType: 'MatMul', reason: "B ('w') has shape [1, 4, 3]; only 2-D weights are quantized, so this one stays float" }]);
    expect(threeD.graph.nodes.map((node) => node.opType)).toEqual(['MatMul']);
    const computed = quantizeDynamic(oneMatMul(null), { weightType: 'int8' });
    expect(computed.summary.skipped[0]?.reason).toMatch(/^B \('w'\) is not an initializer but a value computed at run time/);
  });

  it('quantizes only the op types asked for and skips excluded nodes', () => {
    const float = tinyTransformer();
    const headOnly = quantizeDynamic(float, { weightType: 'int8', opTypes: ['Gemm'] });
    expect(headOnly.summary.quantized.map((entry) => entry.node)).toEqual(['head']);
    expect(count(headOnly.graph, 'MatMul')).toBe(8);
    const excluded = quantizeDynamic(float, { weightType: 'int8', exclude: { nodes: ['head', 'mlp.fc2.matmul'] } });
    expect(excluded.summary.quantized).toHaveLength(5);
    expect(excluded.summary.skipped.filter((entry) => entry.reason === 'excluded by exclude.nodes').map((entry) => entry.node)).toEqual(['mlp.fc2.matmul', 'head']);
    expect(excluded.graph.initializers.has('head.weight')).toBe(true);
    // The input graph is left as it was.
    expect(count(float, 'MatMul')).toBe(8);
    expect(float.initializers.get('head.weight')?.dtype).toBe('float32');
  });

  it('folds Gemm alpha, beta and transB into the quantized weight and the bias', async () => {
    const random = createRandom(21);
    const values = (size: number): number[] => Array.from({ length: size }, () => random() * 2 - 1);
    const graph = new Graph('gemm');
    graph.opsetImports.set('', 13);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 6] } });
    graph.addInitializer('w', Tensor.float32([6, 4], values(24)));
    graph.addInitializer('c', Tensor.float32([4], values(4)));
    graph.addNode({ opType: 'Gemm', inputs: ['x', 'w', 'c'], outputs: ['y'], attributes: { alpha: 0.5, beta: attr.float(2) }, name: 'gemm' });
    graph.outputs.push({ name: 'y' });
    const { graph: quantized, summary } = quantizeDynamic(graph, { weightType: 'int8', reduceRange: true });
    expect(summary.quantized.map((entry) => entry.node)).toEqual(['gemm']);
    const x = { x: Tensor.float32([3, 6], values(18)) };
    expect(relativeError(await run(quantized, x), await run(graph, x))).toBeLessThan(0.02);

    graph.node('gemm')!.attributes.set('transA', { type: 'int', value: 1 });
    expect(quantizeDynamic(graph, { weightType: 'int8' }).summary.skipped[0]?.reason).toMatch(/transA = 1/);
  });

  it('raises opset 10 to 11 for DynamicQuantizeLinear', () => {
    const graph = oneMatMul(Tensor.float32([4, 3], new Array(12).fill(0.25)));
    graph.opsetImports.set('', 10);
    const { graph: quantized, summary } = quantizeDynamic(graph, { weightType: 'int8' });
    expect(summary.raisedOpsetFrom).toBe(10);
    expect(quantized.opset()).toBe(11);
  });

  it('fails on unknown options, naming them', () => {
    const graph = tinyTransformer();
    const codeOf = (action: () => unknown): string | undefined => {
      try {
        action();
      } catch (error) {
        if (RazorError.isInstance(error)) return `${error.code}: ${error.message}`;
        throw error;
      }
      return undefined;
    };
    expect(codeOf(() => quantizeDynamic(graph, { weightType: 'int4' as 'int8' }))).toMatch(/^RAZOR_INVALID_ARGUMENT: weightType 'int4' is not supported/);
    expect(codeOf(() => quantizeDynamic(graph, { weightType: 'int8', opTypes: ['Conv' as 'MatMul'] }))).toMatch(/opTypes names 'Conv'; dynamic quantization covers MatMul and Gemm/);
    expect(codeOf(() => quantizeDynamic(graph, { weightType: 'int8', exclude: { nodes: ['nope'] } }))).toMatch(/exclude.nodes names 'nope', not in graph 'tiny-transformer'/);
  });
});

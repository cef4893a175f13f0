import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DType } from '../../ir/dtype.js';
import { Graph, type AttributeInput, type Dim, type TensorType } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { estimateResources } from '../../estimator/estimate-resources.js';
import { inferShapes } from '../../passes/infer-shapes.js';
import { defaultRegistry } from '../builtin.js';

interface ReferenceInput {
  dtype: DType;
  shape: number[];
  values?: number[];
}

interface ReferenceCase {
  name: string;
  op: string;
  domain: string;
  attributes: Record<string, AttributeInput>;
  outputs?: number;
  inputs: ReferenceInput[];
  expected: TensorType[];
}

// Output types onnxruntime-node produced for one-node graphs (see make-quant-linear-reference.mjs).
const reference = JSON.parse(readFileSync(new URL('./__fixtures__/quant-linear-ops-reference.json', import.meta.url), 'utf8')) as { cases: ReferenceCase[] };

type Input = { dtype: DType; shape?: Dim[] } | Tensor | '';

/** A one-node graph in `domain`; data inputs are graph inputs, tensors are initializers. */
function oneNode(opType: string, domain: string, inputs: readonly Input[], attributes: Record<string, AttributeInput> = {}, outputs = 1): Graph {
  const graph = new Graph('test');
  graph.opsetImports.set('', 17);
  if (domain !== '') graph.opsetImports.set(domain, 1);
  const names = inputs.map((input, index) => {
    if (input === '') return '';
    const name = `in${index}`;
    if (input instanceof Tensor) graph.initializers.set(name, input);
    else graph.inputs.push({ name, type: { dtype: input.dtype, ...(input.shape ? { shape: input.shape } : {}) } });
    return name;
  });
  const outputNames = Array.from({ length: outputs }, (_, index) => `out${index}`);
  graph.addNode({ opType, domain, inputs: names, outputs: outputNames, attributes, name: `${opType.toLowerCase()}_node` });
  for (const output of outputNames) graph.outputs.push({ name: output });
  return graph;
}

function infer(opType: string, domain: string, inputs: readonly Input[], attributes: Record<string, AttributeInput> = {}, outputs = 1): (TensorType | undefined)[] {
  const graph = oneNode(opType, domain, inputs, attributes, outputs);
  inferShapes(graph);
  return graph.outputs.map((output) => graph.typeOf(output.name));
}

const ms = 'com.microsoft';
const scalar = (value = 0.1): Tensor => Tensor.float32([], [value]);
const zero = (dtype: 'int8' | 'uint8', value = 0): Tensor => Tensor.from(dtype, [], [value]);
const u8 = (...shape: Dim[]) => ({ dtype: 'uint8' as const, shape });
const i8 = (...shape: Dim[]) => ({ dtype: 'int8' as const, shape });

describe('int8 operators against onnxruntime', () => {
  for (const testCase of reference.cases) {
    it(`${testCase.name}: the dtypes and shapes onnxruntime produced`, () => {
      const inputs = testCase.inputs.map((input) => (input.values ? Tensor.from(input.dtype, input.shape, input.values) : { dtype: input.dtype, shape: input.shape }));
      expect(infer(testCase.op, testCase.domain, inputs, testCase.attributes, testCase.outputs ?? 1)).toEqual(testCase.expected);
    });
  }

  it('covers every int8 operator razor defines', () => {
    const covered = new Set(reference.cases.map((testCase) => `${testCase.domain}::${testCase.op}`));
    for (const op of ['QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger', 'DynamicQuantizeLinear']) expect(covered).toContain(`::${op}`);
    for (const op of ['QLinearAdd', 'QLinearMul', 'QLinearGlobalAveragePool', 'QLinearAveragePool', 'QLinearConcat', 'QLinearSigmoid', 'QLinearLeakyRelu', 'QGemm', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul']) {
      expect(covered).toContain(`${ms}::${op}`);
    }
  });
});

describe('int8 operators with symbolic shapes', () => {
  it('keeps the batch symbol through QLinearConv, QLinearMatMul and DynamicQuantizeMatMul', () => {
    const conv = infer('QLinearConv', '', [u8('N', 3, 8, 8), scalar(), zero('uint8', 128), Tensor.from('int8', [4, 3, 1, 1], new Array(12).fill(1)), scalar(), zero('int8'), scalar(), zero('uint8')]);
    expect(conv[0]).toEqual({ dtype: 'uint8', shape: ['N', 4, 8, 8] });
    const matMul = infer('QLinearMatMul', '', [i8('batch', 'seq', 4), scalar(), zero('int8'), i8(4, 6), scalar(), zero('int8'), scalar(), zero('int8')]);
    expect(matMul[0]).toEqual({ dtype: 'int8', shape: ['batch', 'seq', 6] });
    const dynamic = infer('DynamicQuantizeMatMul', ms, [{ dtype: 'float32', shape: ['batch', 'seq', 4] }, i8(4, 3), scalar()]);
    expect(dynamic[0]).toEqual({ dtype: 'float32', shape: ['batch', 'seq', 3] });
    const [quantized, scale, zeroPoint] = infer('DynamicQuantizeLinear', '', [{ dtype: 'float32', shape: ['batch', 16] }], {}, 3);
    expect(quantized).toEqual({ dtype: 'uint8', shape: ['batch', 16] });
    expect(scale).toEqual({ dtype: 'float32', shape: [] });
    expect(zeroPoint).toEqual({ dtype: 'uint8', shape: [] });
  });

  it('concatenates symbolic and static lengths in QLinearConcat', () => {
    const [output] = infer('QLinearConcat', ms, [scalar(), zero('uint8'), u8('N', 2), scalar(), zero('uint8'), u8('N', 5), scalar(), zero('uint8')], { axis: 1 });
    expect(output).toEqual({ dtype: 'uint8', shape: ['N', 7] });
  });
});

describe('int8 operator errors', () => {
  const convInputs = (overrides: Record<number, Input>): Input[] => {
    const inputs: Input[] = [u8(1, 3, 8, 8), scalar(), zero('uint8'), i8(4, 3, 3, 3), Tensor.float32([4], [1, 1, 1, 1]), Tensor.from('int8', [4], [0, 0, 0, 0]), scalar(), zero('uint8'), { dtype: 'int32', shape: [4] }];
    for (const [index, input] of Object.entries(overrides)) inputs[Number(index)] = input;
    return inputs;
  };

  it('names the node and the mismatched quantization parameter', () => {
    expect(() => infer('QLinearConv', '', convInputs({ 2: zero('int8') }))).toThrow(/node 'qlinearconv_node'.*x's zero point \(input 2\) is int8 but x is uint8/);
    expect(() => infer('QLinearConv', '', convInputs({ 4: Tensor.float32([3], [1, 1, 1]), 5: Tensor.from('int8', [3], [0, 0, 0]) }))).toThrow(
      /w's scale \(input 4\) has 3 elements but there are 4 channels/,
    );
    expect(() => infer('QLinearConv', '', convInputs({ 1: Tensor.float32([3], [1, 1, 1]) }))).toThrow(/x's scale \(input 1\) has shape \[3\] but must be a scalar/);
    expect(() => infer('QLinearConv', '', convInputs({ 0: { dtype: 'float32', shape: [1, 3, 8, 8] } }))).toThrow(/x \(input 0\) is float32 but must be int8 or uint8/);
    expect(() => infer('QLinearConv', '', convInputs({ 8: { dtype: 'float32', shape: [4] } }))).toThrow(/bias B \(input 8\) is float32 but must be int32/);
    expect(() => infer('QLinearConv', '', convInputs({ 8: { dtype: 'int32', shape: [5] } }))).toThrow(/5 elements but the output has 4 channels/);
    expect(() => infer('QLinearConv', '', convInputs({ 3: i8(4, 2, 3, 3) }))).toThrow(/input X has 3 channels but weight W expects 2/);
  });

  it('checks operand types of the com.microsoft ops', () => {
    expect(() => infer('QLinearAdd', ms, [u8(2, 3), scalar(), zero('uint8'), i8(2, 3), scalar(), zero('int8'), scalar(), zero('uint8')])).toThrow(
      /node 'qlinearadd_node' \(com.microsoft::QLinearAdd\).*B \(input 3\) is int8 but A is uint8/,
    );
    expect(() => infer('QLinearAdd', ms, [u8(2, 3), scalar(), zero('uint8'), u8(4, 3), scalar(), zero('uint8'), scalar(), zero('uint8')])).toThrow(/node 'qlinearadd_node'/);
    expect(() => infer('QLinearConcat', ms, [scalar(), zero('uint8'), u8(1, 2), scalar()], { axis: 0 })).toThrow(/one \(tensor, scale, zero point\) triple per input/);
    expect(() => infer('QLinearConcat', ms, [scalar(), zero('uint8'), i8(1, 2), scalar(), zero('int8')], { axis: 0 })).toThrow(/tensor 0 \(input 2\) is int8 but Y_zero_point is uint8/);
    expect(() => infer('QGemm', ms, [u8(2, 3), scalar(), zero('uint8'), i8(3, 4), scalar(), zero('int8'), '', scalar()])).toThrow(/y_scale \(input 7\) and y_zero_point \(input 8\) come together/);
    expect(() => infer('QGemm', ms, [u8(2, 3), scalar(), zero('uint8'), i8(3, 4), scalar(), zero('int8'), { dtype: 'float32', shape: [4] }])).toThrow(/C \(input 6\) is float32 but must be int32/);
    expect(() => infer('DynamicQuantizeLinear', '', [{ dtype: 'float16', shape: [2] }], {}, 3)).toThrow(/x \(input 0\) is float16 but must be float32/);
    expect(() => infer('MatMulIntegerToFloat', ms, [u8(2, 4), i8(4, 3), scalar(), scalar(), '', '', Tensor.float32([4], [0, 0, 0, 0])])).toThrow(
      /bias \(input 6\) has 4 elements but the product has 3 columns/,
    );
  });

  it('finds the contrib ops only in the com.microsoft domain', () => {
    expect(defaultRegistry.has('QLinearAdd', ms)).toBe(true);
    expect(defaultRegistry.has('QLinearAdd')).toBe(false);
    expect(defaultRegistry.has('QLinearConv')).toBe(true);
    expect(() => infer('QLinearAdd', '', [u8(2), scalar(), zero('uint8'), u8(2), scalar(), zero('uint8'), scalar(), zero('uint8')])).toThrow(/uses op QLinearAdd, which razor does not know/);
  });
});

describe('int8 operator costs', () => {
  it('counts the MACs of the float op each integer op stands for', () => {
    const graph = new Graph('int8');
    graph.opsetImports.set(ms, 1);
    graph.inputs.push({ name: 'x', type: { dtype: 'uint8', shape: [1, 3, 8, 8] } });
    const add = (name: string, tensor: Tensor): string => graph.addInitializer(name, tensor);
    const weight = add('w', Tensor.from('int8', [4, 3, 3, 3], new Array(108).fill(1)));
    const conv = graph.addNode({
      opType: 'QLinearConv',
      inputs: ['x', add('s', scalar()), add('zp', zero('uint8', 128)), weight, add('ws', scalar()), add('wzp', zero('int8')), 's', 'zp'],
      attributes: { pads: [1, 1, 1, 1] },
      name: 'conv',
    });
    const pooled = graph.addNode({ opType: 'QLinearGlobalAveragePool', domain: ms, inputs: [conv.outputs[0]!, 's', 'zp', 's', 'zp'], name: 'pool' });
    const flat = graph.addNode({ opType: 'Flatten', inputs: [pooled.outputs[0]!], name: 'flatten' });
    const head = graph.addNode({
      opType: 'QGemm',
      domain: ms,
      inputs: [flat.outputs[0]!, 's', 'zp', add('b', Tensor.from('int8', [4, 5], new Array(20).fill(1))), 'ws', 'wzp'],
      name: 'head',
    });
    graph.outputs.push({ name: head.outputs[0]! });
    const estimate = estimateResources(graph);
    const macs = Object.fromEntries(estimate.perNode.map((entry) => [entry.node, entry.macs]));
    // Conv: 4 × 8 × 8 outputs, 3 × 3 × 3 products each; pool: one per input element; Gemm: 1 × 5 × 4.
    expect(macs).toEqual({ conv: 4 * 8 * 8 * 27, pool: 4 * 8 * 8, flatten: 0, head: 20 });
    expect(estimate.perNode.find((entry) => entry.node === 'head')?.outputShapes).toEqual([[1, 5]]);
  });
});

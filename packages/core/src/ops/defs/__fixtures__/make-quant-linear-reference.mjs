// Generates quant-linear-ops-reference.json: one-node graphs of the int8 operators run on
// onnxruntime-node, with the dtype and shape of every output onnxruntime produced.
// Run from the repository root:
//   npx tsx --conditions=@razor/source packages/core/src/ops/defs/__fixtures__/make-quant-linear-reference.mjs
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Graph, Tensor, createRandom, writeFileAtomically } from '../../../index.ts';
import { createOnnxruntimeBackend } from '../../../../../backend-onnxruntime/src/index.ts';

const ms = 'com.microsoft';
const random = createRandom(7);

/** A graph input fed random data of this type. */
const data = (dtype, shape) => ({ dtype, shape });
/** A constant (initializer). */
const constant = (dtype, shape, values) => ({ dtype, shape, values });
const scale = (value = 0.05) => constant('float32', [], [value]);
const scales = (count, value = 0.05) => constant('float32', [count], Array.from({ length: count }, (_, index) => value * (1 + index / 10)));
const zero = (dtype, value = dtype === 'uint8' ? 128 : 0) => constant(dtype, [], [value]);
const zeros = (dtype, count) => constant(dtype, [count], new Array(count).fill(0));
const bias = (count) => constant('int32', [count], Array.from({ length: count }, (_, index) => index * 7 - 10));
const floats = (shape) => constant('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, index) => (index % 5) / 10 - 0.2));

const cases = [
  {
    name: 'QLinearConv uint8 x, int8 per-channel w, bias, stride 2, pads 1',
    op: 'QLinearConv',
    attributes: { strides: [2, 2], pads: [1, 1, 1, 1] },
    inputs: [data('uint8', [1, 3, 8, 8]), scale(), zero('uint8'), data('int8', [4, 3, 3, 3]), scales(4, 0.01), zeros('int8', 4), scale(0.1), zero('uint8'), bias(4)],
  },
  {
    name: 'QLinearConv int8, groups 2, dilation 2, no bias',
    op: 'QLinearConv',
    attributes: { group: 2, dilations: [2, 2] },
    inputs: [data('int8', [2, 4, 9, 7]), scale(), zero('int8'), data('int8', [6, 2, 3, 3]), scale(0.01), zero('int8'), scale(0.1), zero('int8')],
  },
  {
    name: 'QLinearConv 1-D, SAME_UPPER',
    op: 'QLinearConv',
    attributes: { auto_pad: 'SAME_UPPER', strides: [2] },
    inputs: [data('uint8', [1, 2, 11]), scale(), zero('uint8'), data('uint8', [3, 2, 3]), scale(0.01), zero('uint8'), scale(0.1), zero('uint8')],
  },
  {
    name: 'QLinearMatMul uint8 batched',
    op: 'QLinearMatMul',
    inputs: [data('uint8', [2, 3, 4]), scale(), zero('uint8'), data('uint8', [4, 5]), scale(0.02), zero('uint8'), scale(0.1), zero('uint8')],
  },
  {
    name: 'QLinearMatMul int8, per-column b',
    op: 'QLinearMatMul',
    inputs: [data('int8', [3, 4]), scale(), zero('int8'), data('int8', [4, 2]), scales(2, 0.02), zeros('int8', 2), scale(0.1), zero('int8')],
  },
  {
    name: 'ConvInteger uint8 with zero points',
    op: 'ConvInteger',
    attributes: { pads: [0, 1, 0, 1] },
    inputs: [data('uint8', [1, 2, 5, 5]), data('uint8', [3, 2, 2, 2]), zero('uint8'), zero('uint8', 3)],
  },
  {
    name: 'MatMulInteger uint8 x int8',
    op: 'MatMulInteger',
    inputs: [data('uint8', [2, 3, 4]), data('int8', [4, 3]), zero('uint8'), zero('int8')],
  },
  { name: 'DynamicQuantizeLinear', op: 'DynamicQuantizeLinear', outputs: 3, inputs: [data('float32', [2, 3, 4])] },
  {
    name: 'QLinearAdd uint8 broadcast',
    op: 'QLinearAdd',
    domain: ms,
    inputs: [data('uint8', [2, 3, 4]), scale(), zero('uint8'), data('uint8', [4]), scale(0.03), zero('uint8'), scale(0.1), zero('uint8')],
  },
  {
    name: 'QLinearMul int8 two-sided broadcast',
    op: 'QLinearMul',
    domain: ms,
    inputs: [data('int8', [2, 1, 4]), scale(), zero('int8'), data('int8', [3, 1]), scale(0.03), zero('int8'), scale(0.1), zero('int8')],
  },
  {
    name: 'QLinearGlobalAveragePool channels first',
    op: 'QLinearGlobalAveragePool',
    domain: ms,
    inputs: [data('uint8', [2, 3, 5, 4]), scale(), zero('uint8'), scale(0.04), zero('uint8')],
  },
  {
    name: 'QLinearGlobalAveragePool channels last',
    op: 'QLinearGlobalAveragePool',
    domain: ms,
    attributes: { channels_last: 1 },
    inputs: [data('int8', [1, 5, 4, 3]), scale(), zero('int8'), scale(0.04), zero('int8')],
  },
  {
    name: 'QLinearAveragePool kernel 3 stride 2 pads 1',
    op: 'QLinearAveragePool',
    domain: ms,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 },
    inputs: [data('int8', [1, 2, 7, 7]), scale(), zero('int8'), scale(0.05), zero('int8')],
  },
  {
    name: 'QLinearAveragePool ceil mode',
    op: 'QLinearAveragePool',
    domain: ms,
    attributes: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
    inputs: [data('uint8', [1, 3, 5, 6]), scale(), zero('uint8'), scale(0.05), zero('uint8')],
  },
  {
    name: 'QLinearAveragePool channels last',
    op: 'QLinearAveragePool',
    domain: ms,
    attributes: { kernel_shape: [2, 2], channels_last: 1 },
    inputs: [data('uint8', [1, 5, 6, 3]), scale(), zero('uint8'), scale(0.05), zero('uint8')],
  },
  {
    name: 'QLinearConcat axis 1',
    op: 'QLinearConcat',
    domain: ms,
    attributes: { axis: 1 },
    inputs: [scale(0.1), zero('uint8'), data('uint8', [1, 2, 3]), scale(), zero('uint8'), data('uint8', [1, 4, 3]), scale(0.08), zero('uint8', 120)],
  },
  {
    name: 'QLinearConcat negative axis, three inputs',
    op: 'QLinearConcat',
    domain: ms,
    attributes: { axis: -1 },
    inputs: [
      scale(0.1),
      zero('int8'),
      data('int8', [2, 3, 1]),
      scale(),
      zero('int8'),
      data('int8', [2, 3, 2]),
      scale(0.08),
      zero('int8', 3),
      data('int8', [2, 3, 4]),
      scale(0.2),
      zero('int8'),
    ],
  },
  { name: 'QLinearSigmoid int8', op: 'QLinearSigmoid', domain: ms, inputs: [data('int8', [2, 5]), scale(), zero('int8'), scale(1 / 256), zero('int8', -128)] },
  {
    name: 'QLinearLeakyRelu uint8',
    op: 'QLinearLeakyRelu',
    domain: ms,
    attributes: { alpha: 0.1 },
    inputs: [data('uint8', [3, 4, 2]), scale(), zero('uint8'), scale(0.03), zero('uint8')],
  },
  {
    name: 'QGemm uint8 x int8, transB, int32 C, quantized output',
    op: 'QGemm',
    domain: ms,
    attributes: { transB: 1 },
    inputs: [data('uint8', [3, 4]), scale(), zero('uint8'), data('int8', [5, 4]), scale(0.01), zero('int8'), bias(5), scale(0.1), zero('uint8')],
  },
  {
    name: 'QGemm float output, transA, per-column B',
    op: 'QGemm',
    domain: ms,
    attributes: { transA: 1, alpha: 0.5 },
    inputs: [data('uint8', [4, 3]), scale(), zero('uint8'), data('int8', [4, 6]), scales(6, 0.01), zeros('int8', 6)],
  },
  {
    name: 'MatMulIntegerToFloat with bias',
    op: 'MatMulIntegerToFloat',
    domain: ms,
    inputs: [data('uint8', [2, 3, 4]), data('int8', [4, 5]), scale(), scale(0.01), zero('uint8'), zero('int8'), floats([5])],
  },
  {
    name: 'DynamicQuantizeMatMul per-column B with bias',
    op: 'DynamicQuantizeMatMul',
    domain: ms,
    inputs: [data('float32', [2, 4]), data('int8', [4, 3]), scales(3, 0.01), zeros('int8', 3), floats([3])],
  },
];

function randomTensor(dtype, shape) {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: size }, () => {
    if (dtype === 'float32') return random() * 4 - 2;
    if (dtype === 'int8') return Math.floor(random() * 256) - 128;
    return Math.floor(random() * 256);
  });
  return Tensor.from(dtype, shape, values);
}

const backend = createOnnxruntimeBackend();
const results = [];
for (const testCase of cases) {
  const graph = new Graph('reference');
  graph.opsetImports.set('', 17);
  if (testCase.domain) graph.opsetImports.set(testCase.domain, 1);
  const feeds = {};
  const inputs = testCase.inputs.map((input, index) => {
    const name = `in${index}`;
    if (input.values) graph.initializers.set(name, Tensor.from(input.dtype, input.shape, input.values));
    else {
      graph.inputs.push({ name, type: { dtype: input.dtype, shape: input.shape } });
      feeds[name] = randomTensor(input.dtype, input.shape);
    }
    return name;
  });
  const outputs = Array.from({ length: testCase.outputs ?? 1 }, (_, index) => `out${index}`);
  graph.addNode({ opType: testCase.op, domain: testCase.domain ?? '', inputs, outputs, attributes: testCase.attributes ?? {}, name: 'node' });
  for (const output of outputs) graph.outputs.push({ name: output });
  const session = await backend.createSession(graph, { graphOptimizationLevel: 'disabled' });
  const produced = await session.run(feeds);
  await session.release();
  results.push({
    ...testCase,
    domain: testCase.domain ?? '',
    attributes: testCase.attributes ?? {},
    expected: outputs.map((output) => ({ dtype: produced[output].dtype, shape: [...produced[output].shape] })),
  });
}

const require = createRequire(new URL('../../../../../backend-onnxruntime/package.json', import.meta.url));
const version = require('onnxruntime-node/package.json').version;
const target = new URL('./quant-linear-ops-reference.json', import.meta.url);
const json = `${JSON.stringify({ generator: 'packages/core/src/ops/defs/__fixtures__/make-quant-linear-reference.mjs', onnxruntime: `onnxruntime-node ${version}`, cases: results })}\n`;
await writeFileAtomically(fileURLToPath(target), new TextEncoder().encode(json), 'the reference fixture');
console.log(`wrote ${results.length} cases to ${target.pathname}`);

import type { Backend, BackendSession, SessionOptions } from '../backend/backend.js';
import { RazorError } from '../errors.js';
import type { DType } from '../ir/dtype.js';
import { Graph, attr, type AttributeInput, type Shape } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { defaultModelFixturesDirectory, listModelFixtures, loadModelFixture, type ModelFixture } from './model-fixtures.js';
import * as ref from './reference-ops.js';
import type { ReferenceTensor } from './reference-ops.js';

/** The subset of a test framework's `expect` the suite uses (vitest's and jest's fit). */
export interface ConformanceExpect {
  (actual: unknown): {
    toBe(expected: unknown): void;
    toEqual(expected: unknown): void;
  };
}

/** The test framework's functions, passed in so core depends on none. */
export interface ConformanceTestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => Promise<void>, timeout?: number): void;
  expect: ConformanceExpect;
}

/** Options of `defineBackendConformanceSuite`. */
export interface BackendConformanceOptions {
  /** Title of the enclosing `describe`. Default: 'backend conformance'. */
  title?: string;
  /** Options passed to every `createSession`. */
  sessionOptions?: SessionOptions;
  /**
   * The folder holding `manifest.json` of the model fixtures. Default: core's own
   * `src/__fixtures__/models` when running from source. In a published build (which does not
   * ship the fixtures) the fixture cases are not defined unless this is given.
   */
  fixturesDirectory?: string;
  /** Which fixture models to run. Default: all. */
  fixtureFilter?: (fixture: ModelFixture) => boolean;
  /** Allowed error |actual - expected| <= absolute + relative * |expected|. Default 1e-4 each. */
  tolerance?: { relative: number; absolute: number };
  /** Per-test timeout in milliseconds. */
  timeout?: number;
  /**
   * The integers the engine computes with. 'int64' (default): int64 tensors carry their full
   * range. 'int32': the engine computes integers in 32 bits (TensorFlow.js); the integer cases then
   * use values within the int32 range, and a feed beyond it must be refused with
   * RAZOR_UNSUPPORTED_DTYPE naming the input, never wrapped silently.
   */
  integers?: 'int64' | 'int32';
}

/** What a case expects for one output: dtype, shape and values (numbers, or bigints for 64-bit integers). */
export interface ExpectedOutput {
  dtype: DType;
  shape: readonly number[];
  values: ArrayLike<number> | ArrayLike<bigint>;
}

interface ConformanceCase {
  name: string;
  build(): { graph: Graph; feeds: Record<string, Tensor>; expected: Record<string, ExpectedOutput>; fetches?: string[] };
}

// ------------------------------------------------------------------------------------------
// Graph construction helpers

function newGraph(name: string, opset = 17): Graph {
  const graph = new Graph(name);
  graph.opsetImports = new Map([['', opset]]);
  return graph;
}

function addInput(graph: Graph, name: string, dtype: DType, shape: Shape): void {
  graph.inputs.push({ name, type: { dtype, shape } });
}

function addOutput(graph: Graph, name: string, dtype: DType, shape?: Shape): void {
  graph.outputs.push({ name, type: { dtype, ...(shape ? { shape } : {}) } });
}

function node(graph: Graph, opType: string, inputs: string[], outputs: string[], attributes?: Record<string, AttributeInput>): void {
  graph.addNode({ opType, inputs, outputs, ...(attributes ? { attributes } : {}) });
}

/** A seeded float32 tensor and its reference twin. */
function random(shape: readonly number[], seed: number, scale = 1, offset = 0): { tensor: Tensor<'float32'>; value: ReferenceTensor } {
  const values = ref.seededValues(shape.reduce((size, dim) => size * dim, 1), seed).map((value) => value * scale + offset);
  return { tensor: Tensor.float32(shape, values), value: ref.reference(shape, values) };
}

function floatOutput(value: ReferenceTensor): ExpectedOutput {
  return { dtype: 'float32', shape: value.shape, values: value.data };
}

/** One-node graph: inputs fed at run time first, then initializers. */
function singleNodeCase(
  name: string,
  opType: string,
  feeds: Record<string, Tensor>,
  initializers: Record<string, Tensor>,
  attributes: Record<string, AttributeInput>,
  expected: ReferenceTensor,
  inputOrder?: string[],
): ConformanceCase {
  return {
    name,
    build() {
      const graph = newGraph(name.replace(/\W+/g, '_'));
      for (const [inputName, tensor] of Object.entries(feeds)) addInput(graph, inputName, tensor.dtype, tensor.shape);
      for (const [initializerName, tensor] of Object.entries(initializers)) graph.addInitializer(initializerName, tensor);
      node(graph, opType, inputOrder ?? [...Object.keys(feeds), ...Object.keys(initializers)], ['y'], attributes);
      addOutput(graph, 'y', 'float32', expected.shape);
      return { graph, feeds, expected: { y: floatOutput(expected) } };
    },
  };
}

// ------------------------------------------------------------------------------------------
// Cases

function convCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  {
    const x = random([1, 2, 5, 5], 1);
    const w = random([3, 2, 3, 3], 2, 0.5);
    const b = random([3], 3);
    const expected = ref.conv(x.value, w.value, b.value, { strides: [2, 2], pads: [1, 1, 1, 1] });
    cases.push(
      singleNodeCase('Conv with stride 2, padding 1 and bias', 'Conv', { x: x.tensor }, { w: w.tensor, b: b.tensor }, { strides: [2, 2], pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, expected),
    );
  }
  {
    const x = random([1, 4, 6, 6], 4);
    const w = random([4, 2, 3, 3], 5, 0.5);
    const expected = ref.conv(x.value, w.value, undefined, { pads: [2, 2, 2, 2], dilations: [2, 2], group: 2 });
    cases.push(singleNodeCase('Conv with 2 groups and dilation 2', 'Conv', { x: x.tensor }, { w: w.tensor }, { pads: [2, 2, 2, 2], dilations: [2, 2], group: 2 }, expected));
  }
  {
    const x = random([2, 3, 5, 4], 6);
    const w = random([3, 1, 3, 3], 7, 0.5);
    const b = random([3], 8);
    const parameters = { strides: [1, 2] as [number, number], pads: [0, 1, 1, 0] as [number, number, number, number], group: 3 };
    const expected = ref.conv(x.value, w.value, b.value, parameters);
    cases.push(
      singleNodeCase('depthwise Conv with asymmetric padding and strides', 'Conv', { x: x.tensor }, { w: w.tensor, b: b.tensor }, { strides: [1, 2], pads: [0, 1, 1, 0], group: 3 }, expected),
    );
  }
  {
    const x = random([1, 2, 3, 3], 9);
    const w = random([2, 3, 3, 3], 10, 0.5);
    const b = random([3], 11);
    const expected = ref.convTranspose(x.value, w.value, b.value, { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] });
    cases.push(
      singleNodeCase('ConvTranspose with stride 2, padding 1 and output_padding 1', 'ConvTranspose', { x: x.tensor }, { w: w.tensor, b: b.tensor }, { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, expected),
    );
  }
  {
    const x = random([1, 4, 2, 3], 12);
    const w = random([4, 1, 2, 2], 13, 0.5);
    const expected = ref.convTranspose(x.value, w.value, undefined, { strides: [2, 2], group: 2, dilations: [1, 2] });
    cases.push(singleNodeCase('grouped ConvTranspose with dilation', 'ConvTranspose', { x: x.tensor }, { w: w.tensor }, { strides: [2, 2], group: 2, dilations: [1, 2] }, expected));
  }
  return cases;
}

function normalizationAndActivationCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  {
    const x = random([2, 3, 2, 2], 20);
    const scale = random([3], 21, 0.5, 1);
    const bias = random([3], 22);
    const mean = random([3], 23, 0.2);
    const variance = random([3], 24, 0.4, 0.8);
    const expected = ref.batchNormalization(x.value, scale.value, bias.value, mean.value, variance.value, 1e-3);
    cases.push(
      singleNodeCase('BatchNormalization (inference)', 'BatchNormalization', { x: x.tensor }, { scale: scale.tensor, bias: bias.tensor, mean: mean.tensor, variance: variance.tensor }, { epsilon: 1e-3 }, expected),
    );
  }
  cases.push({
    name: 'Relu, Sigmoid, Tanh, LeakyRelu and Clip',
    build() {
      const x = random([2, 3, 4], 25, 3);
      const graph = newGraph('activations');
      addInput(graph, 'x', 'float32', x.tensor.shape);
      graph.addInitializer('low', Tensor.scalar('float32', -0.5));
      graph.addInitializer('high', Tensor.scalar('float32', 1.25));
      node(graph, 'Relu', ['x'], ['relu']);
      node(graph, 'Sigmoid', ['x'], ['sigmoid']);
      node(graph, 'Tanh', ['x'], ['tanh']);
      node(graph, 'LeakyRelu', ['x'], ['leaky'], { alpha: 0.2 });
      node(graph, 'Clip', ['x', 'low', 'high'], ['clip']);
      const outputs: Record<string, (value: number) => number> = {
        relu: (value) => Math.max(value, 0),
        sigmoid: (value) => 1 / (1 + Math.exp(-value)),
        tanh: Math.tanh,
        leaky: (value) => (value >= 0 ? value : 0.2 * value),
        clip: (value) => Math.min(Math.max(value, -0.5), 1.25),
      };
      const expected: Record<string, ExpectedOutput> = {};
      for (const [name, apply] of Object.entries(outputs)) {
        addOutput(graph, name, 'float32', x.tensor.shape);
        expected[name] = floatOutput(ref.map(x.value, apply));
      }
      return { graph, feeds: { x: x.tensor }, expected };
    },
  });
  return cases;
}

function arithmeticCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  cases.push({
    name: 'Add and Mul with broadcasting',
    build() {
      const a = random([2, 3, 4], 30);
      const b = random([3, 1], 31);
      const c = random([4], 32);
      const graph = newGraph('broadcast');
      addInput(graph, 'a', 'float32', a.tensor.shape);
      addInput(graph, 'b', 'float32', b.tensor.shape);
      graph.addInitializer('c', c.tensor);
      node(graph, 'Add', ['a', 'b'], ['sum']);
      node(graph, 'Mul', ['sum', 'c'], ['product']);
      addOutput(graph, 'sum', 'float32', [2, 3, 4]);
      addOutput(graph, 'product', 'float32', [2, 3, 4]);
      const sum = ref.broadcast(a.value, b.value, (left, right) => left + right);
      const product = ref.broadcast(sum, c.value, (left, right) => left * right);
      return { graph, feeds: { a: a.tensor, b: b.tensor }, expected: { sum: floatOutput(sum), product: floatOutput(product) } };
    },
  });
  {
    const a = random([2, 3, 4], 33);
    const b = random([4, 5], 34);
    cases.push(singleNodeCase('MatMul of a batch by a matrix', 'MatMul', { a: a.tensor }, { b: b.tensor }, {}, ref.matmul(a.value, b.value)));
  }
  {
    const a = random([3, 4], 35);
    const b = random([5, 4], 36);
    const c = random([5], 37);
    const product = ref.matmul(a.value, ref.transpose(b.value, [1, 0]));
    const expected = ref.broadcast(ref.map(product, (value) => 0.5 * value), c.value, (left, right) => left + 2 * right);
    cases.push(singleNodeCase('Gemm with transB, alpha and beta', 'Gemm', { a: a.tensor }, { b: b.tensor, c: c.tensor }, { transB: 1, alpha: 0.5, beta: attr.float(2) }, expected));
  }
  return cases;
}

function poolingAndReductionCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  {
    const x = random([1, 2, 5, 5], 40);
    const expected = ref.pool(x.value, 'max', { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    cases.push(singleNodeCase('MaxPool 3x3, stride 2, padding 1', 'MaxPool', { x: x.tensor }, {}, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, expected));
  }
  cases.push({
    name: 'AveragePool with count_include_pad 0 and 1',
    build() {
      const x = random([1, 2, 5, 5], 41);
      const graph = newGraph('average_pool');
      addInput(graph, 'x', 'float32', x.tensor.shape);
      const attributes = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
      node(graph, 'AveragePool', ['x'], ['exclusive'], { ...attributes, count_include_pad: 0 });
      node(graph, 'AveragePool', ['x'], ['inclusive'], { ...attributes, count_include_pad: 1 });
      const parameters = { kernel: [3, 3] as [number, number], strides: [2, 2] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number] };
      const exclusive = ref.pool(x.value, 'average', { ...parameters, countIncludePad: false });
      const inclusive = ref.pool(x.value, 'average', { ...parameters, countIncludePad: true });
      addOutput(graph, 'exclusive', 'float32', exclusive.shape);
      addOutput(graph, 'inclusive', 'float32', inclusive.shape);
      return { graph, feeds: { x: x.tensor }, expected: { exclusive: floatOutput(exclusive), inclusive: floatOutput(inclusive) } };
    },
  });
  {
    const x = random([2, 3, 3, 4], 42);
    cases.push(singleNodeCase('GlobalAveragePool', 'GlobalAveragePool', { x: x.tensor }, {}, {}, ref.reduceMean(x.value, [2, 3])));
  }
  {
    const x = random([2, 5, 3], 43, 4);
    cases.push(singleNodeCase('Softmax along axis 1', 'Softmax', { x: x.tensor }, {}, { axis: 1 }, ref.softmax(x.value, 1)));
  }
  {
    const x = random([2, 3, 4], 44);
    cases.push(singleNodeCase('ReduceMean over axis 1 with keepdims', 'ReduceMean', { x: x.tensor }, {}, { axes: [1], keepdims: 1 }, ref.reduceMean(x.value, [1])));
  }
  return cases;
}

function shapeCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  {
    const x = random([2, 3, 4], 50);
    cases.push(singleNodeCase('Reshape with an inferred dimension', 'Reshape', { x: x.tensor }, { shape: Tensor.int64([4, -1]) }, {}, ref.reference([4, 6], x.value.data)));
  }
  {
    const x = random([2, 3, 4], 51);
    cases.push(singleNodeCase('Transpose with perm [2, 0, 1]', 'Transpose', { x: x.tensor }, {}, { perm: [2, 0, 1] }, ref.transpose(x.value, [2, 0, 1])));
  }
  {
    const a = random([2, 1, 3], 52);
    const b = random([2, 2, 3], 53);
    cases.push(singleNodeCase('Concat along axis 1', 'Concat', { a: a.tensor, b: b.tensor }, {}, { axis: 1 }, ref.concat([a.value, b.value], 1)));
  }
  {
    const x = random([4, 3, 5], 54);
    const expected = ref.slice(x.value, [1, 0, -1], [3, 100, -100], [0, 2, 1], [1, 2, -1]);
    cases.push(
      singleNodeCase(
        'Slice with steps, a clamped end and a negative step',
        'Slice',
        { x: x.tensor },
        { starts: Tensor.int64([1, 0, -1]), ends: Tensor.int64([3, 100, -100]), axes: Tensor.int64([0, 2, 1]), steps: Tensor.int64([1, 2, -1]) },
        {},
        expected,
      ),
    );
  }
  {
    const x = random([2, 4, 3], 55);
    cases.push(singleNodeCase('Gather along axis 1 with a negative index', 'Gather', { x: x.tensor }, { indices: Tensor.int64([2, 0, -1]) }, { axis: 1 }, ref.gather(x.value, [2, 0, -1], 1)));
  }
  return cases;
}

function dtypeCases(integers: 'int64' | 'int32'): ConformanceCase[] {
  const wide = integers === 'int64';
  return [
    {
      name: 'int64, bool, float16 and float32 round-trip through Identity',
      build() {
        const graph = newGraph('dtypes');
        const int64 = Tensor.from('int64', [2, 3], wide ? [0n, -1n, 2n ** 40n + 3n, -(2n ** 62n), 9007199254740993n, 7n] : [0n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 65537n, 7n]);
        const bool = Tensor.from('bool', [5], [1, 0, 0, 1, 1]);
        const float16 = new Tensor('float16', [2, 2], Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]));
        const float32 = Tensor.float32([3], [1.5, -2.25, 3.4028234663852886e38]);
        const feeds = { int64, bool, float16, float32 };
        const expected: Record<string, ExpectedOutput> = {};
        for (const [name, tensor] of Object.entries(feeds)) {
          addInput(graph, name, tensor.dtype, tensor.shape);
          node(graph, 'Identity', [name], [`${name}_out`]);
          addOutput(graph, `${name}_out`, tensor.dtype, tensor.shape);
          expected[`${name}_out`] = { dtype: tensor.dtype, shape: tensor.shape, values: tensor.data as ArrayLike<number> };
        }
        return { graph, feeds, expected };
      },
    },
    {
      name: wide ? 'int64 Add beyond 32 bits and bool Not' : 'int64 Add within 32 bits and bool Not',
      build() {
        const graph = newGraph('integer_math');
        const a = Tensor.from('int64', [3], wide ? [2n ** 40n, -5n, 123456789012n] : [2n ** 30n, -5n, 1234567890n]);
        const b = Tensor.from('int64', [3], wide ? [1n, 2n ** 33n, -123456789012n] : [1n, 2n ** 29n, -1234567890n]);
        const flags = Tensor.from('bool', [3], [1, 0, 1]);
        addInput(graph, 'a', 'int64', [3]);
        addInput(graph, 'b', 'int64', [3]);
        addInput(graph, 'flags', 'bool', [3]);
        node(graph, 'Add', ['a', 'b'], ['sum']);
        node(graph, 'Not', ['flags'], ['inverted']);
        addOutput(graph, 'sum', 'int64', [3]);
        addOutput(graph, 'inverted', 'bool', [3]);
        return {
          graph,
          feeds: { a, b, flags },
          expected: {
            sum: { dtype: 'int64', shape: [3], values: BigInt64Array.from(wide ? [2n ** 40n + 1n, 2n ** 33n - 5n, 0n] : [2n ** 30n + 1n, 2n ** 29n - 5n, 0n]) },
            inverted: { dtype: 'bool', shape: [3], values: [0, 1, 0] },
          },
        };
      },
    },
  ];
}

// ------------------------------------------------------------------------------------------
// Comparison

function toNumbers(values: ArrayLike<number> | ArrayLike<bigint>): (number | bigint)[] {
  return Array.from(values as ArrayLike<number | bigint>);
}

/** '' when `actual` matches; otherwise a description of the first and the worst mismatch. */
export function describeMismatch(
  label: string,
  actual: Tensor | undefined,
  expected: ExpectedOutput,
  tolerance: { relative: number; absolute: number },
): string {
  if (actual === undefined) return `${label}: missing from the results`;
  if (actual.dtype !== expected.dtype) return `${label}: dtype ${actual.dtype}, expected ${expected.dtype}`;
  if (actual.shape.join(',') !== expected.shape.join(',')) {
    return `${label}: shape [${actual.shape.join(', ')}], expected [${expected.shape.join(', ')}]`;
  }
  const want = toNumbers(expected.values);
  const exact = actual.dtype === 'float16' || actual.dtype === 'bool' || !actual.dtype.startsWith('float');
  const got = exact ? toNumbers(actual.data as ArrayLike<number>) : Array.from(actual.toFloat32());
  let mismatches = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let index = 0; index < want.length; index++) {
    const expectedValue = want[index]!;
    const actualValue = got[index]!;
    if (exact) {
      if (actualValue !== expectedValue) {
        mismatches++;
        if (worst < 0) worst = index;
      }
      continue;
    }
    const difference = Math.abs(Number(actualValue) - Number(expectedValue));
    const allowed = tolerance.absolute + tolerance.relative * Math.abs(Number(expectedValue));
    if (!(difference <= allowed) && !(Number.isNaN(Number(actualValue)) && Number.isNaN(Number(expectedValue)))) {
      mismatches++;
      if (difference - allowed > worstExcess || worst < 0) {
        worst = index;
        worstExcess = difference - allowed;
      }
    }
  }
  if (mismatches === 0) return '';
  return `${label}: ${mismatches} of ${want.length} elements differ; at index ${worst} got ${String(got[worst])}, expected ${String(want[worst])}`;
}

// ------------------------------------------------------------------------------------------
// The suite

/**
 * Defines the conformance tests every razor Backend should pass: operators checked against
 * reference code, dtypes, output selection, repeated runs, errors, and real PyTorch models
 * (core's model fixtures) against PyTorch's outputs. Pass your test framework's
 * `describe`, `it` and `expect`:
 *
 * ```ts
 * import { describe, expect, it } from 'vitest';
 * defineBackendConformanceSuite({ describe, it, expect }, () => createMyBackend());
 * ```
 */
export function defineBackendConformanceSuite(
  api: ConformanceTestApi,
  getBackend: () => Backend | Promise<Backend>,
  options: BackendConformanceOptions = {},
): void {
  const { describe, it, expect } = api;
  const tolerance = options.tolerance ?? { relative: 1e-4, absolute: 1e-4 };
  const sessionOptions = options.sessionOptions ?? {};
  const timeout = options.timeout;

  async function withSession<T>(model: Graph | Uint8Array, body: (session: BackendSession) => Promise<T>): Promise<T> {
    const backend = await getBackend();
    const session = await backend.createSession(model, sessionOptions);
    try {
      return await body(session);
    } finally {
      await session.release();
    }
  }

  function checkOutputs(results: Record<string, Tensor>, expected: Record<string, ExpectedOutput>): void {
    expect(Object.keys(results).sort()).toEqual(Object.keys(expected).sort());
    const problems = Object.entries(expected)
      .map(([name, want]) => describeMismatch(`output '${name}'`, results[name], want, tolerance))
      .filter((problem) => problem !== '');
    expect(problems).toEqual([]);
  }

  describe(options.title ?? 'backend conformance', () => {
    it('declares the specification version and a name', async () => {
      const backend = await getBackend();
      expect(backend.specificationVersion).toBe('v1');
      expect(typeof backend.name === 'string' && backend.name.length > 0).toBe(true);
    });

    describe('operators against reference code', () => {
      const cases = [...convCases(), ...normalizationAndActivationCases(), ...arithmeticCases(), ...poolingAndReductionCases(), ...shapeCases(), ...dtypeCases(options.integers ?? 'int64')];
      for (const testCase of cases) {
        it(testCase.name, async () => {
          const { graph, feeds, expected, fetches } = testCase.build();
          const results = await withSession(graph, (session) => session.run(feeds, fetches));
          checkOutputs(results, expected);
        }, timeout);
      }
    });

    describe('sessions', () => {
      function twoOutputGraph(): { graph: Graph; x: ReturnType<typeof random> } {
        const x = random([2, 3], 60);
        const graph = newGraph('two_outputs');
        addInput(graph, 'x', 'float32', [2, 3]);
        node(graph, 'Relu', ['x'], ['positive']);
        node(graph, 'Neg', ['x'], ['negated']);
        addOutput(graph, 'positive', 'float32', [2, 3]);
        addOutput(graph, 'negated', 'float32', [2, 3]);
        return { graph, x };
      }

      it('reports input and output names and returns every output by default', async () => {
        const { graph, x } = twoOutputGraph();
        await withSession(graph, async (session) => {
          expect([...session.inputNames]).toEqual(['x']);
          expect([...session.outputNames]).toEqual(['positive', 'negated']);
          const results = await session.run({ x: x.tensor });
          checkOutputs(results, {
            positive: floatOutput(ref.map(x.value, (value) => Math.max(value, 0))),
            negated: floatOutput(ref.map(x.value, (value) => -value)),
          });
        });
      }, timeout);

      it('returns only the fetched outputs', async () => {
        const { graph, x } = twoOutputGraph();
        await withSession(graph, async (session) => {
          const results = await session.run({ x: x.tensor }, ['negated']);
          checkOutputs(results, { negated: floatOutput(ref.map(x.value, (value) => -value)) });
        });
      }, timeout);

      it('runs repeatedly with the same results and uses each run’s feeds', async () => {
        const x = random([1, 2, 5, 5], 61);
        const other = random([1, 2, 5, 5], 62);
        const w = random([3, 2, 3, 3], 63);
        const graph = newGraph('repeat');
        addInput(graph, 'x', 'float32', x.tensor.shape);
        graph.addInitializer('w', w.tensor);
        node(graph, 'Conv', ['x', 'w'], ['y'], { pads: [1, 1, 1, 1] });
        addOutput(graph, 'y', 'float32', [1, 3, 5, 5]);
        await withSession(graph, async (session) => {
          const first = await session.run({ x: x.tensor });
          const runs = [];
          for (let round = 0; round < 3; round++) runs.push(await session.run({ x: x.tensor }));
          for (const run of runs) expect(Array.from(run.y!.data as Float32Array)).toEqual(Array.from(first.y!.data as Float32Array));
          const changed = await session.run({ x: other.tensor });
          checkOutputs(changed, { y: floatOutput(ref.conv(other.value, w.value, undefined, { pads: [1, 1, 1, 1] })) });
          checkOutputs(first, { y: floatOutput(ref.conv(x.value, w.value, undefined, { pads: [1, 1, 1, 1] })) });
        });
      }, timeout);

      it('rejects a missing feed and an unknown fetch with a RazorError', async () => {
        const { graph, x } = twoOutputGraph();
        await withSession(graph, async (session) => {
          const missing = await session.run({}).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(RazorError.isInstance(missing)).toBe(true);
          expect((missing as RazorError).message.includes("'x'")).toBe(true);
          const unknown = await session.run({ x: x.tensor }, ['nonexistent']).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(RazorError.isInstance(unknown)).toBe(true);
        });
      }, timeout);

      if (options.integers === 'int32') {
        it('refuses an int64 feed beyond the int32 range with RAZOR_UNSUPPORTED_DTYPE naming the input', async () => {
          const graph = newGraph('wide_integers');
          addInput(graph, 'wide', 'int64', [2]);
          node(graph, 'Identity', ['wide'], ['same']);
          addOutput(graph, 'same', 'int64', [2]);
          await withSession(graph, async (session) => {
            const error = await session.run({ wide: Tensor.from('int64', [2], [1n, 2n ** 40n]) }).then(
              () => undefined,
              (thrown: unknown) => thrown,
            );
            expect(RazorError.isInstance(error)).toBe(true);
            expect((error as RazorError).code).toBe('RAZOR_UNSUPPORTED_DTYPE');
            expect((error as RazorError).message.includes("'wide'")).toBe(true);
          });
        }, timeout);
      }
    });

    const directory = options.fixturesDirectory ?? defaultModelFixturesDirectory();
    if (directory !== undefined) {
      describe('PyTorch models', () => {
        const fixtures = listModelFixtures(directory).filter(options.fixtureFilter ?? (() => true));
        it('has model fixtures to run', async () => {
          expect(fixtures.length > 0).toBe(true);
        });
        for (const fixture of fixtures) {
          it(`${fixture.name} (opset ${fixture.opset}) matches PyTorch`, async () => {
            const loaded = loadModelFixture(directory, fixture);
            const results = await withSession(loaded.modelBytes, (session) => session.run(loaded.inputs));
            const expected: Record<string, ExpectedOutput> = {};
            for (const [name, tensor] of Object.entries(loaded.expectedOutputs)) {
              expected[name] = { dtype: tensor.dtype, shape: tensor.shape, values: tensor.data as ArrayLike<number> };
            }
            checkOutputs(results, expected);
          }, timeout);
        }
      });
    }
  });
}

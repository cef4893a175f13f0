import { Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { expectMatchesOnnxruntime, seeded, singleOp, tfjsBackend } from '../__fixtures__/compare.js';

const x = seeded([2, 3, 4], 1, 3);
const positive = Tensor.float32([2, 3, 4], x.toFloat32().map((value) => Math.abs(value) + 0.1));

describe('elementwise kernels match onnxruntime', () => {
  const unaryCases: [string, Tensor, Record<string, number | string>?][] = [
    ['Relu', x],
    ['LeakyRelu', x, { alpha: 0.3 }],
    ['Sigmoid', x],
    ['Tanh', x],
    ['HardSigmoid', x, { alpha: 0.25, beta: 0.4 }],
    ['HardSwish', x],
    ['Elu', x, { alpha: 0.7 }],
    ['Selu', x],
    ['Softplus', x],
    ['Softsign', x],
    ['Erf', x],
    ['Sqrt', positive],
    ['Exp', x],
    ['Log', positive],
    ['Sin', x],
    ['Cos', x],
    ['Neg', x],
    ['Abs', x],
    ['Reciprocal', positive],
    ['Sign', x],
    ['Floor', x],
    ['Ceil', x],
    ['Round', Tensor.float32([6], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4])],
    ['IsNaN', Tensor.float32([3], [Number.NaN, 1, Number.POSITIVE_INFINITY])],
  ];
  for (const [op, input, attributes] of unaryCases) {
    it(op, async () => {
      const { graph, feeds } = singleOp(op, [input], attributes);
      await expectMatchesOnnxruntime(graph, feeds, { tolerance: { absolute: 1e-5, relative: 1e-5 } });
    });
  }
  it('Gelu, exact and tanh', async () => {
    for (const approximate of ['none', 'tanh']) {
      const { graph, feeds } = singleOp('Gelu', [x], { approximate }, { opset: 20 });
      await expectMatchesOnnxruntime(graph, feeds);
    }
  });

  const y = seeded([3, 1], 2, 2);
  for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Max', 'Min', 'Sum', 'Mean']) {
    it(`${op} with broadcasting`, async () => {
      const { graph, feeds } = singleOp(op, [x, { initializer: y }]);
      await expectMatchesOnnxruntime(graph, feeds);
    });
  }
  it('integer Div truncates toward zero and int8 Add wraps', async () => {
    const a = Tensor.from('int32', [4], [7, -7, 7, -7]);
    const b = Tensor.from('int32', [4], [2, 2, -2, -2]);
    await expectMatchesOnnxruntime(singleOp('Div', [a, b]).graph, { x0: a, x1: b });
    const c = Tensor.from('int8', [3], [100, -100, 5]);
    const d = Tensor.from('int8', [3], [100, -100, 5]);
    await expectMatchesOnnxruntime(singleOp('Add', [c, d]).graph, { x0: c, x1: d });
  });
  it('Pow, Clip, Where, PRelu and logic ops', async () => {
    await expectMatchesOnnxruntime(...(Object.values(singleOp('Pow', [positive, { initializer: Tensor.scalar('float32', 1.7) }])) as [never, never]));
    await expectMatchesOnnxruntime(...(Object.values(singleOp('Clip', [x, { initializer: Tensor.scalar('float32', -1) }, { initializer: Tensor.scalar('float32', 0.5) }])) as [never, never]));
    await expectMatchesOnnxruntime(...(Object.values(singleOp('Clip', [x, undefined, { initializer: Tensor.scalar('float32', 0.5) }])) as [never, never]));
    const condition = Tensor.from('bool', [3, 1], [1, 0, 1]);
    await expectMatchesOnnxruntime(...(Object.values(singleOp('Where', [condition, x, { initializer: Tensor.scalar('float32', 9) }])) as [never, never]));
    const left = Tensor.from('bool', [4], [1, 1, 0, 0]);
    const right = Tensor.from('bool', [4], [0, 0, 1, 1]);
    const choose = Tensor.from('bool', [4], [1, 0, 1, 0]);
    // onnxruntime has no bool Where kernel: the expected selection is written out.
    for (const engine of ['cpu', 'wasm']) {
      const session = await tfjsBackend.createSession(singleOp('Where', [choose, left, right]).graph, { executionProviders: [engine] });
      const { y0 } = await session.run({ x0: choose, x1: left, x2: right });
      await session.release();
      expect(y0!.dtype).toBe('bool');
      expect(y0!.toNumbers(), engine).toEqual([1, 0, 0, 1]);
    }
    await expectMatchesOnnxruntime(...(Object.values(singleOp('PRelu', [x, { initializer: Tensor.float32([3, 1], [0.1, 0.2, 0.3]) }])) as [never, never]));
    const p = Tensor.from('bool', [4], [0, 0, 1, 1]);
    const q = Tensor.from('bool', [4], [0, 1, 0, 1]);
    for (const op of ['And', 'Or', 'Xor']) await expectMatchesOnnxruntime(singleOp(op, [p, q]).graph, { x0: p, x1: q });
    await expectMatchesOnnxruntime(singleOp('Not', [p]).graph, { x0: p });
  });
});

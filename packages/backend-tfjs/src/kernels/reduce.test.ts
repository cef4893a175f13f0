import { Tensor, type DType } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { expectMatchesOnnxruntime, seeded, singleOp, tfjsBackend, type OpInput } from '../__fixtures__/compare.js';

const reduceOps = ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];
/** The opset from which each reduction takes its axes as an input. */
const axesInputSince = (op: string): number => (op === 'ReduceSum' ? 13 : 18);

const x = seeded([2, 3, 4], 11, 2);
/** Positive values, so that ReduceLogSum is defined. */
const positive = Tensor.float32([2, 3, 4], x.toFloat32().map((value) => Math.abs(value) + 0.25));
/** Values near 1, so that ReduceProd stays well scaled. */
const nearOne = Tensor.float32([2, 3, 4], x.toFloat32().map((value) => 1 + value / 4));

function inputFor(op: string): Tensor {
  if (op === 'ReduceLogSum') return positive;
  if (op === 'ReduceProd') return nearOne;
  return x;
}

const axesTensor = (axes: number[]): { initializer: Tensor } => ({ initializer: Tensor.from('int64', [axes.length], axes.map((axis) => BigInt(axis))) });

async function check(op: string, inputs: OpInput[], attributes: Record<string, number | number[] | string> = {}, options: { opset?: number; outputs?: number } = {}): Promise<Record<string, Tensor>> {
  const { graph, feeds } = singleOp(op, inputs, attributes, options);
  return expectMatchesOnnxruntime(graph, feeds, { tolerance: { absolute: 1e-5, relative: 1e-4 } });
}

describe('reductions match onnxruntime', () => {
  for (const op of reduceOps) {
    it(`${op}: axes attribute, keepdims, negative and empty axes`, async () => {
      const opset = axesInputSince(op) - 2;
      const input = inputFor(op);
      await check(op, [input], { axes: [1] }, { opset });
      await check(op, [input], { axes: [0, -1], keepdims: 0 }, { opset });
      await check(op, [input], { axes: [2, 0] }, { opset });
      // No axes: every axis.
      await check(op, [input], {}, { opset });
      await check(op, [input], { keepdims: 0 }, { opset });
    });

    it(`${op}: axes input (opset ${axesInputSince(op)} and 18), empty axes, noop_with_empty_axes`, async () => {
      const input = inputFor(op);
      for (const opset of new Set([axesInputSince(op), 18])) {
        await check(op, [input, axesTensor([-2])], {}, { opset });
        await check(op, [input, axesTensor([0, 2])], { keepdims: 0 }, { opset });
        await check(op, [input, axesTensor([])], { keepdims: 0 }, { opset });
        await check(op, [input], {}, { opset });
        const identity = await check(op, [input, axesTensor([])], { noop_with_empty_axes: 1 }, { opset });
        expect([...identity.y0!.shape]).toEqual([2, 3, 4]);
        await check(op, [input], { noop_with_empty_axes: 1, keepdims: 0 }, { opset });
        await check(op, [input, axesTensor([1])], { noop_with_empty_axes: 1, keepdims: 0 }, { opset });
      }
    });

    it(`${op}: int32 and int64 inputs`, async () => {
      const nonNegative = op === 'ReduceLogSum' || op === 'ReduceLogSumExp';
      const small = op === 'ReduceProd' || op === 'ReduceLogSumExp';
      for (const dtype of ['int32', 'int64'] as DType[]) {
        const values = seeded([3, 5], 23, small ? 4 : 50, 'float32').toFloat32().map((value) => Math.trunc(nonNegative ? Math.abs(value) + 1 : value));
        const input = Tensor.from(dtype, [3, 5], dtype === 'int64' ? Array.from(values, (value) => BigInt(value)) : Array.from(values));
        await check(op, [input, axesTensor([1])], {}, { opset: 18 });
        await check(op, [input, axesTensor([0])], { keepdims: 0 }, { opset: 18 });
        await check(op, [input], {}, { opset: 18 });
      }
      // Over no axes (noop_with_empty_axes), on an input with a dimension of 1.
      const column = Tensor.from('int32', [3, 1], [4, -2, 9].map((value) => (nonNegative ? Math.abs(value) : value)));
      await check(op, [column], { noop_with_empty_axes: 1, keepdims: 0 }, { opset: 18 });
    });
  }

  it('ReduceMean of integers truncates toward zero', async () => {
    const input = Tensor.from('int32', [2, 3], [-7, 2, -3, 4, 5, 8]);
    const out = await check('ReduceMean', [input], { axes: [1], keepdims: 0 }, { opset: 13 });
    expect(Array.from(out.y0!.data as Int32Array)).toEqual([-2, 5]);
  });

  it('ReduceMax and ReduceMin on int8, uint8 and bool (opset 20)', async () => {
    const int8 = Tensor.from('int8', [2, 4], [-128, 5, 127, -3, 0, 0, -1, 1]);
    const uint8 = Tensor.from('uint8', [2, 4], [255, 5, 0, 3, 9, 9, 1, 200]);
    const bool = Tensor.from('bool', [2, 3], [1, 0, 1, 0, 0, 0]);
    for (const op of ['ReduceMax', 'ReduceMin']) {
      await check(op, [int8], { axes: [1] }, { opset: 13 });
      await check(op, [uint8], { axes: [0], keepdims: 0 }, { opset: 13 });
      await check(op, [bool, axesTensor([1])], {}, { opset: 20 });
      await check(op, [bool], { keepdims: 0 }, { opset: 20 });
    }
  });

  it('rank-0 inputs reduce over no axes', async () => {
    for (const op of reduceOps) {
      await check(op, [Tensor.scalar('float32', op === 'ReduceLogSum' ? 2.5 : -1.5)], { keepdims: 0 }, { opset: 13 });
      await check(op, [Tensor.scalar('int32', op === 'ReduceLogSum' ? 9 : -3)], {}, { opset: 18 });
    }
  });

  it('ReduceSum over the batch axes of a 4-D gradient', async () => {
    const gradient = seeded([4, 8, 5, 5], 5, 1);
    await check('ReduceSum', [gradient, axesTensor([0, 2, 3])], { keepdims: 0 }, { opset: 13 });
    await check('ReduceSum', [gradient], { axes: [0, 2, 3] }, { opset: 11 });
    await check('ReduceMean', [gradient], { axes: [2, 3], keepdims: 1 }, { opset: 13 });
  });
});

describe('ArgMax and ArgMin match onnxruntime', () => {
  // Repeated values exercise first and last tie-breaking.
  const ties = Tensor.float32([3, 4], [1, 3, 3, 0, 2, 2, 2, 2, -1, 5, -1, 5]);
  for (const op of ['ArgMax', 'ArgMin']) {
    it(`${op}: axis, keepdims, select_last_index`, async () => {
      for (const axis of [0, 1, -1]) {
        for (const keepdims of [0, 1]) {
          for (const selectLastIndex of [0, 1]) {
            const out = await check(op, [ties], { axis, keepdims, select_last_index: selectLastIndex });
            expect(out.y0!.dtype).toBe('int64');
          }
        }
      }
      await check(op, [x], { axis: 1 });
      await check(op, [x], {}, { opset: 11 });
    });
    it(`${op}: integer inputs`, async () => {
      const int32 = Tensor.from('int32', [2, 5], [3, -1, 3, 7, 7, 0, 0, -5, 2, -5]);
      const int64 = Tensor.from('int64', [2, 5], [3n, -1n, 3n, 7n, 7n, 0n, 0n, -5n, 2n, -5n]);
      const uint8 = Tensor.from('uint8', [2, 5], [3, 1, 3, 7, 7, 0, 0, 5, 2, 5]);
      for (const input of [int32, int64, uint8]) {
        await check(op, [input], { axis: 1, keepdims: 0 });
        await check(op, [input], { axis: 1, select_last_index: 1 });
      }
    });
  }
});

describe('Softmax, LogSoftmax and Hardmax match onnxruntime', () => {
  const fourD = seeded([2, 3, 2, 4], 3, 3);
  const trailingOnes = seeded([3, 5, 1, 1], 4, 3);
  // Rows of repeated maxima: Hardmax marks the first.
  const tied = Tensor.float32([2, 3, 4], [1, 4, 4, 0, 2, 2, 2, 2, 0, 1, 0, 1, 5, 5, 5, 5, -1, 3, 3, -1, 9, 1, 9, 9]);
  for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
    const input = op === 'Hardmax' ? tied : fourD;
    it(`${op}: opset 11 and 12 read the input as a matrix around axis`, async () => {
      for (const opset of [11, 12]) {
        await check(op, [input], {}, { opset });
        await check(op, [input], { axis: 0 }, { opset });
        await check(op, [input], { axis: 2 }, { opset });
        await check(op, [input], { axis: -1 }, { opset });
      }
      await check(op, [seeded([4, 6], 9, 3)], {}, { opset: 11 });
      await check(op, [Tensor.float32([5], [0.5, 2, -1, 2, 0])], { axis: 0 }, { opset: 11 });
    });
    it(`${op}: opset 13 runs along one axis`, async () => {
      for (const opset of [13, 17]) {
        await check(op, [input], {}, { opset });
        await check(op, [input], { axis: 1 }, { opset });
        await check(op, [input], { axis: 0 }, { opset });
        await check(op, [input], { axis: -2 }, { opset });
      }
      await check(op, [Tensor.float32([5], [0.5, 2, -1, 2, 0])], {}, { opset: 13 });
      await check(op, [op === 'Hardmax' ? Tensor.float32([3, 5, 1, 1], trailingOnes.toFloat32().map(Math.round)) : trailingOnes], { axis: 1 }, { opset: 13 });
    });
  }
});

describe('SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss match onnxruntime', () => {
  const scores2d = seeded([6, 5], 31, 3);
  const labels2d = [0, 4, 2, 2, 1, 3];
  const scores4d = seeded([2, 4, 3, 2], 32, 3);
  const labels4d = [0, 3, 1, 2, 2, 0, 3, 3, 1, 0, 2, 1];
  const weights5 = Tensor.float32([5], [0.5, 1, 2, 0.25, 1.5]);
  const weights4 = Tensor.float32([4], [1.5, 0.5, 2, 1]);
  const labelTensor = (dtype: 'int32' | 'int64', shape: number[], values: number[]): Tensor =>
    Tensor.from(dtype, shape, dtype === 'int64' ? values.map((value) => BigInt(value)) : values);
  /** log-probabilities, as NegativeLogLikelihoodLoss expects (any floats work for the comparison). */
  const logProb = (scores: Tensor): Tensor => Tensor.float32([...scores.shape], scores.toFloat32().map((value) => -Math.abs(value)));

  const cases: { name: string; scores: Tensor; shape: number[]; labels: number[]; weights: Tensor; ignored: number }[] = [
    { name: '[N, C]', scores: scores2d, shape: [6], labels: labels2d, weights: weights5, ignored: 2 },
    { name: '[N, C, d1, d2]', scores: scores4d, shape: [2, 3, 2], labels: labels4d, weights: weights4, ignored: 3 },
  ];
  for (const { name, scores, shape, labels, weights, ignored } of cases) {
    for (const op of ['SoftmaxCrossEntropyLoss', 'NegativeLogLikelihoodLoss']) {
      const input = op === 'SoftmaxCrossEntropyLoss' ? scores : logProb(scores);
      const outputs = op === 'SoftmaxCrossEntropyLoss' ? 2 : 1;
      it(`${op} ${name}: reductions, weights, ignore_index, int32 and int64 labels`, async () => {
        for (const dtype of ['int32', 'int64'] as const) {
          const target = labelTensor(dtype, shape, labels);
          for (const reduction of ['none', 'sum', 'mean']) {
            const out = await check(op, [input, target], { reduction }, { outputs });
            expect([...out.y0!.shape]).toEqual(reduction === 'none' ? shape : []);
            await check(op, [input, target, weights], { reduction }, { outputs });
            await check(op, [input, target, weights], { reduction, ignore_index: ignored }, { outputs });
            await check(op, [input, target], { reduction, ignore_index: ignored }, { outputs });
          }
        }
      });
      it(`${op} ${name}: opsets 12 and 13, default reduction, ignore_index outside the classes`, async () => {
        const withIgnored = labels.map((label, index) => (index % 3 === 1 ? -100 : label));
        for (const opset of [12, 13]) {
          await check(op, [input, labelTensor('int64', shape, withIgnored)], { ignore_index: -100 }, { opset, outputs });
          await check(op, [input, labelTensor('int64', shape, withIgnored), weights], { ignore_index: -100 }, { opset, outputs });
        }
      });
    }
  }

  it('SoftmaxCrossEntropyLoss without the log_prob output', async () => {
    await check('SoftmaxCrossEntropyLoss', [scores2d, labelTensor('int64', [6], labels2d)], { reduction: 'mean' }, { outputs: 1 });
  });

  it('a label outside the classes gives NaN, not a value from another element', async () => {
    const { graph, feeds } = singleOp('NegativeLogLikelihoodLoss', [logProb(scores2d), labelTensor('int64', [6], [0, 5, 2, -1, 1, 3])], { reduction: 'none' });
    for (const engine of ['cpu', 'wasm']) {
      const session = await tfjsBackend.createSession(graph, { executionProviders: [engine] });
      const loss = (await session.run(feeds)).y0!.toFloat32();
      await session.release();
      expect(Array.from(loss, Number.isNaN)).toEqual([false, true, false, true, false, false]);
      const values = logProb(scores2d).toFloat32();
      expect(loss[0]).toBeCloseTo(-values[0]!, 6);
      expect(loss[5]).toBeCloseTo(-values[5 * 5 + 3]!, 6);
    }
  });
});

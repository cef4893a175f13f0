// evaluateClassifier on onnxruntime: top-1/top-5/loss against values computed here, padding of a
// short last batch to a fixed batch size, and errors.
import { Graph, Tensor, evaluateClassifier } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { describe, expect, it } from 'vitest';

const backend = createOnnxruntimeBackend();

/** logits = x · 2 (so the session does real work), x [batch, 6]. */
function scaleGraph(batch: number | string): Graph {
  const graph = new Graph('scale');
  graph.opsetImports.set('', 17);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [batch, 6] } });
  graph.initializers.set('two', Tensor.from('float32', [], [2]));
  graph.addNode({ opType: 'Mul', inputs: ['x', 'two'], outputs: ['logits'] });
  graph.outputs.push({ name: 'logits', type: { dtype: 'float32', shape: [batch, 6] } });
  return graph;
}

function batchOf(rows: number[][], labels: number[]): { images: Tensor<'float32'>; labels: Tensor<'int64'> } {
  return { images: Tensor.from('float32', [rows.length, 6], rows.flat()), labels: Tensor.from('int64', [labels.length], labels) };
}

async function* batches(...list: ReturnType<typeof batchOf>[]): AsyncGenerator<ReturnType<typeof batchOf>> {
  yield* list;
}

const rowsA = [
  [6, 5, 4, 3, 2, 1], // label 0: top-1
  [1, 6, 5, 4, 3, 2], // label 5: rank 6, outside top-5
  [1, 2, 3, 4, 5, 6], // label 1: rank 5, top-5 only
];
const rowsB = [[0, 0, 0, 9, 0, 0]]; // label 3: top-1

function expected(rows: number[][], labels: number[]): { loss: number; top1: number; top5: number } {
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  rows.forEach((row, index) => {
    const logits = row.map((value) => value * 2);
    const max = Math.max(...logits);
    const logSum = max + Math.log(logits.reduce((sum, value) => sum + Math.exp(value - max), 0));
    loss += logSum - logits[labels[index]!]!;
    const above = logits.filter((value) => value > logits[labels[index]!]!).length;
    if (above < 1) top1++;
    if (above < 5) top5++;
  });
  return { loss: loss / rows.length, top1: top1 / rows.length, top5: top5 / rows.length };
}

describe('evaluateClassifier', () => {
  it('computes loss, top-1 and top-5 over batches, padding a short batch to a fixed batch size', async () => {
    const reference = expected([...rowsA, ...rowsB], [0, 5, 1, 3]);
    for (const batch of [3, 'batch'] as const) {
      const session = await backend.createSession(scaleGraph(batch));
      const seen: number[] = [];
      const result = await evaluateClassifier(session, batches(batchOf(rowsA, [0, 5, 1]), batchOf(rowsB, [3])), {
        input: 'x',
        output: 'logits',
        ...(batch === 3 ? { fixedBatch: 3 } : {}),
        onBatch: (samples) => seen.push(samples),
      });
      await session.release();
      expect(result.samples).toBe(4);
      expect(result.top1).toBeCloseTo(reference.top1, 12);
      expect(result.top5).toBeCloseTo(reference.top5, 12);
      expect(result.loss).toBeCloseTo(reference.loss, 5);
      expect(seen).toEqual([3, 4]);
    }
  });

  it('refuses batches larger than the fixed batch and outputs that are not logits', async () => {
    const session = await backend.createSession(scaleGraph(3));
    await expect(evaluateClassifier(session, batches(batchOf([...rowsA, ...rowsB], [0, 5, 1, 3])), { input: 'x', output: 'logits', fixedBatch: 3 })).rejects.toMatchObject({
      code: 'RAZOR_SHAPE_MISMATCH',
      message: expect.stringMatching(/batches of 4 do not fit the graph's fixed batch 3/),
    });
    await session.release();
  });
});

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readTensorFile } from '../io/tensor-file.js';
import { Graph, type Dim } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { loadOnnx } from '../onnx/onnx-reader.js';
import { defaultRegistry } from '../ops/builtin.js';
import { foldConstants } from './constant-folding.js';
import { inferShapes } from './infer-shapes.js';
import { validateGraph } from './validate.js';

const fixtures = fileURLToPath(new URL('../__fixtures__/models/', import.meta.url));

interface ManifestEntry {
  name: string;
  model: string;
  inputs: { name: string; shape: number[]; file: string }[];
  outputs: { name: string; dtype: string; shape: number[]; file: string }[];
}
const manifest = JSON.parse(readFileSync(`${fixtures}manifest.json`, 'utf8')) as { models: ManifestEntry[] };
const entry = (name: string): ManifestEntry => manifest.models.find((model) => model.name === name)!;
const opTypes = (graph: Graph): string[] => [...new Set(graph.nodes.map((node) => node.opType))].sort();

function flattenChain(batch: Dim): Graph {
  const graph = new Graph('chain');
  graph.opsetImports.set('', 13);
  graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [batch, 3, 4, 4] } }];
  graph.outputs = [{ name: 'y' }];
  graph.initializers.set('zero', Tensor.scalar('int64', 0));
  graph.initializers.set('axes0', Tensor.int64([0]));
  graph.initializers.set('minus_one', Tensor.int64([-1]));
  graph.addNode({ opType: 'Shape', inputs: ['x'], outputs: ['shape'] });
  graph.addNode({ opType: 'Gather', inputs: ['shape', 'zero'], outputs: ['batch_size'], attributes: { axis: 0 } });
  graph.addNode({ opType: 'Unsqueeze', inputs: ['batch_size', 'axes0'], outputs: ['batch_1d'] });
  graph.addNode({ opType: 'Concat', inputs: ['batch_1d', 'minus_one'], outputs: ['new_shape'], attributes: { axis: 0 } });
  graph.addNode({ opType: 'Reshape', inputs: ['x', 'new_shape'], outputs: ['y'], name: 'reshape' });
  return graph;
}

describe('foldConstants on handmade graphs', () => {
  it('folds a static Shape chain into one shape initializer and drops the inputs only it read', () => {
    const graph = flattenChain(2);
    const summary = foldConstants(graph);
    expect(opTypes(graph)).toEqual(['Reshape']);
    expect(summary.foldedByOpType).toEqual({ Shape: 1, Gather: 1, Unsqueeze: 1, Concat: 1 });
    expect(graph.initializers.get('new_shape')?.toNumbers()).toEqual([2, -1]);
    expect([...graph.initializers.keys()]).toEqual(['new_shape']);
    expect(summary.removedInitializers).toBe(3);
    expect(summary.addedInitializers).toEqual(['new_shape']);
    expect(graph.typeOf('y')?.shape).toEqual([2, 48]);
    validateGraph(graph);
  });

  it('leaves the chain when the batch is symbolic', () => {
    const graph = flattenChain('batch');
    const summary = foldConstants(graph);
    expect(summary.foldedNodes).toBe(0);
    expect(opTypes(graph)).toEqual(['Concat', 'Gather', 'Reshape', 'Shape', 'Unsqueeze']);
    expect(graph.typeOf('y')?.shape).toEqual(['batch', 48]);
  });

  it('does not fold outputs over maxElements', () => {
    const graph = new Graph();
    graph.outputs = [{ name: 'big' }];
    graph.initializers.set('shape', Tensor.int64([5000, 5000]));
    graph.addNode({ opType: 'ConstantOfShape', inputs: ['shape'], outputs: ['big'] });
    expect(foldConstants(graph).foldedNodes).toBe(0);
    expect(graph.typeOf('big')).toEqual({ dtype: 'float32', shape: [5000, 5000] });
    expect(foldConstants(graph, { maxElements: 30_000_000 }).foldedNodes).toBe(1);
    expect(graph.initializers.get('big')?.size).toBe(25_000_000);
  });

  it('never folds nondeterministic ops or ops with subgraphs, even when a definition could evaluate them', () => {
    const registry = defaultRegistry.clone();
    registry.register({
      opType: 'RandomUniformLike',
      infer: (ctx) => ({ types: [ctx.requireInput(0)] }),
      evaluate: (ctx) => [ctx.inputs[0]!],
    });
    const branch = new Graph('then');
    branch.outputs = [{ name: 'branch_out' }];
    branch.initializers.set('branch_out', Tensor.float32([1], [1]));
    const graph = new Graph();
    graph.initializers.set('seed_shape', Tensor.float32([2], [0, 0]));
    graph.initializers.set('always', Tensor.scalar('bool', true));
    graph.outputs = [{ name: 'noise' }, { name: 'picked' }];
    graph.addNode({ opType: 'RandomUniformLike', inputs: ['seed_shape'], outputs: ['noise'] });
    graph.addNode({ opType: 'If', inputs: ['always'], outputs: ['picked'], attributes: { then_branch: branch, else_branch: branch.clone() } });
    const summary = foldConstants(graph, { registry });
    expect(summary.foldedNodes).toBe(0);
    expect(opTypes(graph)).toEqual(['If', 'RandomUniformLike']);
  });

  it('reads an initializer directly instead of copying it through Identity, and drops unread Dropout masks', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [3] } }];
    graph.outputs = [{ name: 'y' }];
    graph.initializers.set('weight', Tensor.float32([3], [1, 2, 3]));
    graph.addNode({ opType: 'Identity', inputs: ['weight'], outputs: ['weight_alias'] });
    graph.addNode({ opType: 'Dropout', inputs: ['weight_alias'], outputs: ['dropped', 'mask'] });
    graph.addNode({ opType: 'Mul', inputs: ['x', 'dropped'], outputs: ['y'] });
    const summary = foldConstants(graph);
    expect(summary.foldedByOpType).toEqual({ Identity: 1, Dropout: 1 });
    expect(graph.nodes.map((node) => `${node.opType}(${node.inputs.join(', ')})`)).toEqual(['Mul(x, weight)']);
    expect([...graph.initializers.keys()]).toEqual(['weight']);
  });

  it('folds Constant nodes and constant arithmetic feeding a graph output', () => {
    const graph = new Graph();
    graph.outputs = [{ name: 'z' }];
    graph.addNode({ opType: 'Constant', inputs: [], outputs: ['c'], attributes: { value_ints: [4, 5, 6] } });
    graph.addNode({ opType: 'Slice', inputs: ['c', 'starts', 'ends', 'axes', 'steps'], outputs: ['z'] });
    graph.initializers.set('starts', Tensor.int64([-1]));
    graph.initializers.set('ends', Tensor.from('int64', [1], [-9223372036854775807n]));
    graph.initializers.set('axes', Tensor.int64([0]));
    graph.initializers.set('steps', Tensor.int64([-1]));
    foldConstants(graph);
    expect(graph.nodes).toEqual([]);
    expect(graph.initializers.get('z')?.toNumbers()).toEqual([6, 5, 4]);
    expect([...graph.initializers.keys()]).toEqual(['z']);
  });
});

describe('foldConstants on PyTorch exports', () => {
  for (const name of ['resize', 'resize-opset11']) {
    it(`${name}: the static export folds every Shape/Slice/Concat chain into Resize sizes`, async () => {
      const graph = await loadOnnx(`${fixtures}${entry(name).model}`);
      expect(opTypes(graph)).toEqual(['Concat', 'Constant', 'Resize', 'Shape', 'Slice']);
      foldConstants(graph);
      expect(opTypes(graph)).toEqual(['Resize']);
      // The bilinear-to-size branch: sizes = concat(shape(x)[:2], [7, 9]).
      const sizes = graph.nodes.map((node) => graph.initializers.get(node.inputs[3] ?? '')?.toNumbers()).filter(Boolean);
      expect(sizes).toEqual([[1, 2, 7, 9]]);
      for (const output of entry(name).outputs) expect(graph.typeOf(output.name)).toEqual({ dtype: 'float32', shape: output.shape });
      validateGraph(graph);
    });
  }

  it('dynamic-batch: keeps a symbolic batch to the output, and folds the chain once the batch is fixed', async () => {
    const dynamic = await loadOnnx(`${fixtures}dynamic-batch.onnx`);
    foldConstants(dynamic);
    expect(opTypes(dynamic)).toEqual(['Concat', 'Conv', 'Gather', 'Gemm', 'Relu', 'Reshape', 'Shape', 'Unsqueeze']);
    expect(dynamic.typeOf('logits')).toEqual({ dtype: 'float32', shape: ['batch', 5] });
    const reshape = dynamic.nodes.find((node) => node.opType === 'Reshape')!;
    expect(dynamic.typeOf(reshape.outputs[0]!)?.shape?.[0]).toBe('batch');

    const fixed = await loadOnnx(`${fixtures}dynamic-batch.onnx`);
    inferShapes(fixed, { inputShapes: { input: entry('dynamic-batch').inputs[0]!.shape } });
    foldConstants(fixed);
    expect(opTypes(fixed)).toEqual(['Conv', 'Gemm', 'Relu', 'Reshape']);
    const fixedReshape = fixed.nodes.find((node) => node.opType === 'Reshape')!;
    expect(fixed.initializers.get(fixedReshape.inputs[1]!)?.toNumbers()).toEqual([3, -1]);
    expect(fixed.typeOf('logits')).toEqual({ dtype: 'float32', shape: [3, 5] });
  });

  it('shape-ops: with the input shape fixed, no Shape node survives and outputs get PyTorch shapes', async () => {
    const model = entry('shape-ops');
    const graph = await loadOnnx(`${fixtures}${model.model}`);
    expect(graph.nodes.filter((node) => node.opType === 'Shape').length).toBe(5);
    inferShapes(graph, { inputShapes: { input: model.inputs[0]!.shape } });
    foldConstants(graph);
    expect(graph.nodes.filter((node) => ['Shape', 'Gather', 'ConstantOfShape', 'Range', 'Constant'].includes(node.opType) && node.inputs.every((input) => graph.initializers.has(input)))).toEqual([]);
    expect(graph.nodes.some((node) => node.opType === 'Shape')).toBe(false);
    for (const output of model.outputs) expect(graph.typeOf(output.name)?.shape).toEqual(output.shape);
    validateGraph(graph);
  });

  it('shape-ops: evaluating the whole graph with the folding kernels reproduces the PyTorch outputs', async () => {
    const model = entry('shape-ops');
    const graph = await loadOnnx(`${fixtures}${model.model}`);
    const input = await readTensorFile(`${fixtures}${model.inputs[0]!.file}`);
    // The input becomes a constant: every node is then computed by its evaluate kernel.
    graph.inputs = [];
    graph.initializers.set(model.inputs[0]!.name, input);
    const { constants } = inferShapes(graph);
    for (const output of model.outputs) {
      const expected = await readTensorFile(`${fixtures}${output.file}`);
      const actual = constants.get(output.name);
      expect(actual, output.name).toBeDefined();
      expect(actual!.shape, output.name).toEqual(expected.shape);
      expect(actual!.dtype, output.name).toBe(expected.dtype);
      const actualValues = actual!.toNumbers();
      expected.toNumbers().forEach((value, index) => expect(actualValues[index]).toBeCloseTo(value, 5));
    }
  });
});

import { describe, expect, it } from 'vitest';
import { Graph, type Dim } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { defaultRegistry } from '../ops/builtin.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { buildGradients } from './gradients.js';

function input(graph: Graph, name: string, shape: Dim[]): void {
  graph.inputs.push({ name, type: { dtype: 'float32', shape } });
}

function opTypes(graph: Graph, from: number): string[] {
  return graph.nodes.slice(from).map((node) => node.opType);
}

describe('buildGradients', () => {
  it('sums the gradients of a value read twice, and outputs each gradient with its parameter type', () => {
    const graph = new Graph('square');
    input(graph, 'x', [2, 3]);
    graph.addNode({ opType: 'Mul', inputs: ['x', 'x'], outputs: ['square'], name: 'square' });
    graph.addNode({ opType: 'ReduceSum', inputs: ['square'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });

    const { graph: result, gradients } = buildGradients(graph, { loss: 'loss', wrt: ['x'] });
    expect(opTypes(result, 2)).toEqual(['Unsqueeze', 'Expand', 'Mul', 'Mul', 'Sum', 'Identity']);
    expect(gradients).toEqual({ x: 'x_grad' });
    expect(result.outputs.map((output) => output.name)).toEqual(['loss', 'x_grad']);
    expect(result.typeOf('x_grad')).toEqual({ dtype: 'float32', shape: [2, 3] });
    // The source graph is untouched.
    expect(graph.nodes).toHaveLength(2);
    expect(graph.outputs).toHaveLength(1);
  });

  it('reduces a broadcast gradient back to the parameter shape', () => {
    const graph = new Graph('bias');
    input(graph, 'x', [4, 3]);
    graph.initializers.set('bias', Tensor.float32([3], [1, 2, 3]));
    graph.initializers.set('scale', Tensor.float32([4, 1], [1, 2, 3, 4]));
    graph.addNode({ opType: 'Add', inputs: ['x', 'bias'], outputs: ['shifted'] });
    graph.addNode({ opType: 'Mul', inputs: ['shifted', 'scale'], outputs: ['scaled'] });
    graph.addNode({ opType: 'ReduceSum', inputs: ['scaled'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });

    const { graph: result, gradients } = buildGradients(graph, { loss: 'loss', wrt: ['bias', 'scale'] });
    expect(result.typeOf(gradients.bias!)).toEqual({ dtype: 'float32', shape: [3] });
    expect(result.typeOf(gradients.scale!)).toEqual({ dtype: 'float32', shape: [4, 1] });
    // bias [3] against [4, 3]: one leading axis summed away, then reshaped.
    const reductions = result.nodes.filter((node) => node.opType === 'ReduceSum' && node.name.includes('_grad'));
    expect(reductions).toHaveLength(2);
    expect(result.nodes.filter((node) => node.opType === 'Reshape')).toHaveLength(1);
  });

  it('skips shape inputs and nodes with no path from a parameter', () => {
    const graph = new Graph('reshape');
    input(graph, 'x', [2, 6]);
    graph.initializers.set('weight', Tensor.float32([2, 6], new Array<number>(12).fill(0.5)));
    graph.addNode({ opType: 'Mul', inputs: ['x', 'weight'], outputs: ['product'] });
    graph.addNode({ opType: 'Shape', inputs: ['product'], outputs: ['shape'] });
    graph.addNode({ opType: 'Reshape', inputs: ['product', 'shape'], outputs: ['same'] });
    // Round has no gradient rule, but nothing from the parameter flows through it.
    graph.addNode({ opType: 'Round', inputs: ['x'], outputs: ['sine'] });
    graph.addNode({ opType: 'Add', inputs: ['same', 'sine'], outputs: ['sum'] });
    graph.addNode({ opType: 'ReduceMean', inputs: ['sum'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });

    const { graph: result, gradients } = buildGradients(graph, { loss: 'loss', wrt: ['weight'] });
    expect(result.typeOf(gradients.weight!)).toEqual({ dtype: 'float32', shape: [2, 6] });
    const added = result.nodes.slice(graph.nodes.length);
    expect(added.some((node) => node.opType === 'Round' || node.name.startsWith('round'))).toBe(false);
    expect(added.filter((node) => node.opType === 'Sum')).toHaveLength(0);
  });

  it('fails naming the node when a gradient must flow through an op without a rule', () => {
    const graph = new Graph('rounded');
    input(graph, 'x', [3]);
    graph.addNode({ opType: 'Round', inputs: ['x'], outputs: ['sine'], name: 'wave' });
    graph.addNode({ opType: 'ReduceSum', inputs: ['sine'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });

    const error = catchRazorError(() => buildGradients(graph, { loss: 'loss', wrt: ['x'] }));
    expect(error.code).toBe('RAZOR_UNSUPPORTED_OP');
    expect(error.message).toMatch(/node 'wave' \(Round\).*no gradient rule exists for Round/);
  });

  it('gives a zero gradient to a parameter the loss does not read, and rejects unknown names', () => {
    const graph = new Graph('unused');
    input(graph, 'x', [3]);
    graph.initializers.set('unused', Tensor.float32([2], [1, 2]));
    graph.addNode({ opType: 'ReduceSum', inputs: ['x'], outputs: ['loss'], attributes: { keepdims: 0 } });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });

    const { graph: result, gradients } = buildGradients(graph, { loss: 'loss', wrt: ['unused'] });
    expect(result.producer(result.producer(gradients.unused!)!.inputs[0]!)!.opType).toBe('ConstantOfShape');

    expect(catchRazorError(() => buildGradients(graph, { loss: 'missing', wrt: ['x'] })).message).toMatch(/loss 'missing' is not a value/);
    expect(catchRazorError(() => buildGradients(graph, { loss: 'loss', wrt: ['nothing'] })).code).toBe('RAZOR_INVALID_ARGUMENT');
  });

  it('registers gradient rules on the built-in definitions only for the ops that have one', () => {
    for (const opType of ['Conv', 'ConvTranspose', 'Softmax', 'LayerNormalization', 'Resize', 'Upsample', 'Gelu', 'ReduceProd', 'ReduceMax']) {
      expect(defaultRegistry.find(opType)?.gradient, opType).toBeTypeOf('function');
    }
    expect(defaultRegistry.find('Round')?.gradient).toBeUndefined();
  });

  it('leaves without a rule only ops whose outputs are integers, booleans, shapes or piecewise constants, quantization and fused losses', () => {
    const withoutRule = defaultRegistry
      .list()
      .filter(({ domain, opType }) => defaultRegistry.find(opType, domain)?.gradient === undefined)
      .map(({ opType }) => opType)
      .sort();
    expect(withoutRule).toEqual(
      [
        ...['And', 'Or', 'Xor', 'Not', 'Equal', 'Greater', 'GreaterOrEqual', 'Less', 'LessOrEqual', 'IsNaN'],
        ...['ArgMax', 'ArgMin', 'NonZero', 'Shape', 'Size', 'Range', 'Constant', 'ConstantOfShape'],
        ...['Ceil', 'Floor', 'Round', 'Sign', 'Hardmax'],
        ...['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'ConvInteger', 'MatMulInteger', 'QLinearConv', 'QLinearMatMul'],
        ...['QLinearAdd', 'QLinearMul', 'QLinearGlobalAveragePool', 'QLinearAveragePool', 'QLinearConcat', 'QLinearSigmoid', 'QLinearLeakyRelu'],
        ...['QGemm', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul'],
        ...['LpPool', 'GlobalLpPool', 'NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'],
      ].sort(),
    );
  });

  it('takes the count of a mean over a symbolic batch from Shape at run time', () => {
    const graph = new Graph('mean');
    input(graph, 'x', ['N', 3]);
    graph.addNode({ opType: 'ReduceMean', inputs: ['x'], outputs: ['loss'], attributes: { keepdims: 0 }, name: 'mean' });
    graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });
    const { graph: result, gradients } = buildGradients(graph, { loss: 'loss', wrt: ['x'] });
    expect(opTypes(result, 1)).toEqual(['Unsqueeze', 'Shape', 'Expand', 'Shape', 'Gather', 'ReduceProd', 'Cast', 'Reciprocal', 'Mul', 'Identity']);
    expect(result.typeOf(gradients.x!)).toEqual({ dtype: 'float32', shape: ['N', 3] });
  });

  it('sums 2x nearest upsampling back in blocks, and interpolates other resizes by MatMul', () => {
    const build = (attributes: Record<string, string>): string[] => {
      const graph = new Graph('resize');
      graph.opsetImports.set('', 17);
      input(graph, 'x', [1, 2, 3, 4]);
      graph.initializers.set('roi', Tensor.float32([0], []));
      graph.initializers.set('scales', Tensor.float32([4], [1, 1, 2, 2]));
      graph.addNode({ opType: 'Resize', inputs: ['x', 'roi', 'scales'], outputs: ['y'], attributes, name: 'resize' });
      graph.addNode({ opType: 'ReduceSum', inputs: ['y'], outputs: ['loss'], attributes: { keepdims: 0 } });
      graph.outputs.push({ name: 'loss', type: { dtype: 'float32', shape: [] } });
      const { graph: result, gradients } = buildGradients(graph, { loss: 'loss', wrt: ['x'] });
      expect(result.typeOf(gradients.x!)).toEqual({ dtype: 'float32', shape: [1, 2, 3, 4] });
      return opTypes(result, 2).filter((opType) => opType !== 'Unsqueeze' && opType !== 'Expand' && opType !== 'Identity');
    };
    expect(build({ mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' })).toEqual(['Reshape', 'ReduceSum']);
    expect(build({ mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' })).toEqual(['MatMul', 'MatMul']);
  });
});

import { describe, expect, it } from 'vitest';
import { ErrorCodes, RazorError } from '../errors.js';
import { Graph, attr, type Dim } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { defaultRegistry } from '../ops/builtin.js';
import { OpRegistry } from '../ops/registry.js';
import { shapeOps } from '../ops/defs/shape-ops.js';
import { inferShapes } from './infer-shapes.js';

/** x: float32[batch0, 3, 4, 4] -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape(x): PyTorch's x.view(x.size(0), -1). */
function flattenChain(batch: Dim, opset = 13): Graph {
  const graph = new Graph('chain');
  graph.opsetImports.set('', opset);
  graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [batch, 3, 4, 4] } }];
  graph.outputs = [{ name: 'y' }];
  graph.addNode({ opType: 'Shape', inputs: ['x'], outputs: ['shape'], name: 'shape' });
  graph.addNode({ opType: 'Constant', inputs: [], outputs: ['zero'], name: 'zero', attributes: { value: Tensor.scalar('int64', 0) } });
  graph.addNode({ opType: 'Gather', inputs: ['shape', 'zero'], outputs: ['batch_size'], name: 'gather', attributes: { axis: 0 } });
  if (opset >= 13) {
    graph.initializers.set('axes0', Tensor.int64([0]));
    graph.addNode({ opType: 'Unsqueeze', inputs: ['batch_size', 'axes0'], outputs: ['batch_1d'], name: 'unsqueeze' });
  } else {
    graph.addNode({ opType: 'Unsqueeze', inputs: ['batch_size'], outputs: ['batch_1d'], name: 'unsqueeze', attributes: { axes: [0] } });
  }
  graph.initializers.set('minus_one', Tensor.int64([-1]));
  graph.addNode({ opType: 'Concat', inputs: ['batch_1d', 'minus_one'], outputs: ['new_shape'], name: 'concat', attributes: { axis: 0 } });
  graph.addNode({ opType: 'Reshape', inputs: ['x', 'new_shape'], outputs: ['y'], name: 'reshape' });
  return graph;
}

describe('inferShapes', () => {
  it('gives the exact shape of a Shape->Gather->Unsqueeze->Concat->Reshape chain on a static input', () => {
    const graph = flattenChain(2);
    const result = inferShapes(graph);
    expect(graph.typeOf('y')).toEqual({ dtype: 'float32', shape: [2, 48] });
    expect(graph.typeOf('shape')).toEqual({ dtype: 'int64', shape: [4] });
    expect(graph.typeOf('batch_size')).toEqual({ dtype: 'int64', shape: [] });
    expect(result.constants.get('new_shape')?.toNumbers()).toEqual([2, -1]);
    expect(result.constants.get('shape')?.toNumbers()).toEqual([2, 3, 4, 4]);
    expect(result.untypedValues).toEqual([]);
  });

  it('keeps a symbolic batch symbolic through the chain (opset 11 and 13)', () => {
    for (const opset of [11, 13]) {
      const graph = flattenChain('batch', opset);
      const result = inferShapes(graph);
      expect(graph.typeOf('y')).toEqual({ dtype: 'float32', shape: ['batch', 48] });
      expect(result.symbolicValues.get('new_shape')).toEqual(['batch', -1]);
      expect(result.symbolicValues.get('batch_size')).toEqual(['batch']);
      expect(result.constants.has('new_shape')).toBe(false);
    }
  });

  it('gives unknown dimensions fresh names and applies inputShapes', () => {
    const graph = flattenChain(null);
    inferShapes(graph);
    const shape = graph.typeOf('y')!.shape!;
    expect(shape[1]).toBe(48);
    expect(typeof shape[0]).toBe('string');
    expect(shape[0]).toMatch(/^unk__\d+$/);

    const fixed = flattenChain('batch');
    inferShapes(fixed, { inputShapes: { x: [5, 3, 4, 4] } });
    expect(fixed.typeOf('y')?.shape).toEqual([5, 48]);
    expect(() => inferShapes(flattenChain('batch'), { inputShapes: { x: [5, 2, 4, 4] } })).toThrow(/dimension 1 = 2/);
    expect(() => inferShapes(flattenChain('batch'), { inputShapes: { nope: [1] } })).toThrow(/not an input/);
  });

  it('merges declared types: a declared static dim fills an unknown one, a conflict names node and value', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: ['n', 6] } }];
    graph.outputs = [{ name: 'y', type: { dtype: 'float32', shape: [4, null, 3] } }];
    graph.addNode({ opType: 'Reshape', inputs: ['x', 'target'], outputs: ['y'], name: 'reshape' });
    graph.initializers.set('target', Tensor.int64([-1, 2, 3]));
    inferShapes(graph);
    // Inferred ['n', 2, 3]: the declared 4 wins over the symbol, the inferred 2 fills the declared null.
    expect(graph.typeOf('y')?.shape).toEqual([4, 2, 3]);

    const conflicting = new Graph();
    conflicting.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [2, 6] } }];
    conflicting.outputs = [{ name: 'y', type: { dtype: 'float32', shape: [3, 4] } }];
    conflicting.addNode({ opType: 'Transpose', inputs: ['x'], outputs: ['y'], name: 'flip' });
    const error = (() => {
      try {
        inferShapes(conflicting);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(RazorError.isInstance(error)).toBe(true);
    expect((error as RazorError).code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect((error as RazorError).message).toContain("node 'flip' (Transpose)");
    expect((error as RazorError).message).toContain("'y'");
    expect((error as RazorError).message).toContain('[6, 2]');
  });

  it('fails on an unknown op in strict mode and lists it otherwise', () => {
    const build = (): Graph => {
      const graph = new Graph();
      graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [2, 3] } }];
      graph.outputs = [{ name: 'z' }];
      graph.valueInfo.set('y', { name: 'y', type: { dtype: 'float32', shape: [3, 2] } });
      graph.addNode({ opType: 'MysteryOp', domain: 'com.example', inputs: ['x'], outputs: ['y'], name: 'mystery' });
      graph.addNode({ opType: 'MysteryOp', domain: 'com.example', inputs: ['y'], outputs: ['w'], name: 'mystery2' });
      graph.addNode({ opType: 'Transpose', inputs: ['y'], outputs: ['z'], name: 'transpose' });
      return graph;
    };
    expect(() => inferShapes(build())).toThrow(/node 'mystery' uses op com\.example::MysteryOp/);
    try {
      inferShapes(build());
    } catch (error) {
      expect((error as RazorError).code).toBe(ErrorCodes.UNSUPPORTED_OP);
    }
    const graph = build();
    const result = inferShapes(graph, { strict: false });
    expect(result.unknownOps).toEqual([{ opType: 'MysteryOp', domain: 'com.example', nodes: ['mystery', 'mystery2'] }]);
    // The declared type of y lets inference continue past the unknown op.
    expect(graph.typeOf('z')?.shape).toEqual([2, 3]);
    expect(result.untypedValues).toEqual(['w']);
  });

  it('leaves nodes downstream of an untyped value unknown instead of failing', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'x' }];
    graph.outputs = [{ name: 'y' }];
    graph.addNode({ opType: 'Transpose', inputs: ['x'], outputs: ['y'], name: 't' });
    const result = inferShapes(graph);
    expect(result.untypedValues).toEqual(['y']);
    expect(graph.typeOf('y')).toBeUndefined();
  });

  it('uses a third-party registry and reports the opset a rule sees', () => {
    const seen: number[] = [];
    const registry = new OpRegistry(shapeOps);
    registry.register({
      opType: 'Double',
      domain: 'com.example',
      infer(ctx) {
        seen.push(ctx.opset);
        const input = ctx.requireInput(0);
        return { types: [{ dtype: input.dtype, shape: input.shape!.map((dim) => (typeof dim === 'number' ? dim * 2 : ctx.freshDim())) }] };
      },
    });
    const graph = new Graph();
    graph.opsetImports.set('com.example', 3);
    graph.inputs = [{ name: 'x', type: { dtype: 'int32', shape: [2, 'n'] } }];
    graph.outputs = [{ name: 'y' }];
    graph.addNode({ opType: 'Double', domain: 'com.example', inputs: ['x'], outputs: ['y'] });
    inferShapes(graph, { registry });
    expect(seen).toEqual([3]);
    expect(graph.typeOf('y')?.shape).toEqual([4, 'unk__0']);
  });

  it('evaluates constant subgraphs with kernels and respects maxConstantElements', () => {
    const graph = new Graph();
    graph.outputs = [{ name: 'big' }, { name: 'small' }];
    graph.initializers.set('shape_big', Tensor.int64([300, 300]));
    graph.initializers.set('shape_small', Tensor.int64([2, 2]));
    const value = attr.tensor(Tensor.from('float32', [1], [7]));
    graph.addNode({ opType: 'ConstantOfShape', inputs: ['shape_big'], outputs: ['big'], attributes: { value } });
    graph.addNode({ opType: 'ConstantOfShape', inputs: ['shape_small'], outputs: ['small'], attributes: { value } });
    const result = inferShapes(graph, { maxConstantElements: 1000 });
    expect(graph.typeOf('big')).toEqual({ dtype: 'float32', shape: [300, 300] });
    expect(result.constants.has('big')).toBe(false);
    expect(result.constants.get('small')?.toNumbers()).toEqual([7, 7, 7, 7]);
  });

  it('does not treat an initializer that is also a graph input as constant', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'shape', type: { dtype: 'int64', shape: [2] } }, { name: 'x', type: { dtype: 'float32', shape: [6] } }];
    graph.initializers.set('shape', Tensor.int64([2, 3]));
    graph.outputs = [{ name: 'y' }];
    graph.addNode({ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] });
    const result = inferShapes(graph);
    expect(result.constants.has('shape')).toBe(false);
    expect(graph.typeOf('y')?.shape).toEqual(['unk__0', 'unk__1']);
  });

  it('infers If outputs from both branches and Loop outputs from the body, with outer values visible', () => {
    const thenBranch = new Graph('then');
    thenBranch.outputs = [{ name: 'then_out' }];
    thenBranch.addNode({ opType: 'Transpose', inputs: ['x'], outputs: ['then_out'] });
    const elseBranch = new Graph('else');
    elseBranch.outputs = [{ name: 'else_out' }];
    elseBranch.addNode({ opType: 'Identity', inputs: ['x_t'], outputs: ['else_out'] });

    const body = new Graph('body');
    body.inputs = [{ name: 'i', type: { dtype: 'int64', shape: [] } }, { name: 'cond_in', type: { dtype: 'bool', shape: [] } }, { name: 'carried' }];
    body.outputs = [{ name: 'cond_out' }, { name: 'carried_out' }, { name: 'scanned' }];
    body.addNode({ opType: 'Identity', inputs: ['cond_in'], outputs: ['cond_out'] });
    body.addNode({ opType: 'Identity', inputs: ['carried'], outputs: ['carried_out'] });
    body.addNode({ opType: 'Unsqueeze', inputs: ['i', 'axis0'], outputs: ['scanned'] });

    const graph = new Graph();
    graph.inputs = [
      { name: 'x', type: { dtype: 'float32', shape: ['n', 3] } },
      { name: 'flag', type: { dtype: 'bool', shape: [] } },
    ];
    graph.initializers.set('trip', Tensor.scalar('int64', 5));
    graph.initializers.set('axis0', Tensor.int64([0]));
    graph.outputs = [{ name: 'chosen' }, { name: 'final' }, { name: 'stacked' }];
    graph.addNode({ opType: 'Transpose', inputs: ['x'], outputs: ['x_t'] });
    graph.addNode({ opType: 'If', inputs: ['flag'], outputs: ['chosen'], name: 'branch', attributes: { then_branch: thenBranch, else_branch: elseBranch } });
    graph.addNode({ opType: 'Loop', inputs: ['trip', '', 'x'], outputs: ['final', 'stacked'], name: 'loop', attributes: { body } });
    const result = inferShapes(graph);
    expect(graph.typeOf('chosen')).toEqual({ dtype: 'float32', shape: [3, 'n'] });
    expect(body.typeOf('carried')).toEqual({ dtype: 'float32', shape: ['n', 3] });
    expect(graph.typeOf('final')).toEqual({ dtype: 'float32', shape: ['n', 3] });
    expect(graph.typeOf('stacked')).toEqual({ dtype: 'int64', shape: [5, 1] });
    expect(result.untypedValues).toEqual([]);
  });

  it('names the node when a rule rejects its inputs', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [2, 3] } }];
    graph.initializers.set('target', Tensor.int64([4, 2]));
    graph.outputs = [{ name: 'y' }];
    graph.addNode({ opType: 'Reshape', inputs: ['x', 'target'], outputs: ['y'], name: 'bad_reshape' });
    expect(() => inferShapes(graph)).toThrow(/node 'bad_reshape' \(Reshape\): cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\] \(8 elements\)/);
  });

  it('runs with the default registry on an empty graph', () => {
    expect(inferShapes(new Graph(), { registry: defaultRegistry }).typedValues).toBe(0);
  });
});

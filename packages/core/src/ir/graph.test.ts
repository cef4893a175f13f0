import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { catchRazorError as caught } from '../testing/razor-errors.js';
import {
  attr,
  describeNode,
  describeOp,
  getAttribute,
  getFloat,
  getFloats,
  getInt,
  getInts,
  getString,
  getTensorAttribute,
  Graph,
  nodeInputs,
  outerReferences,
  toAttribute,
  type Node,
} from './graph.js';
import { Tensor } from './tensor.js';

const names = (nodes: readonly Node[]): string[] => nodes.map((node) => node.name);

/** x -> Relu(a) -> Sigmoid(b) -> output b; w is an initializer Mul reads too. */
function chain(): Graph {
  const graph = new Graph('chain');
  graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: ['batch', 4] } }];
  graph.outputs = [{ name: 'b', type: { dtype: 'float32', shape: ['batch', 4] } }];
  graph.addInitializer('w', Tensor.float32([4], [1, 2, 3, 4]));
  graph.addNode({ opType: 'Mul', inputs: ['x', 'w'], outputs: ['m'], name: 'mul' });
  graph.addNode({ opType: 'Relu', inputs: ['m'], outputs: ['a'], name: 'relu' });
  graph.addNode({ opType: 'Sigmoid', inputs: ['a'], outputs: ['b'], name: 'sigmoid' });
  return graph;
}

/** A body graph reading outer values `outer` (and defining `local` itself). */
function body(outer: string[], local = 'local'): Graph {
  const graph = new Graph('body');
  graph.addNode({ opType: 'Identity', inputs: [outer[0]!], outputs: [local], name: 'body_identity' });
  graph.addNode({ opType: 'Add', inputs: [local, ...outer.slice(1, 2)], outputs: ['body_out'], name: 'body_add' });
  graph.outputs = [{ name: 'body_out' }, ...outer.slice(2).map((name) => ({ name }))];
  return graph;
}

describe('addNode', () => {
  it('generates unique node and output names', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'x' }];
    const first = graph.addNode({ opType: 'Relu', inputs: ['x'] });
    const second = graph.addNode({ opType: 'Relu', inputs: [first.outputs[0]!] });
    expect(first.name).toBe('relu');
    expect(first.outputs).toEqual(['relu_output']);
    expect(second.name).not.toBe('relu');
    expect(second.name.startsWith('relu_')).toBe(true);
    expect(second.outputs).toEqual([`${second.name}_output`]);
    const split = graph.addNode({ opType: 'Split', inputs: ['x'], outputs: 3 });
    expect(split.outputs).toEqual(['split_output', 'split_output_1', 'split_output_2']);
    expect(graph.addNode({ opType: 'NoOp', inputs: [], outputs: 0 }).outputs).toEqual([]);
    const all = graph.nodes.flatMap((node) => [node.name, ...node.outputs]);
    expect(new Set(all).size).toBe(all.length);
  });

  it('generated output names avoid each other when the first one is taken', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'split_output' }];
    const split = graph.addNode({ opType: 'Split', inputs: ['split_output'], outputs: 3 });
    expect(split.outputs).not.toContain('split_output');
    expect(new Set(split.outputs).size).toBe(3);
    // The next generated name does not reuse any of them either.
    const next = graph.addNode({ opType: 'Relu', inputs: ['split_output'], name: 'split' });
    expect(split.outputs).not.toContain(next.outputs[0]);
  });

  it('keeps explicit names and outputs', () => {
    const graph = new Graph();
    const node = graph.addNode({ opType: 'TopK', inputs: ['x', 'k'], outputs: ['values', 'indices'], name: 'top', domain: 'ai.onnx' });
    expect(node).toMatchObject({ name: 'top', opType: 'TopK', domain: 'ai.onnx', inputs: ['x', 'k'], outputs: ['values', 'indices'] });
    const named = graph.addNode({ opType: 'Relu', inputs: ['values'], name: 'act', outputs: 2 });
    expect(named.outputs).toEqual(['act_output', 'act_output_1']);
  });

  it('copies the spec arrays', () => {
    const graph = new Graph();
    const inputs = ['x'];
    const outputs = ['y'];
    const node = graph.addNode({ opType: 'Relu', inputs, outputs });
    inputs[0] = 'changed';
    outputs[0] = 'changed';
    expect(node.inputs).toEqual(['x']);
    expect(node.outputs).toEqual(['y']);
  });

  it('appends, or inserts at an index', () => {
    const graph = chain();
    graph.producer('a'); // build the index first so the insert has to update it
    const inserted = graph.addNode({ opType: 'Neg', inputs: ['x'], outputs: ['n'], name: 'neg' }, 1);
    expect(names(graph.nodes)).toEqual(['mul', 'neg', 'relu', 'sigmoid']);
    expect(graph.producer('n')).toBe(inserted);
    expect(names(graph.consumers('x'))).toEqual(['mul', 'neg']);
    graph.addNode({ opType: 'Abs', inputs: ['x'], outputs: ['abs'], name: 'abs' }, 0);
    graph.addNode({ opType: 'Exp', inputs: ['x'], outputs: ['e'], name: 'exp' }, 99);
    expect(names(graph.nodes)).toEqual(['abs', 'mul', 'neg', 'relu', 'sigmoid', 'exp']);
    expect(names(graph.consumers('x'))).toEqual(['abs', 'mul', 'neg', 'exp']);
  });

  it('converts attribute shorthand', () => {
    const graph = new Graph();
    const tensor = Tensor.float32([1], [0.5]);
    const subgraph = new Graph('then');
    const node = graph.addNode({
      opType: 'Custom',
      inputs: [],
      attributes: {
        axis: 1,
        negative: -3,
        alpha: 0.2,
        beta: attr.float(1),
        count: attr.int(2),
        pads: [0, 1, 0, 1],
        scales: [1, 1.5],
        mode: 'linear',
        labels: ['a', 'b'],
        value: tensor,
        branch: subgraph,
        explicit: { type: 'floats', value: [1, 2] },
        skipped: undefined,
        empty: [],
      },
    });
    const attributes = Object.fromEntries(node.attributes);
    expect(attributes.axis).toEqual({ type: 'int', value: 1 });
    expect(attributes.negative).toEqual({ type: 'int', value: -3 });
    expect(attributes.alpha).toEqual({ type: 'float', value: 0.2 });
    expect(attributes.beta).toEqual({ type: 'float', value: 1 });
    expect(attributes.count).toEqual({ type: 'int', value: 2 });
    expect(attributes.pads).toEqual({ type: 'ints', value: [0, 1, 0, 1] });
    expect(attributes.scales).toEqual({ type: 'floats', value: [1, 1.5] });
    expect(attributes.mode).toEqual({ type: 'string', value: 'linear' });
    expect(attributes.labels).toEqual({ type: 'strings', value: ['a', 'b'] });
    expect(attributes.value).toEqual({ type: 'tensor', value: tensor });
    expect(attributes.value!.value).toBe(tensor);
    expect(attributes.branch!.value).toBe(subgraph);
    expect(attributes.branch!.type).toBe('graph');
    expect(attributes.explicit).toEqual({ type: 'floats', value: [1, 2] });
    expect(node.attributes.has('skipped')).toBe(false);
    // An empty list is taken as ints, the common case (axes, pads, perm).
    expect(attributes.empty).toEqual({ type: 'ints', value: [] });
  });

  it('copies attribute arrays', () => {
    const pads = [1, 1];
    const attribute = toAttribute(pads);
    pads[0] = 9;
    expect(attribute).toEqual({ type: 'ints', value: [1, 1] });
    expect(caught(() => toAttribute(true as never)).code).toBe(ErrorCodes.INVALID_ATTRIBUTE);
  });
});

describe('producer / consumers', () => {
  it('index a chain', () => {
    const graph = chain();
    expect(graph.producer('x')).toBeUndefined();
    expect(graph.producer('w')).toBeUndefined();
    expect(graph.producer('m')!.name).toBe('mul');
    expect(graph.producer('b')!.name).toBe('sigmoid');
    expect(names(graph.consumers('x'))).toEqual(['mul']);
    expect(names(graph.consumers('w'))).toEqual(['mul']);
    expect(graph.consumers('b')).toEqual([]);
    expect(graph.consumers('nothing')).toEqual([]);
  });

  it('list a node reading a value twice once', () => {
    const graph = new Graph();
    graph.addNode({ opType: 'Add', inputs: ['x', 'x'], outputs: ['y'], name: 'double' });
    graph.addNode({ opType: 'Mul', inputs: ['x', 'y', 'x'], outputs: ['z'], name: 'mul' });
    expect(names(graph.consumers('x'))).toEqual(['double', 'mul']);
  });

  it('stay correct after appends once the index exists', () => {
    const graph = chain();
    expect(names(graph.consumers('a'))).toEqual(['sigmoid']);
    graph.addNode({ opType: 'Tanh', inputs: ['a'], outputs: ['t'], name: 'tanh' });
    expect(names(graph.consumers('a'))).toEqual(['sigmoid', 'tanh']);
    expect(graph.producer('t')!.name).toBe('tanh');
  });

  it('stay correct after removeNode', () => {
    const graph = chain();
    const relu = graph.producer('a')!;
    expect(names(graph.consumers('m'))).toEqual(['relu']);
    graph.removeNode(relu);
    expect(graph.producer('a')).toBeUndefined();
    expect(graph.consumers('m')).toEqual([]);
    expect(names(graph.nodes)).toEqual(['mul', 'sigmoid']);
    const error = caught(() => graph.removeNode(relu));
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toContain("'relu'");
    expect(error.message).toContain("'chain'");
  });

  it('stay correct after setNodeInput', () => {
    const graph = chain();
    const sigmoid = graph.node('sigmoid')!;
    expect(names(graph.consumers('a'))).toEqual(['sigmoid']);
    graph.setNodeInput(sigmoid, 0, 'm');
    expect(sigmoid.inputs).toEqual(['m']);
    expect(graph.consumers('a')).toEqual([]);
    expect(names(graph.consumers('m'))).toEqual(['relu', 'sigmoid']);
  });

  it('see a direct edit after invalidate()', () => {
    const graph = chain();
    expect(graph.producer('a')!.name).toBe('relu');
    graph.nodes[1]!.outputs = ['a2'];
    graph.invalidate();
    expect(graph.producer('a')).toBeUndefined();
    expect(graph.producer('a2')!.name).toBe('relu');
  });

  it('count subgraph outer references as uses', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'cond' }, { name: 'x' }, { name: 'y' }];
    const node = graph.addNode({
      opType: 'If',
      inputs: ['cond'],
      outputs: ['out'],
      name: 'if',
      attributes: { then_branch: body(['x', 'y']), else_branch: body(['y']) },
    });
    expect(nodeInputs(node)).toEqual(['cond', 'x', 'y']);
    expect(names(graph.consumers('x'))).toEqual(['if']);
    expect(names(graph.consumers('y'))).toEqual(['if']);
    // Values the bodies define are not uses in the outer graph.
    expect(graph.consumers('local')).toEqual([]);
    expect(graph.consumers('body_out')).toEqual([]);
  });
});

describe('outerReferences', () => {
  it('lists names a body reads but does not define, including through outputs and nested bodies', () => {
    const inner = new Graph('inner');
    inner.addNode({ opType: 'Neg', inputs: ['deep'], outputs: ['inner_out'], name: 'inner_neg' });
    inner.outputs = [{ name: 'inner_out' }];
    const outer = body(['x', 'y', 'passed']);
    outer.inputs = [{ name: 'iteration' }];
    outer.addInitializer('constant', Tensor.scalar('float32', 1));
    outer.addNode({ opType: 'If', inputs: ['iteration', 'constant', ''], outputs: ['if_out'], name: 'nested', attributes: { then_branch: inner } });
    expect([...outerReferences(outer)].sort()).toEqual(['deep', 'passed', 'x', 'y']);
    expect([...outerReferences(inner)]).toEqual(['deep']);
  });
});

describe('replaceAllUses', () => {
  it('rewires node inputs and renames graph outputs', () => {
    const graph = chain();
    graph.addNode({ opType: 'Neg', inputs: ['m'], outputs: ['n'], name: 'neg' });
    graph.replaceAllUses('b', 'a');
    expect(graph.outputs.map((output) => output.name)).toEqual(['a']);
    graph.replaceAllUses('m', 'x');
    expect(graph.node('relu')!.inputs).toEqual(['x']);
    expect(graph.node('neg')!.inputs).toEqual(['x']);
    expect(graph.consumers('m')).toEqual([]);
    expect(names(graph.consumers('x'))).toEqual(['mul', 'relu', 'neg']);
  });

  it('leaves graph outputs alone with includeOutputs: false', () => {
    const graph = chain();
    graph.addNode({ opType: 'Neg', inputs: ['b'], outputs: ['n'], name: 'neg' });
    graph.replaceAllUses('b', 'a', { includeOutputs: false });
    expect(graph.outputs.map((output) => output.name)).toEqual(['b']);
    expect(graph.node('neg')!.inputs).toEqual(['a']);
    expect(names(graph.consumers('a'))).toEqual(['sigmoid', 'neg']);
  });

  it('rewrites outer references inside If/Loop bodies, but not values a body defines', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'cond' }, { name: 'x' }, { name: 'y' }];
    const thenBranch = body(['x', 'y', 'x']);
    // Both branches define their own 'local'; replacing the outer 'local' must not touch them.
    const elseBranch = body(['y'], 'local');
    const loopBody = new Graph('loop_body');
    loopBody.inputs = [{ name: 'i' }, { name: 'keep' }];
    const nested = body(['x']);
    loopBody.addNode({ opType: 'If', inputs: ['keep'], outputs: ['nested_out'], name: 'nested_if', attributes: { then_branch: nested } });
    loopBody.outputs = [{ name: 'keep' }, { name: 'nested_out' }];
    const ifNode = graph.addNode({ opType: 'If', inputs: ['cond'], outputs: ['if_out'], name: 'if', attributes: { then_branch: thenBranch, else_branch: elseBranch } });
    const loopNode = graph.addNode({
      opType: 'Loop',
      inputs: ['', 'cond'],
      outputs: ['loop_out'],
      name: 'loop',
      attributes: { body: { type: 'graphs', value: [loopBody] } },
    });
    graph.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['local'], name: 'outer_local' });

    expect(names(graph.consumers('x'))).toEqual(['if', 'loop', 'outer_local']);
    graph.replaceAllUses('x', 'x2');
    expect(thenBranch.node('body_identity')!.inputs).toEqual(['x2']);
    expect(thenBranch.outputs.map((output) => output.name)).toEqual(['body_out', 'x2']);
    expect(nested.node('body_identity')!.inputs).toEqual(['x2']);
    expect(nodeInputs(ifNode)).toEqual(['cond', 'x2', 'y']);
    expect(nodeInputs(loopNode)).toEqual(['', 'cond', 'x2']);
    expect(graph.consumers('x')).toEqual([]);
    expect(names(graph.consumers('x2'))).toEqual(['if', 'loop', 'outer_local']);
    expect(nested.consumers('x2').map((node) => node.name)).toEqual(['body_identity']);

    // 'local' is defined inside both branches: replacing the outer 'local' leaves them alone.
    graph.addNode({ opType: 'Neg', inputs: ['local'], outputs: ['negated'], name: 'neg' });
    graph.replaceAllUses('local', 'renamed');
    expect(graph.node('neg')!.inputs).toEqual(['renamed']);
    expect(thenBranch.node('body_add')!.inputs).toEqual(['local', 'y']);
    expect(elseBranch.node('body_add')!.inputs).toEqual(['local']);
    expect(thenBranch.node('body_identity')!.outputs).toEqual(['local']);
  });
});

describe('uniqueName', () => {
  it('never returns a taken name', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'input' }];
    graph.outputs = [{ name: 'output' }];
    graph.valueInfo.set('info', { name: 'info' });
    graph.addInitializer('weight', Tensor.float32([1], [1]));
    graph.addNode({ opType: 'Relu', inputs: ['input', 'dangling'], outputs: ['produced'], name: 'node_name' });
    const taken = ['input', 'output', 'info', 'weight', 'produced', 'node_name', 'dangling'];
    const seen = new Set<string>();
    for (const base of taken) {
      const name = graph.uniqueName(base);
      expect(taken).not.toContain(name);
      expect(name.startsWith(`${base}_`)).toBe(true);
      seen.add(name);
    }
    expect(seen.size).toBe(taken.length);
    expect(graph.uniqueName('free')).toBe('free');
  });

  it('skips suffixed names that are already taken', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'v' }, { name: 'v_1' }, { name: 'v_2' }];
    const name = graph.uniqueName('v');
    expect(['v', 'v_1', 'v_2']).not.toContain(name);
  });
});

describe('addInitializer', () => {
  it('uniquifies a taken name and keeps both tensors', () => {
    const graph = new Graph();
    const first = Tensor.float32([1], [1]);
    const second = Tensor.float32([1], [2]);
    expect(graph.addInitializer('scale', first)).toBe('scale');
    const name = graph.addInitializer('scale', second);
    expect(name).not.toBe('scale');
    expect(graph.initializers.get('scale')).toBe(first);
    expect(graph.initializers.get(name)).toBe(second);
  });
});

describe('typeOf / setType', () => {
  it('reads and writes inputs, outputs, intermediates and initializers', () => {
    const graph = chain();
    expect(graph.typeOf('x')).toEqual({ dtype: 'float32', shape: ['batch', 4] });
    expect(graph.typeOf('b')).toEqual({ dtype: 'float32', shape: ['batch', 4] });
    expect(graph.typeOf('w')).toEqual({ dtype: 'float32', shape: [4] });
    expect(graph.typeOf('m')).toBeUndefined();

    graph.setType('m', { dtype: 'float32', shape: [2, 4] });
    expect(graph.typeOf('m')).toEqual({ dtype: 'float32', shape: [2, 4] });
    expect(graph.valueInfo.get('m')).toEqual({ name: 'm', type: { dtype: 'float32', shape: [2, 4] } });
    graph.setType('m', { dtype: 'float16' });
    expect(graph.typeOf('m')).toEqual({ dtype: 'float16' });
    expect(graph.valueInfo.size).toBe(1);

    graph.setType('b', { dtype: 'float16', shape: [1, 4] });
    expect(graph.outputs[0]!.type).toEqual({ dtype: 'float16', shape: [1, 4] });
    expect(graph.valueInfo.has('b')).toBe(false);
    graph.setType('x', { dtype: 'float16', shape: [1, 4] });
    expect(graph.inputs[0]!.type).toEqual({ dtype: 'float16', shape: [1, 4] });
    expect(graph.valueInfo.has('x')).toBe(false);
    // An initializer's type is its tensor's.
    expect(graph.typeOf('w')).toEqual({ dtype: 'float32', shape: [4] });
  });
});

describe('clone', () => {
  function rich(): Graph {
    const graph = chain();
    graph.valueInfo.set('m', { name: 'm', type: { dtype: 'float32', shape: ['batch', 4] } });
    graph.model.metadata.set('author', 'razor');
    graph.opsetImports.set('com.microsoft', 1);
    const branch = body(['x']);
    branch.addInitializer('branch_weight', Tensor.float32([1], [3]));
    graph.addNode({
      opType: 'If',
      inputs: ['x'],
      outputs: ['if_out'],
      name: 'if',
      attributes: { then_branch: branch, pads: [1, 2], value: Tensor.float32([1], [7]) },
    });
    return graph;
  }

  it('is deep: editing the clone leaves the original alone', () => {
    const original = rich();
    const copy = original.clone();
    expect(copy.nodes.map((node) => node.name)).toEqual(names(original.nodes));
    expect(copy.producer('a')!.name).toBe('relu');
    expect(copy.producer('a')).not.toBe(original.producer('a'));

    copy.node('relu')!.inputs[0] = 'x';
    copy.node('relu')!.outputs[0] = 'a_copy';
    copy.removeNode(copy.node('sigmoid')!);
    copy.addNode({ opType: 'Neg', inputs: ['x'], name: 'neg' });
    (copy.node('if')!.attributes.get('pads')!.value as number[])[0] = 9;
    copy.node('if')!.attributes.set('extra', { type: 'int', value: 1 });
    const copiedBranch = copy.node('if')!.attributes.get('then_branch')!.value as Graph;
    copiedBranch.node('body_identity')!.inputs[0] = 'changed';
    copiedBranch.outputs[0]!.name = 'changed_out';
    copy.valueInfo.get('m')!.type!.dtype = 'float16';
    (copy.valueInfo.get('m')!.type!.shape as (string | number | null)[])[0] = 1;
    copy.inputs[0]!.name = 'renamed';
    (copy.outputs[0]!.type!.shape as (string | number | null)[])[1] = 8;
    copy.model.metadata.set('author', 'someone');
    copy.model.producerName = 'other';
    copy.opsetImports.set('', 11);
    copy.initializers.delete('w');

    expect(names(original.nodes)).toEqual(['mul', 'relu', 'sigmoid', 'if']);
    expect(original.node('relu')!.inputs).toEqual(['m']);
    expect(original.producer('a')!.name).toBe('relu');
    expect(original.node('if')!.attributes.get('pads')).toEqual({ type: 'ints', value: [1, 2] });
    expect(original.node('if')!.attributes.has('extra')).toBe(false);
    const originalBranch = original.node('if')!.attributes.get('then_branch')!.value as Graph;
    expect(originalBranch).not.toBe(copiedBranch);
    expect(originalBranch.node('body_identity')!.inputs).toEqual(['x']);
    expect(originalBranch.outputs[0]!.name).toBe('body_out');
    expect(original.valueInfo.get('m')!.type).toEqual({ dtype: 'float32', shape: ['batch', 4] });
    expect(original.inputs[0]!.name).toBe('x');
    expect(original.outputs[0]!.type!.shape).toEqual(['batch', 4]);
    expect(original.model.metadata.get('author')).toBe('razor');
    expect(original.model.producerName).toBe('razor');
    expect(original.opset()).toBe(17);
    expect(original.initializers.has('w')).toBe(true);
  });

  it('shares tensors unless copyTensors', () => {
    const original = rich();
    const originalBranch = original.node('if')!.attributes.get('then_branch')!.value as Graph;
    const shared = original.clone();
    expect(shared.initializers.get('w')).toBe(original.initializers.get('w'));
    expect(getTensorAttribute(shared.node('if')!, 'value')).toBe(getTensorAttribute(original.node('if')!, 'value'));

    const copied = original.clone({ copyTensors: true });
    const weight = copied.initializers.get('w')!;
    expect(weight).not.toBe(original.initializers.get('w'));
    weight.data[0] = 100;
    expect(original.initializers.get('w')!.data[0]).toBe(1);
    const copiedBranch = copied.node('if')!.attributes.get('then_branch')!.value as Graph;
    copiedBranch.initializers.get('branch_weight')!.data[0] = 100;
    expect(originalBranch.initializers.get('branch_weight')!.data[0]).toBe(3);
    const attributeTensor = getTensorAttribute(copied.node('if')!, 'value')!;
    attributeTensor.data[0] = 100;
    expect(getTensorAttribute(original.node('if')!, 'value')!.data[0]).toBe(7);
  });
});

describe('attribute getters', () => {
  const graph = new Graph();
  const node = graph.addNode({
    opType: 'Conv',
    inputs: ['x', 'w'],
    name: 'conv1',
    attributes: { group: 2, epsilon: 1e-5, strides: [2, 2], scales: [0.5, 1.5], auto_pad: 'SAME_UPPER', value: Tensor.float32([1], [1]) },
  });

  it('read values and fall back when absent', () => {
    expect(getInt(node, 'group')).toBe(2);
    expect(getInt(node, 'missing')).toBeUndefined();
    expect(getInt(node, 'missing', 1)).toBe(1);
    expect(getFloat(node, 'epsilon', 0)).toBe(1e-5);
    expect(getFloat(node, 'alpha', 0.2)).toBe(0.2);
    expect(getInts(node, 'strides', [1, 1])).toEqual([2, 2]);
    expect(getInts(node, 'dilations', [1, 1])).toEqual([1, 1]);
    expect(getFloats(node, 'scales')).toEqual([0.5, 1.5]);
    expect(getFloats(node, 'missing')).toBeUndefined();
    expect(getString(node, 'auto_pad', 'NOTSET')).toBe('SAME_UPPER');
    expect(getString(node, 'mode', 'constant')).toBe('constant');
    expect(getTensorAttribute(node, 'value')!.toNumbers()).toEqual([1]);
    expect(getAttribute(node, 'strides', 'ints')).toEqual([2, 2]);
  });

  it('throw RAZOR_INVALID_ATTRIBUTE naming the node on a type mismatch', () => {
    const error = caught(() => getInt(node, 'epsilon', 0));
    expect(error.code).toBe(ErrorCodes.INVALID_ATTRIBUTE);
    expect(error.code).toBe('RAZOR_INVALID_ATTRIBUTE');
    expect(error.message).toContain("node 'conv1' (Conv)");
    expect(error.message).toContain("'epsilon'");
    expect(error.message).toContain('int');
    expect(error.message).toContain('float');
    expect(caught(() => getFloat(node, 'group', 1)).code).toBe(ErrorCodes.INVALID_ATTRIBUTE);
    expect(caught(() => getInts(node, 'scales')).code).toBe(ErrorCodes.INVALID_ATTRIBUTE);
    expect(caught(() => getString(node, 'strides')).code).toBe(ErrorCodes.INVALID_ATTRIBUTE);
    expect(caught(() => getTensorAttribute(node, 'auto_pad')).code).toBe(ErrorCodes.INVALID_ATTRIBUTE);
  });
});

describe('opset and descriptions', () => {
  it('opset() reads the import per domain', () => {
    const graph = new Graph();
    expect(graph.opset()).toBe(17);
    expect(graph.opset('ai.onnx')).toBe(17);
    expect(graph.opset('com.microsoft')).toBe(0);
    graph.opsetImports.set('', 13);
    graph.opsetImports.set('com.microsoft', 1);
    expect(graph.opset()).toBe(13);
    expect(graph.opset('com.microsoft')).toBe(1);
  });

  it('describeNode names node and op', () => {
    const graph = new Graph();
    const conv = graph.addNode({ opType: 'Conv', inputs: ['x'], name: 'conv1' });
    const fused = graph.addNode({ opType: 'FusedConv', inputs: ['x'], name: 'fused', domain: 'com.microsoft' });
    const explicit = graph.addNode({ opType: 'Relu', inputs: ['x'], name: 'act', domain: 'ai.onnx' });
    expect(describeNode(conv)).toBe("node 'conv1' (Conv)");
    expect(describeNode(fused)).toBe("node 'fused' (com.microsoft::FusedConv)");
    expect(describeOp(explicit)).toBe('Relu');
  });

  it('isInput / isOutput / node / definedValues', () => {
    const graph = chain();
    expect(graph.isInput('x')).toBe(true);
    expect(graph.isInput('w')).toBe(false);
    expect(graph.isOutput('b')).toBe(true);
    expect(graph.isOutput('a')).toBe(false);
    expect(graph.node('relu')!.opType).toBe('Relu');
    expect(graph.node('missing')).toBeUndefined();
    expect([...graph.definedValues()].sort()).toEqual(['a', 'b', 'm', 'w', 'x']);
  });
});

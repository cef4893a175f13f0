import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { eliminateDeadCode } from './dead-code.js';
import { topologicalSort } from './toposort.js';
import { validateGraph } from './validate.js';
import { catchRazorError as caught } from '../testing/razor-errors.js';

function chain(): Graph {
  const graph = new Graph('chain');
  graph.inputs = [{ name: 'x', type: { dtype: 'float32', shape: [2] } }];
  graph.outputs = [{ name: 'c' }];
  graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['a'], name: 'n1' });
  graph.addNode({ opType: 'Relu', inputs: ['a'], outputs: ['b'], name: 'n2' });
  graph.addNode({ opType: 'Relu', inputs: ['b'], outputs: ['c'], name: 'n3' });
  return graph;
}

describe('topologicalSort', () => {
  it('keeps a valid order unchanged and reorders an invalid one stably', () => {
    const graph = chain();
    expect(topologicalSort(graph)).toEqual({ movedNodes: 0 });
    expect(graph.nodes.map((node) => node.name)).toEqual(['n1', 'n2', 'n3']);

    const shuffled = chain();
    shuffled.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['side'], name: 'side' });
    shuffled.nodes = [shuffled.nodes[2]!, shuffled.nodes[3]!, shuffled.nodes[0]!, shuffled.nodes[1]!];
    shuffled.invalidate();
    const summary = topologicalSort(shuffled);
    // n3 needs n2 needs n1; 'side' keeps its place relative to the rest as far as possible.
    expect(shuffled.nodes.map((node) => node.name)).toEqual(['n1', 'n2', 'n3', 'side']);
    expect(summary.movedNodes).toBe(4);
  });

  it('sorts a 20,000-node reversed chain without overflowing the stack', () => {
    const graph = new Graph();
    graph.inputs = [{ name: 'v0' }];
    for (let index = 0; index < 20_000; index++) graph.addNode({ opType: 'Relu', inputs: [`v${index}`], outputs: [`v${index + 1}`], name: `n${index}` });
    graph.nodes.reverse();
    graph.invalidate();
    topologicalSort(graph);
    expect(graph.nodes[0]!.name).toBe('n0');
    expect(graph.nodes[19_999]!.name).toBe('n19999');
  });

  it('names the nodes of a cycle', () => {
    const graph = new Graph('loopy');
    graph.inputs = [{ name: 'x' }];
    graph.outputs = [{ name: 'c' }];
    graph.addNode({ opType: 'Add', inputs: ['x', 'c'], outputs: ['a'], name: 'first' });
    graph.addNode({ opType: 'Relu', inputs: ['a'], outputs: ['b'], name: 'second' });
    graph.addNode({ opType: 'Relu', inputs: ['b'], outputs: ['c'], name: 'third' });
    const error = caught(() => topologicalSort(graph));
    expect(error.code).toBe(ErrorCodes.INVALID_GRAPH);
    expect(error.message).toContain("node 'first' (Add) -> node 'third' (Relu) -> node 'second' (Relu) -> node 'first' (Add)");
  });
});

describe('validateGraph', () => {
  it('accepts a valid graph and warns about duplicate node names', () => {
    const graph = chain();
    expect(validateGraph(graph)).toEqual({ warnings: [], graphsChecked: 1 });
    graph.nodes[1]!.name = 'n1';
    expect(validateGraph(graph).warnings).toEqual(["2 nodes are named 'n1'; tools that address nodes by name may pick the wrong one"]);
  });

  it('reports dangling inputs, double definitions, missing outputs, initializer outputs and cycles together', () => {
    const graph = new Graph('broken');
    graph.inputs = [{ name: 'x' }];
    graph.outputs = [{ name: 'y' }, { name: 'nowhere' }];
    graph.initializers.set('w', Tensor.float32([1], [1]));
    graph.addNode({ opType: 'Add', inputs: ['x', 'ghost'], outputs: ['y'], name: 'adder' });
    graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['y'], name: 'again' });
    graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['w'], name: 'overwrite' });
    graph.addNode({ opType: 'Relu', inputs: ['q'], outputs: ['p'], name: 'p1' });
    graph.addNode({ opType: 'Relu', inputs: ['p'], outputs: ['q'], name: 'p2' });
    const error = caught(() => validateGraph(graph));
    expect(error.code).toBe(ErrorCodes.INVALID_GRAPH);
    expect(error.message).toContain('5 problems');
    expect(error.message).toContain("node 'adder' (Add) reads 'ghost' (input 1), which no node, graph input or initializer defines");
    expect(error.message).toContain("value 'y' is defined twice: by node 'adder' (Add) and by node 'again' (Relu)");
    expect(error.message).toContain("graph output 'nowhere' is not produced");
    expect(error.message).toContain("node 'overwrite' (Relu) writes output 'w', which is also an initializer");
    expect(error.message).toMatch(/cycle: node 'p1' \(Relu\) -> node 'p2' \(Relu\) -> node 'p1'/);
  });

  it('checks subgraphs with the outer scope visible', () => {
    const body = new Graph('then');
    body.outputs = [{ name: 'inner' }];
    body.addNode({ opType: 'Add', inputs: ['x', 'outer_value'], outputs: ['inner'], name: 'inner_add' });
    const graph = new Graph('outer');
    graph.inputs = [{ name: 'x' }, { name: 'flag' }];
    graph.outputs = [{ name: 'out' }];
    graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['outer_value'], name: 'relu' });
    graph.addNode({ opType: 'If', inputs: ['flag'], outputs: ['out'], name: 'branch', attributes: { then_branch: body, else_branch: body.clone() } });
    expect(validateGraph(graph).graphsChecked).toBe(3);

    body.nodes[0]!.inputs[1] = 'missing';
    const error = caught(() => validateGraph(graph));
    expect(error.message).toContain("node 'inner_add' (Add) in subgraph 'outer/branch.then_branch' reads 'missing' (input 1)");
    expect(error.message).toContain('1 problem)');
  });
});

describe('eliminateDeadCode', () => {
  it('removes nodes, initializers and value_info that reach no output', () => {
    const graph = chain();
    graph.initializers.set('unused_weight', Tensor.float32([3], [1, 2, 3]));
    graph.initializers.set('dead_weight', Tensor.float32([1], [4]));
    graph.addNode({ opType: 'Add', inputs: ['a', 'dead_weight'], outputs: ['dead1'], name: 'dead1' });
    graph.addNode({ opType: 'Relu', inputs: ['dead1'], outputs: ['dead2'], name: 'dead2' });
    graph.valueInfo.set('dead2', { name: 'dead2', type: { dtype: 'float32', shape: [2] } });
    graph.valueInfo.set('b', { name: 'b', type: { dtype: 'float32', shape: [2] } });
    const summary = eliminateDeadCode(graph);
    expect(summary).toEqual({ removedNodes: 2, removedInitializers: 2, removedValueInfo: 1 });
    expect(graph.nodes.map((node) => node.name)).toEqual(['n1', 'n2', 'n3']);
    expect([...graph.valueInfo.keys()]).toEqual(['b']);
    expect(eliminateDeadCode(graph)).toEqual({ removedNodes: 0, removedInitializers: 0, removedValueInfo: 0 });
  });

  it('keeps producers of values a live subgraph reads and cleans dead nodes inside bodies', () => {
    const body = new Graph('body');
    body.outputs = [{ name: 'inner' }];
    body.addNode({ opType: 'Relu', inputs: ['used_outside'], outputs: ['inner'], name: 'live_inner' });
    body.addNode({ opType: 'Relu', inputs: ['only_dead_inside'], outputs: ['unused_inner'], name: 'dead_inner' });
    const graph = new Graph('outer');
    graph.inputs = [{ name: 'x' }, { name: 'flag' }];
    graph.outputs = [{ name: 'out' }];
    graph.initializers.set('default_for_x', Tensor.float32([1], [0]));
    graph.inputs.push({ name: 'default_for_x' });
    graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['used_outside'], name: 'feeds_body' });
    graph.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['only_dead_inside'], name: 'feeds_dead_inner' });
    graph.addNode({ opType: 'If', inputs: ['flag'], outputs: ['out'], name: 'branch', attributes: { then_branch: body, else_branch: body.clone() } });
    const summary = eliminateDeadCode(graph);
    expect(graph.nodes.map((node) => node.name)).toEqual(['feeds_body', 'branch']);
    // dead_inner in both branches, then the outer node only it read.
    expect(summary.removedNodes).toBe(3);
    expect(body.nodes.map((node) => node.name)).toEqual(['live_inner']);
    // An initializer that is a graph input's default stays.
    expect(graph.initializers.has('default_for_x')).toBe(true);
  });
});

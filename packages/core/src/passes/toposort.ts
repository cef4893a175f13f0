import { ErrorCodes, fail } from '../errors.js';
import { describeNode, nodeInputs, type Graph, type Node } from '../ir/graph.js';

/** What `topologicalSort` changed. */
export interface TopologicalSortSummary {
  /** Nodes whose position in `graph.nodes` changed. */
  movedNodes: number;
}

/**
 * The nodes of a graph in an order where every producer comes before its consumers.
 * Stable: a node moves only when one of its producers comes later, so an already valid
 * order is returned unchanged. Reads of outer-scope values (subgraph references) count
 * as inputs. Fails with RAZOR_INVALID_GRAPH naming the nodes of a cycle.
 */
export function topologicalOrder(graph: Graph): Node[] {
  const producers = new Map<string, Node>();
  for (const node of graph.nodes) for (const output of node.outputs) if (output !== '') producers.set(output, node);

  const state = new Map<Node, 'visiting' | 'done'>();
  const order: Node[] = [];
  // Iterative depth-first search: deep chains (thousands of nodes) must not overflow the stack.
  for (const root of graph.nodes) {
    if (state.has(root)) continue;
    const stack: { node: Node; inputs: string[]; next: number }[] = [{ node: root, inputs: nodeInputs(root), next: 0 }];
    state.set(root, 'visiting');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next < frame.inputs.length) {
        const input = frame.inputs[frame.next++]!;
        const producer = input === '' ? undefined : producers.get(input);
        if (producer === undefined) continue;
        const producerState = state.get(producer);
        if (producerState === 'done') continue;
        if (producerState === 'visiting') {
          const start = stack.findIndex((entry) => entry.node === producer);
          const cycle = stack.slice(start).map((entry) => describeNode(entry.node));
          fail(
            ErrorCodes.INVALID_GRAPH,
            `graph '${graph.name}' has a cycle: ${[...cycle, describeNode(producer)].join(' -> ')} ` +
              '(each reads an output of the next); ONNX graphs must be acyclic, use a Loop node for recurrence',
          );
        }
        state.set(producer, 'visiting');
        stack.push({ node: producer, inputs: nodeInputs(producer), next: 0 });
        continue;
      }
      state.set(frame.node, 'done');
      order.push(frame.node);
      stack.pop();
    }
  }
  return order;
}

/**
 * Reorders `graph.nodes` topologically (see `topologicalOrder`), keeping the original
 * order wherever it is already valid. Fails with RAZOR_INVALID_GRAPH on a cycle.
 */
export function topologicalSort(graph: Graph): TopologicalSortSummary {
  const order = topologicalOrder(graph);
  let movedNodes = 0;
  for (let index = 0; index < order.length; index++) if (order[index] !== graph.nodes[index]) movedNodes++;
  if (movedNodes > 0) {
    graph.nodes = order;
    graph.invalidate();
  }
  return { movedNodes };
}

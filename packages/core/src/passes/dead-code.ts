import { nodeInputs, type Graph, type Node } from '../ir/graph.js';

/** What `eliminateDeadCode` removed. */
export interface DeadCodeSummary {
  /** Nodes removed (subgraphs included). */
  removedNodes: number;
  /** Initializers removed (subgraphs included). */
  removedInitializers: number;
  /** value_info entries removed because their value no longer exists. */
  removedValueInfo: number;
}

/**
 * Removes nodes whose outputs reach no graph output, then initializers nothing reads and
 * value_info entries of values that no longer exist. Subgraph bodies are cleaned first,
 * and values a body reads from the enclosing graph keep their producers alive. Graph
 * inputs are never removed, nor initializers that give a graph input its default.
 */
export function eliminateDeadCode(graph: Graph): DeadCodeSummary {
  const summary: DeadCodeSummary = { removedNodes: 0, removedInitializers: 0, removedValueInfo: 0 };
  clean(graph, summary);
  return summary;
}

function clean(graph: Graph, summary: DeadCodeSummary): void {
  const producers = new Map<string, Node>();
  for (const node of graph.nodes) for (const output of node.outputs) if (output !== '') producers.set(output, node);

  const liveValues = new Set<string>();
  const liveNodes = new Set<Node>();
  const pending: string[] = graph.outputs.map((output) => output.name);
  while (pending.length > 0) {
    const value = pending.pop()!;
    if (liveValues.has(value)) continue;
    liveValues.add(value);
    const producer = producers.get(value);
    if (!producer || liveNodes.has(producer)) continue;
    liveNodes.add(producer);
    // Clean the bodies before reading their outer references: dead nodes inside must not keep outer values alive.
    for (const attribute of producer.attributes.values()) {
      if (attribute.type === 'graph') clean(attribute.value, summary);
      else if (attribute.type === 'graphs') for (const body of attribute.value) clean(body, summary);
    }
    for (const input of nodeInputs(producer)) if (input !== '') pending.push(input);
  }

  const before = graph.nodes.length;
  if (liveNodes.size !== before) {
    graph.nodes = graph.nodes.filter((node) => liveNodes.has(node));
    graph.invalidate();
    summary.removedNodes += before - graph.nodes.length;
  }

  const inputNames = new Set(graph.inputs.map((input) => input.name));
  for (const name of [...graph.initializers.keys()]) {
    if (liveValues.has(name) || inputNames.has(name)) continue;
    graph.initializers.delete(name);
    graph.initializerPassthrough.delete(name);
    summary.removedInitializers++;
  }

  const existing = graph.definedValues();
  for (const name of [...graph.valueInfo.keys()]) {
    if (existing.has(name)) continue;
    graph.valueInfo.delete(name);
    summary.removedValueInfo++;
  }
}

import type { Graph, Node } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import type { OpRegistry } from '../ops/registry.js';
import { inferShapes, NONDETERMINISTIC_OPS } from './infer-shapes.js';

/** Options of `foldConstants`. */
export interface FoldConstantsOptions {
  /** The op definitions to use; `defaultRegistry` when omitted. */
  registry?: OpRegistry;
  /** Outputs larger than this many elements are not folded (default 1,048,576). */
  maxElements?: number;
}

/** What `foldConstants` changed. */
export interface FoldConstantsSummary {
  /** Nodes replaced by initializers (subgraphs included). */
  foldedNodes: number;
  /** Folded nodes by op type. */
  foldedByOpType: Record<string, number>;
  /** Initializers added for folded outputs. */
  addedInitializers: string[];
  /** Initializers removed because only folded nodes read them. */
  removedInitializers: number;
  /** Ops inference found no definition for; their outputs were not folded. */
  unknownOps: string[];
}

const DEFAULT_MAX_ELEMENTS = 1 << 20;

/**
 * Replaces every node whose outputs are computable ahead of time with initializers:
 * nodes whose inputs are all constant (evaluated with the op's reference kernel), Shape
 * and Size of statically shaped values, Constant nodes. A Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape chain folds to a constant shape when the input shape is static and
 * stays when a dimension is symbolic. Never folds nondeterministic ops, ops with
 * subgraphs, or outputs over `maxElements`. Runs shape inference (non-strict) first and
 * leaves its types in the graph.
 */
export function foldConstants(graph: Graph, options: FoldConstantsOptions = {}): FoldConstantsSummary {
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const inference = inferShapes(graph, {
    strict: false,
    maxConstantElements: maxElements,
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const summary: FoldConstantsSummary = {
    foldedNodes: 0,
    foldedByOpType: {},
    addedInitializers: [],
    removedInitializers: 0,
    unknownOps: inference.unknownOps.map((entry) => (entry.domain === '' ? entry.opType : `${entry.domain}::${entry.opType}`)),
  };
  foldGraph(graph, inference.constants, maxElements, summary);
  return summary;
}

function hasSubgraph(node: Node): boolean {
  for (const attribute of node.attributes.values()) if (attribute.type === 'graph' || attribute.type === 'graphs') return true;
  return false;
}

function foldGraph(graph: Graph, constants: Map<string, Tensor>, maxElements: number, summary: FoldConstantsSummary): void {
  for (const node of graph.nodes) {
    for (const attribute of node.attributes.values()) {
      if (attribute.type === 'graph') foldGraph(attribute.value, constants, maxElements, summary);
      else if (attribute.type === 'graphs') for (const body of attribute.value) foldGraph(body, constants, maxElements, summary);
    }
  }

  const folded = new Set<Node>();
  for (const node of graph.nodes) {
    if (NONDETERMINISTIC_OPS.has(node.opType) || hasSubgraph(node)) continue;
    // Every output someone reads must be known; unread optional outputs (a Dropout mask) just disappear.
    const used = node.outputs.filter((output) => output !== '' && (graph.consumers(output).length > 0 || graph.isOutput(output)));
    if (used.length === 0 && node.outputs.some((output) => output !== '')) continue;
    if (used.every((output) => (constants.get(output)?.size ?? Number.POSITIVE_INFINITY) <= maxElements)) folded.add(node);
  }
  if (folded.size === 0) return;

  const inputNames = new Set(graph.inputs.map((input) => input.name));
  const initializerNames = new Map<Tensor, string>();
  for (const [name, tensor] of graph.initializers) if (!inputNames.has(name)) initializerNames.set(tensor, name);
  const readByFolded = new Set<string>();
  const replacements: [string, string][] = [];
  for (const node of folded) {
    for (const output of node.outputs) {
      // Values only other folded nodes read vanish with them.
      if (output === '' || !(graph.isOutput(output) || graph.consumers(output).some((consumer) => !folded.has(consumer)))) continue;
      const value = constants.get(output)!;
      // Identity-like nodes passing an initializer through: read the initializer itself instead of copying it.
      const source = initializerNames.get(value);
      if (source !== undefined && !graph.isOutput(output)) replacements.push([output, source]);
      else {
        graph.initializers.set(output, value);
        summary.addedInitializers.push(output);
      }
      graph.valueInfo.delete(output);
    }
    for (const input of node.inputs) if (input !== '') readByFolded.add(input);
    summary.foldedNodes++;
    summary.foldedByOpType[node.opType] = (summary.foldedByOpType[node.opType] ?? 0) + 1;
  }
  graph.nodes = graph.nodes.filter((node) => !folded.has(node));
  graph.invalidate();
  for (const [output, source] of replacements) graph.replaceAllUses(output, source);

  for (const name of readByFolded) {
    if (summary.addedInitializers.includes(name) || !graph.initializers.has(name) || inputNames.has(name) || graph.isOutput(name) || graph.consumers(name).length > 0) continue;
    graph.initializers.delete(name);
    graph.initializerPassthrough.delete(name);
    summary.removedInitializers++;
  }
}

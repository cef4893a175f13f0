import { ErrorCodes, fail } from '../errors.js';
import { describeNode, type Graph, type Node } from '../ir/graph.js';
import { topologicalOrder } from './toposort.js';

/** What `validateGraph` found that is legal but suspicious. */
export interface ValidationSummary {
  /** Problems that do not make the graph invalid (duplicate node names). */
  warnings: string[];
  /** Graphs checked, subgraphs included. */
  graphsChecked: number;
}

const MAX_REPORTED = 20;

/**
 * Checks that a graph is well formed, subgraphs included (with the values of enclosing
 * graphs visible): every value read is defined, no value is defined twice, graph outputs
 * exist, no initializer is also a node output, and there is no cycle. Fails with
 * RAZOR_INVALID_GRAPH listing every problem found; duplicate node names are only warnings
 * (ONNX allows them).
 */
export function validateGraph(graph: Graph): ValidationSummary {
  const problems: string[] = [];
  const summary: ValidationSummary = { warnings: [], graphsChecked: 0 };
  checkGraph(graph, [], problems, summary, graph.name);
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_REPORTED);
    const more = problems.length > MAX_REPORTED ? `\n  ... and ${problems.length - MAX_REPORTED} more` : '';
    fail(
      ErrorCodes.INVALID_GRAPH,
      `graph '${graph.name}' is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${shown.join('\n  ')}${more}`,
    );
  }
  return summary;
}

function checkGraph(graph: Graph, outer: readonly Set<string>[], problems: string[], summary: ValidationSummary, path: string): void {
  summary.graphsChecked++;
  const where = outer.length === 0 ? '' : ` in subgraph '${path}'`;
  const defined = new Map<string, string>();
  const define = (name: string, what: string): void => {
    if (name === '') return;
    const previous = defined.get(name);
    if (previous !== undefined) problems.push(`value '${name}'${where} is defined twice: by ${previous} and by ${what}; rename one`);
    else defined.set(name, what);
  };
  for (const input of graph.inputs) define(input.name, `graph input '${input.name}'`);
  const inputNames = new Set(graph.inputs.map((input) => input.name));
  // An initializer named like a graph input is the input's default value: not a second definition.
  for (const name of graph.initializers.keys()) if (!inputNames.has(name)) define(name, `initializer '${name}'`);
  for (const node of graph.nodes) {
    for (const output of node.outputs) {
      if (graph.initializers.has(output)) {
        problems.push(`${describeNode(node)}${where} writes output '${output}', which is also an initializer; rename the output or drop the initializer`);
      } else define(output, describeNode(node));
    }
  }

  const visible = (name: string): boolean => defined.has(name) || outer.some((scope) => scope.has(name));
  const nodeNames = new Map<string, number>();
  for (const node of graph.nodes) {
    if (node.name !== '') nodeNames.set(node.name, (nodeNames.get(node.name) ?? 0) + 1);
    node.inputs.forEach((input, position) => {
      if (input !== '' && !visible(input)) {
        problems.push(`${describeNode(node)}${where} reads '${input}' (input ${position}), which no node, graph input or initializer defines`);
      }
    });
  }
  for (const [name, count] of nodeNames) {
    if (count > 1) summary.warnings.push(`${count} nodes${where} are named '${name}'; tools that address nodes by name may pick the wrong one`);
  }
  for (const output of graph.outputs) {
    if (!visible(output.name)) problems.push(`graph output '${output.name}'${where} is not produced by any node, input or initializer`);
  }

  const scopes = [...outer, new Set(defined.keys())];
  for (const node of graph.nodes) {
    for (const [attributeName, attribute] of node.attributes) {
      const bodies = attribute.type === 'graph' ? [attribute.value] : attribute.type === 'graphs' ? attribute.value : [];
      for (const body of bodies) checkGraph(body, scopes, problems, summary, `${path}/${nodeLabel(node)}.${attributeName}`);
    }
  }

  try {
    topologicalOrder(graph);
  } catch (error) {
    problems.push((error as Error).message);
  }
}

function nodeLabel(node: Node): string {
  return node.name === '' ? node.opType : node.name;
}

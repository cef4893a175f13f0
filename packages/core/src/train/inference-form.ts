import { getInt, type Graph, type Node } from '../ir/graph.js';

/** Training-mode BatchNormalization: training_mode = 1 from opset 14, extra outputs before. */
export function isTrainingBatchNorm(graph: Graph, node: Node): boolean {
  if (node.opType !== 'BatchNormalization' || (node.domain !== '' && node.domain !== 'ai.onnx')) return false;
  if (graph.opset() >= 14) return getInt(node, 'training_mode', 0) === 1;
  return node.outputs.length > 1 && node.outputs.slice(1).some((output) => output !== '');
}

function isDefaultDomain(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

/**
 * Turns a training-form graph into its inference form, in place: BatchNormalization reads its
 * running statistics (the running-statistics outputs and `training_mode` go), and Dropout
 * becomes an Identity of its input (its mask output, if any, goes). Nodes that only fed the
 * removed outputs stay; run `eliminateDeadCode` afterwards to drop them.
 */
export function toInferenceForm(graph: Graph): Graph {
  for (const node of graph.nodes) {
    if (isTrainingBatchNorm(graph, node)) {
      node.outputs = node.outputs.slice(0, 1);
      node.attributes.delete('training_mode');
    } else if (node.opType === 'Dropout' && isDefaultDomain(node)) {
      node.opType = 'Identity';
      node.inputs = node.inputs.slice(0, 1);
      node.outputs = node.outputs.slice(0, 1);
      node.attributes.clear();
    }
  }
  graph.invalidate();
  return graph;
}

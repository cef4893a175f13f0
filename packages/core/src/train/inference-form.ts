import { ErrorCodes, fail } from '../errors.js';
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

/**
 * Turns an inference graph (as exported for deployment) into its training form, in place:
 * every inference-mode BatchNormalization gets `training_mode = 1` and running-statistics
 * outputs, with ONNX's default momentum 0.9 (PyTorch's 0.1) when it has none. Returns the
 * number of nodes changed. BatchNormalization's training mode is explicit from opset 14; a
 * graph of an older opset with BatchNormalization fails (RAZOR_INVALID_GRAPH): re-export it
 * with opset 14 or later.
 */
export function toTrainingForm(graph: Graph): number {
  let changed = 0;
  for (const node of graph.nodes) {
    if (node.opType !== 'BatchNormalization' || !isDefaultDomain(node) || isTrainingBatchNorm(graph, node)) continue;
    if (graph.opset() < 14) {
      fail(
        ErrorCodes.INVALID_GRAPH,
        `graph '${graph.name}' imports opset ${graph.opset()}; BatchNormalization '${node.name}' can train only from opset 14 (training_mode); re-export the model with opset 14 or later (torch.onnx.export(..., opset_version=14))`,
      );
    }
    node.outputs = [node.outputs[0]!, graph.uniqueName(`${node.name || 'batchnorm'}_running_mean`), graph.uniqueName(`${node.name || 'batchnorm'}_running_var`)];
    node.attributes.set('training_mode', { type: 'int', value: 1 });
    if (!node.attributes.has('momentum')) node.attributes.set('momentum', { type: 'float', value: 0.9 });
    changed++;
  }
  graph.invalidate();
  return changed;
}

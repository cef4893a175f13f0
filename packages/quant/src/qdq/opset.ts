/**
 * Raising a graph's default-domain opset import, for quantization forms that need a newer
 * QuantizeLinear/DequantizeLinear (per-channel `axis` at 13, 16-bit types at 21). Raising the
 * import re-reads every node under the newer operator versions, so it is allowed only when no
 * op of the graph changed its inputs, attributes or meaning between the two versions.
 */
import { ErrorCodes, describeNode, fail, type Graph, type Node } from '@razor/core';

/**
 * Default-domain ops whose definition changed incompatibly at the listed opset versions
 * (an attribute became an input, an attribute was removed, a default or the semantics changed).
 * Versions that only added types or optional attributes with the old behaviour as default are
 * compatible and not listed.
 */
const INCOMPATIBLE_VERSIONS: Readonly<Record<string, readonly number[]>> = {
  // Opsets 9 and 10: Upsample's scales become an input, then Upsample is deprecated; Slice and TopK take inputs.
  Upsample: [9, 10],
  Slice: [10],
  TopK: [10],
  // Opset 11: Pad and Clip take their parameters as inputs; Resize/Upsample rework.
  Pad: [11],
  Clip: [11],
  Resize: [11],
  // Opset 12: Dropout's ratio becomes an input.
  Dropout: [12],
  // Opset 13: axes and split sizes become inputs; Softmax family no longer flattens to 2-D.
  Split: [13],
  Squeeze: [13],
  Unsqueeze: [13],
  ReduceSum: [13],
  Softmax: [13],
  LogSoftmax: [13],
  Hardmax: [13],
  // Opset 14: training-mode BatchNormalization changes its outputs.
  BatchNormalization: [14],
  // Opset 16: RoiAlign's default coordinate transformation changes.
  RoiAlign: [16],
  // Opset 18: the remaining reductions take axes as an input.
  ReduceMax: [18],
  ReduceMin: [18],
  ReduceMean: [18],
  ReduceProd: [18],
  ReduceL1: [18],
  ReduceL2: [18],
  ReduceLogSum: [18],
  ReduceLogSumExp: [18],
  ReduceSumSquare: [18],
  // Opset 20: DFT's axis becomes an input; GridSample renames its modes.
  DFT: [20],
  GridSample: [20],
  // Opset 21: GroupNormalization's scale and bias become per channel.
  GroupNormalization: [21],
};

/** The ONNX IR version each opset needs at least (ONNX's release table). */
function minimumIrVersion(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 13) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  return 3;
}

function* defaultDomainNodes(graph: Graph): Generator<Node> {
  for (const node of graph.nodes) {
    if (node.domain === '' || node.domain === 'ai.onnx') yield node;
    for (const attribute of node.attributes.values()) {
      if (attribute.type === 'graph') yield* defaultDomainNodes(attribute.value);
      else if (attribute.type === 'graphs') for (const body of attribute.value) yield* defaultDomainNodes(body);
    }
  }
}

/**
 * The first node that keeps `graph` from moving its default-domain opset from `from` to `to`
 * unchanged, with the version its op changed at; undefined when every op reads the same.
 */
export function opsetBlocker(graph: Graph, from: number, to: number): { node: Node; version: number } | undefined {
  for (const node of defaultDomainNodes(graph)) {
    const version = INCOMPATIBLE_VERSIONS[node.opType]?.find((changed) => changed > from && changed <= to);
    if (version !== undefined) return { node, version };
  }
  return undefined;
}

/**
 * Raises the default-domain opset import of `graph` to `target` (and the IR version to what that
 * opset needs) when it is lower; fails with RAZOR_UNSUPPORTED_OP naming the node whose op changed
 * in between. `why` says what needs the newer opset, for the message. Returns the opset before.
 */
export function raiseOpset(graph: Graph, target: number, why: string): number {
  const current = graph.opset();
  if (current >= target) return current;
  const blocker = opsetBlocker(graph, current, target);
  if (blocker) {
    fail(
      ErrorCodes.UNSUPPORTED_OP,
      `${why} needs opset ${target}, but graph '${graph.name}' imports opset ${current} and ${describeNode(blocker.node)} changed its definition at opset ${blocker.version}; ` +
        `convert the model to opset ${target} first (onnx.version_converter, or re-export it), or choose options that need no newer opset`,
    );
  }
  graph.opsetImports.set('', target);
  graph.model.irVersion = Math.max(graph.model.irVersion, minimumIrVersion(target));
  return current;
}

import { Graph, type AttributeInput, type Dim, type TensorType } from '../../../ir/graph.js';
import type { DType } from '../../../ir/dtype.js';
import type { Tensor } from '../../../ir/tensor.js';
import { inferShapes } from '../../../passes/infer-shapes.js';
import { defaultRegistry } from '../../builtin.js';
import type { CostContext } from '../../registry.js';

/** An input of a one-node test graph: a typed graph input, a constant, or omitted (''). */
export type TestInput = { dtype: DType; shape?: Dim[] } | Tensor | '';

export interface SingleNode {
  graph: Graph;
  outputs: (TensorType | undefined)[];
  /** The node's MACs under the registered cost rule. */
  macs(): number;
}

/** Builds a graph holding one node, runs shape inference, and returns the output types. */
export function inferSingleNode(
  opType: string,
  inputs: readonly TestInput[],
  attributes: Record<string, AttributeInput | undefined> = {},
  options: { opset?: number; outputs?: number | string[] } = {},
): SingleNode {
  const graph = new Graph('test');
  graph.opsetImports.set('', options.opset ?? 17);
  const names = inputs.map((input, index) => {
    if (input === '') return '';
    const name = `in${index}`;
    if ('data' in input) graph.initializers.set(name, input);
    else graph.inputs.push({ name, type: { dtype: input.dtype, ...(input.shape ? { shape: input.shape } : {}) } });
    return name;
  });
  const outputCount = typeof options.outputs === 'number' ? options.outputs : undefined;
  const outputs = Array.isArray(options.outputs)
    ? options.outputs
    : Array.from({ length: outputCount ?? 1 }, (_, index) => `out${index}`);
  const node = graph.addNode({ opType, inputs: names, outputs, attributes, name: `${opType.toLowerCase()}_node` });
  for (const output of outputs) if (output !== '') graph.outputs.push({ name: output });
  inferShapes(graph);
  const types = outputs.map((output) => (output === '' ? undefined : graph.typeOf(output)));
  return {
    graph,
    outputs: types,
    macs() {
      const definition = defaultRegistry.require(node);
      const context: CostContext = {
        node,
        opset: graph.opset(),
        inputType: (index) => (node.inputs[index] ? graph.typeOf(node.inputs[index]) : undefined),
        outputType: (index) => (node.outputs[index] ? graph.typeOf(node.outputs[index]) : undefined),
      };
      return definition.macs?.(context) ?? 0;
    },
  };
}

/** The shape of output `index`. */
export function shapeOf(result: SingleNode, index = 0): readonly Dim[] | undefined {
  return result.outputs[index]?.shape;
}

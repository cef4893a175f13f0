import { isFloatDType } from '../ir/dtype.js';
import { getTensorAttribute, type Graph, type TensorType } from '../ir/graph.js';
import type { OpRegistry } from './registry.js';

/** Ops a weight passes through on its way to a parameter input (QDQ models, exporters' Identity). */
const weightCarriers = new Set(['Identity', 'DequantizeLinear', 'Cast', 'QuantizeLinear', 'Transpose', 'Reshape', 'Unsqueeze']);

/** Where a parameter input's tensor comes from (see `parameterSource`). */
export interface ParameterSource {
  /** The initializer's name, or the Constant node's output. */
  name: string;
  size: number;
  /** The parameter's dtype: float32 for a quantized weight behind DequantizeLinear. */
  dtype: TensorType['dtype'];
}

/**
 * The tensor a parameter input comes from: an initializer, a Constant node's value, or
 * one of those behind Identity/DequantizeLinear/Cast/... (weight in a QDQ model). An
 * initializer that is also a graph input is an overridable default, not a parameter.
 */
export function parameterSource(graph: Graph, value: string, depth = 0): ParameterSource | undefined {
  const initializer = graph.initializers.get(value);
  if (initializer) return graph.isInput(value) ? undefined : { name: value, size: initializer.size, dtype: initializer.dtype };
  const producer = graph.producer(value);
  if (!producer || depth > 4) return undefined;
  if (producer.opType === 'Constant') {
    const tensor = getTensorAttribute(producer, 'value');
    return tensor ? { name: value, size: tensor.size, dtype: tensor.dtype } : undefined;
  }
  if (weightCarriers.has(producer.opType) && producer.inputs[0]) {
    const source = parameterSource(graph, producer.inputs[0], depth + 1);
    // A quantized weight counts as a parameter whatever its integer type.
    if (source && producer.opType === 'DequantizeLinear') return { ...source, dtype: 'float32' };
    return source;
  }
  return undefined;
}

/**
 * The floating-point initializers that feed an op's parameter inputs (the op definitions'
 * `parameterInputs`: Conv/Gemm weights and biases, MatMul's B, normalization scale and
 * bias; not BatchNormalization's running statistics), each once, in node order. The
 * trainable parameters of a graph; Constant-node weights and quantized weights are left out.
 */
export function parameterInitializers(graph: Graph, registry: OpRegistry): string[] {
  const found = new Set<string>();
  for (const node of graph.nodes) {
    const definition = registry.find(node.opType, node.domain);
    for (const position of definition?.parameterInputs ?? []) {
      const input = node.inputs[position];
      if (!input) continue;
      const source = parameterSource(graph, input);
      const tensor = source === undefined ? undefined : graph.initializers.get(source.name);
      if (tensor !== undefined && isFloatDType(tensor.dtype)) found.add(source!.name);
    }
  }
  return [...found];
}

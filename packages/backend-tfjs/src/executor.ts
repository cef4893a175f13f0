import {
  ErrorCodes,
  RazorError,
  describeNode,
  errorMessage,
  fail,
  inferShapes,
  topologicalOrder,
  type Graph,
  type Node,
  type Tensor,
  type TensorType,
} from '@razor/core';
import { createKernelContext, kernelKey, type Kernel, type KernelResult } from './kernel.js';
import { kernels } from './kernels/index.js';
import { toHostTensor, toTfValue, type Tf, type TfTensor, type TfValue } from './values.js';

interface Step {
  node: Node;
  kernel: Kernel;
  outputTypes: (TensorType | undefined)[];
  /** Inputs whose last reader this step is: their tensors may be freed after it. */
  lastUses: string[];
}

/** Op types without a kernel in this backend, with the nodes that use them. */
export function missingKernels(graph: Graph): Map<string, string[]> {
  const missing = new Map<string, string[]>();
  for (const node of graph.nodes) {
    const key = kernelKey(node);
    if (kernels[key] === undefined) missing.set(key, [...(missing.get(key) ?? []), node.name]);
  }
  return missing;
}

function isKernelResultArray(result: KernelResult): result is readonly (TfValue | undefined)[] {
  return Array.isArray(result);
}

/**
 * A graph compiled for tfjs: the nodes in order with their kernels, the initializers as tfjs
 * tensors (kept until `dispose`), and for every value the step after which nothing reads it.
 */
export class TfjsExecutor {
  readonly #tf: Tf;
  readonly #graph: Graph;
  readonly #steps: Step[];
  readonly #initializers = new Map<string, TfValue>();
  readonly #initializerTensors = new Set<TfTensor>();
  readonly #opset: number;

  constructor(tf: Tf, graph: Graph) {
    this.#tf = tf;
    this.#graph = graph;
    this.#opset = graph.opset();
    if (graph.nodes.some((node) => node.attributes.size > 0 && [...node.attributes.values()].some((attribute) => attribute.type === 'graph' || attribute.type === 'graphs'))) {
      const node = graph.nodes.find((candidate) => [...candidate.attributes.values()].some((attribute) => attribute.type === 'graph' || attribute.type === 'graphs'))!;
      fail(ErrorCodes.UNSUPPORTED_OP, `${describeNode(node)}: the TensorFlow.js backend does not run control flow (subgraph attributes); run this model on the onnxruntime backend`);
    }
    const missing = missingKernels(graph);
    if (missing.size > 0) {
      const list = [...missing].map(([op, nodes]) => `${op} (${nodes.length === 1 ? `node '${nodes[0]}'` : `${nodes.length} nodes, first '${nodes[0]}'`})`);
      fail(
        ErrorCodes.UNSUPPORTED_OP,
        `graph '${graph.name}' uses ops the TensorFlow.js backend has no kernel for: ${list.join(', ')}; run it on the onnxruntime backend, or replace these ops`,
      );
    }
    // Output types help shape kernels; a graph inference cannot fully type still runs.
    try {
      inferShapes(graph, { strict: false });
    } catch {
      // Kernels fall back to the shapes of the tensors they compute.
    }
    const order = topologicalOrder(graph);
    const lastReader = new Map<string, number>();
    order.forEach((node, index) => {
      for (const input of node.inputs) if (input !== '') lastReader.set(input, index);
    });
    const kept = new Set([...graph.outputs.map((output) => output.name), ...graph.initializers.keys()]);
    this.#steps = order.map((node, index) => ({
      node,
      kernel: kernels[kernelKey(node)]!,
      outputTypes: node.outputs.map((output) => (output === '' ? undefined : graph.typeOf(output))),
      lastUses: [...new Set(node.inputs)].filter((input) => input !== '' && lastReader.get(input) === index && !kept.has(input)),
    }));
    try {
      for (const [name, tensor] of graph.initializers) {
        const converted = toTfValue(tf, tensor, `initializer '${name}'`, true);
        this.#initializers.set(name, converted);
        this.#initializerTensors.add(converted.tensor);
      }
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /** Runs the graph on host feeds and returns the fetched values as host tensors. */
  async run(feeds: Readonly<Record<string, Tensor>>, fetches: readonly string[]): Promise<Record<string, Tensor>> {
    const tf = this.#tf;
    const values = new Map<string, TfValue>(this.#initializers);
    /** How many live names hold each tensor this run created. */
    const owners = new Map<TfTensor, number>();
    const hold = (tensor: TfTensor): void => {
      if (!this.#isInitializer(tensor)) owners.set(tensor, (owners.get(tensor) ?? 0) + 1);
    };
    const drop = (name: string): void => {
      const entry = values.get(name);
      values.delete(name);
      if (entry === undefined || !owners.has(entry.tensor)) return;
      const count = owners.get(entry.tensor)! - 1;
      if (count > 0) owners.set(entry.tensor, count);
      else {
        owners.delete(entry.tensor);
        entry.tensor.dispose();
      }
    };
    const wanted = new Set(fetches);
    try {
      for (const [name, tensor] of Object.entries(feeds)) {
        const converted = toTfValue(tf, tensor, `input '${name}'`);
        values.set(name, converted);
        hold(converted.tensor);
      }
      for (const step of this.#steps) {
        const { node } = step;
        const inputs = node.inputs.map((input) => {
          if (input === '') return undefined;
          const found = values.get(input);
          if (found === undefined) fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)} reads '${input}', which no node, input or initializer defines`);
          return found;
        });
        let results: (TfValue | undefined)[] = [];
        try {
          tf.tidy(() => {
            const result = step.kernel(createKernelContext(tf, node, this.#opset, inputs, step.outputTypes));
            results = isKernelResultArray(result) ? [...result] : [result];
            return results.filter((entry): entry is TfValue => entry !== undefined).map((entry) => entry.tensor);
          });
        } catch (error) {
          if (RazorError.isInstance(error)) throw error;
          throw new RazorError(ErrorCodes.BACKEND_FAILURE, `TensorFlow.js failed to run ${describeNode(node)}: ${errorMessage(error)}`, { cause: error });
        }
        node.outputs.forEach((output, index) => {
          const result = results[index];
          if (output === '') return;
          if (result === undefined) {
            fail(ErrorCodes.UNSUPPORTED_OP, `${describeNode(node)}: the TensorFlow.js backend does not compute its output ${index} ('${output}'); run this model on the onnxruntime backend`);
          }
          if (values.has(output)) drop(output);
          values.set(output, result);
          hold(result.tensor);
        });
        // Results nobody asked for (extra outputs a kernel computes anyway).
        for (const result of results.slice(node.outputs.length)) if (result !== undefined && !owners.has(result.tensor) && !this.#isInitializer(result.tensor)) result.tensor.dispose();
        node.outputs.forEach((output, index) => {
          if (output !== '' && !wanted.has(output) && this.#graph.consumers(output).length === 0 && !this.#graph.isOutput(output)) drop(output);
          else if (output === '' && results[index] !== undefined && !owners.has(results[index]!.tensor) && !this.#isInitializer(results[index]!.tensor)) results[index]!.tensor.dispose();
        });
        for (const input of step.lastUses) if (!wanted.has(input)) drop(input);
      }
      const outputs: Record<string, Tensor> = {};
      for (const name of fetches) {
        const found = values.get(name);
        if (found === undefined) fail(ErrorCodes.INVALID_FEED, `'${name}' was not computed by this run`);
        outputs[name] = await toHostTensor(found);
      }
      return outputs;
    } finally {
      for (const tensor of owners.keys()) tensor.dispose();
    }
  }

  #isInitializer(tensor: TfTensor): boolean {
    return this.#initializerTensors.has(tensor);
  }

  /** Frees the initializers' tensors. */
  dispose(): void {
    for (const tensor of this.#initializerTensors) tensor.dispose();
    this.#initializers.clear();
    this.#initializerTensors.clear();
  }
}

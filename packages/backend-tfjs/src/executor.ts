import {
  ErrorCodes,
  RazorError,
  describeNode,
  errorMessage,
  fail,
  getAttribute,
  inferShapes,
  nodeInputs,
  topologicalOrder,
  type Graph,
  type Node,
  type Tensor,
  type TensorType,
} from '@razor/core';
import { createKernelContext, kernelKey, type Kernel, type KernelResult } from './kernel.js';
import { kernels } from './kernels/index.js';
import { toHostTensor, toTfValue, type Tf, type TfTensor, type TfValue } from './values.js';

/** Control-flow ops the executor runs itself (they run subgraphs, not kernels). */
const CONTROL_FLOW = new Set(['If', 'Loop']);

interface Step {
  node: Node;
  /** The node's kernel; undefined for control flow. */
  kernel: Kernel | undefined;
  outputTypes: (TensorType | undefined)[];
  /** Values (explicit or captured by subgraphs) whose last reader this step is: freed after it. */
  lastUses: string[];
  /** Outputs no node, subgraph or graph output reads: freed at once unless fetched. */
  unread: Set<string>;
}

/** Looks a name up in the enclosing scopes of a subgraph. */
type Scope = (name: string) => TfValue | undefined;

const noScope: Scope = () => undefined;

function isControlFlow(node: Node): boolean {
  return (node.domain === '' || node.domain === 'ai.onnx') && CONTROL_FLOW.has(node.opType);
}

/** Op types without a kernel in this backend (subgraphs included), with the nodes that use them. */
export function missingKernels(graph: Graph, missing = new Map<string, string[]>()): Map<string, string[]> {
  for (const node of graph.nodes) {
    const key = kernelKey(node);
    if (!isControlFlow(node) && kernels[key] === undefined) missing.set(key, [...(missing.get(key) ?? []), node.name]);
    for (const attribute of node.attributes.values()) {
      if (attribute.type === 'graph') missingKernels(attribute.value, missing);
      if (attribute.type === 'graphs') for (const body of attribute.value) missingKernels(body, missing);
    }
  }
  return missing;
}

function isKernelResultArray(result: KernelResult): result is readonly (TfValue | undefined)[] {
  return Array.isArray(result);
}

/**
 * A graph compiled for tfjs: the nodes in order with their kernels, the initializers as tfjs
 * tensors (kept until `dispose`), for every value the step after which nothing reads it, and
 * the subgraphs of If and Loop nodes compiled the same way.
 */
export class TfjsExecutor {
  readonly #tf: Tf;
  readonly #graph: Graph;
  readonly #steps: Step[];
  readonly #initializers = new Map<string, TfValue>();
  readonly #initializerTensors = new Set<TfTensor>();
  readonly #subgraphs = new Map<Graph, TfjsExecutor>();
  /** Tensors derived from initializers (`KernelContext.derived`), by initializer and key. */
  readonly #derived = new Map<TfTensor, Map<string, TfTensor>>();
  readonly #derivedTensors = new Set<TfTensor>();
  readonly #derive = (sources: TfTensor | readonly TfTensor[], key: string, compute: () => TfTensor): TfTensor => {
    const list = Array.isArray(sources) ? (sources as readonly TfTensor[]) : [sources as TfTensor];
    if (!list.every((tensor) => this.#initializerTensors.has(tensor))) return compute();
    const source = list[0]!;
    let entries = this.#derived.get(source);
    if (entries === undefined) this.#derived.set(source, (entries = new Map()));
    let tensor = entries.get(key);
    if (tensor === undefined) {
      tensor = compute();
      if (tensor === source) return tensor;
      this.#tf.keep(tensor);
      entries.set(key, tensor);
      this.#derivedTensors.add(tensor);
    }
    return tensor;
  };
  readonly #opset: number;

  /** `root`: the model's main graph (checked and typed here); false for subgraphs. */
  constructor(tf: Tf, graph: Graph, root = true, opset = graph.opset()) {
    this.#tf = tf;
    this.#graph = graph;
    this.#opset = opset;
    if (root) {
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
    }
    const order = topologicalOrder(graph);
    const lastReader = new Map<string, number>();
    order.forEach((node, index) => {
      for (const input of nodeInputs(node)) if (input !== '') lastReader.set(input, index);
    });
    const kept = new Set([...graph.outputs.map((output) => output.name), ...graph.initializers.keys()]);
    this.#steps = order.map((node, index) => ({
      node,
      kernel: isControlFlow(node) ? undefined : kernels[kernelKey(node)]!,
      outputTypes: node.outputs.map((output) => (output === '' ? undefined : graph.typeOf(output))),
      lastUses: [...new Set(nodeInputs(node))].filter((input) => input !== '' && lastReader.get(input) === index && !kept.has(input)),
      unread: new Set(node.outputs.filter((output) => output !== '' && !lastReader.has(output) && !graph.isOutput(output))),
    }));
    try {
      for (const [name, tensor] of graph.initializers) {
        const converted = toTfValue(tf, tensor, `initializer '${name}'`, true);
        this.#initializers.set(name, converted);
        this.#initializerTensors.add(converted.tensor);
      }
      for (const node of graph.nodes) {
        for (const attribute of node.attributes.values()) {
          const bodies = attribute.type === 'graph' ? [attribute.value] : attribute.type === 'graphs' ? attribute.value : [];
          for (const body of bodies) this.#subgraphs.set(body, new TfjsExecutor(tf, body, false, opset));
        }
      }
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /** Runs the graph on host feeds and returns the fetched values as host tensors. */
  async run(feeds: Readonly<Record<string, Tensor>>, fetches: readonly string[]): Promise<Record<string, Tensor>> {
    const inputs = new Map<string, TfValue>();
    let results: TfValue[] = [];
    try {
      for (const [name, tensor] of Object.entries(feeds)) inputs.set(name, toTfValue(this.#tf, tensor, `input '${name}'`));
      results = this.execute(inputs, noScope, fetches);
      const outputs: Record<string, Tensor> = {};
      for (const [index, name] of fetches.entries()) outputs[name] = await toHostTensor(results[index]!);
      return outputs;
    } finally {
      for (const value of inputs.values()) value.tensor.dispose();
      for (const value of results) value.tensor.dispose();
    }
  }

  /**
   * Runs the graph synchronously on tfjs values. `inputs` (the graph's inputs) and what `outer`
   * finds (enclosing scopes) belong to the caller. Returns the `fetches` as tensors the caller
   * owns: a fetch that is an input, an outer value or an initializer comes back as a clone (tfjs
   * clones share the data).
   */
  execute(inputs: ReadonlyMap<string, TfValue>, outer: Scope, fetches: readonly string[]): TfValue[] {
    const tf = this.#tf;
    const values = new Map<string, TfValue>();
    /** How many live names hold each tensor this execution created. */
    const owners = new Map<TfTensor, number>();
    const lookup = (name: string): TfValue | undefined => values.get(name) ?? inputs.get(name) ?? this.#initializers.get(name) ?? outer(name);
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
    const inputTensors = new Set([...inputs.values()].map((value) => value.tensor));
    const isForeign = (tensor: TfTensor): boolean =>
      this.#initializerTensors.has(tensor) || this.#derivedTensors.has(tensor) || inputTensors.has(tensor) || (outer !== noScope && this.#outerHolds(tensor, outer));
    const disposeIfLoose = (value: TfValue | undefined): void => {
      if (value !== undefined && !owners.has(value.tensor) && !isForeign(value.tensor)) value.tensor.dispose();
    };
    const wanted = new Set(fetches);
    try {
      for (const step of this.#steps) {
        const { node } = step;
        const stepInputs = node.inputs.map((input) => {
          if (input === '') return undefined;
          const found = lookup(input);
          if (found === undefined) fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)} reads '${input}', which no node, input or initializer defines`);
          return found;
        });
        let results: (TfValue | undefined)[] = [];
        try {
          if (step.kernel === undefined) {
            results = this.#controlFlow(node, stepInputs, lookup);
          } else {
            const kernel = step.kernel;
            tf.tidy(() => {
              const result = kernel(createKernelContext(tf, node, this.#opset, stepInputs, step.outputTypes, this.#derive));
              results = isKernelResultArray(result) ? [...result] : [result];
              return results.filter((entry): entry is TfValue => entry !== undefined).map((entry) => entry.tensor);
            });
          }
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
          if (!isForeign(result.tensor)) owners.set(result.tensor, (owners.get(result.tensor) ?? 0) + 1);
        });
        // Results nobody reads: omitted outputs, extra outputs a kernel computes anyway, dead values.
        results.forEach((result, index) => {
          const output = node.outputs[index];
          if (output === undefined || output === '') disposeIfLoose(result);
          else if (step.unread.has(output) && !wanted.has(output)) drop(output);
        });
        for (const input of step.lastUses) if (!wanted.has(input)) drop(input);
      }
      return fetches.map((name) => {
        const found = lookup(name);
        if (found === undefined) fail(ErrorCodes.INVALID_FEED, `'${name}' was not computed by this run`);
        if (owners.has(found.tensor)) {
          // Handed to the caller: no longer this execution's to free.
          const count = owners.get(found.tensor)! - 1;
          if (count > 0) owners.set(found.tensor, count);
          else owners.delete(found.tensor);
          return count > 0 ? { tensor: tf.clone(found.tensor), dtype: found.dtype } : found;
        }
        return { tensor: tf.clone(found.tensor), dtype: found.dtype };
      });
    } finally {
      for (const tensor of owners.keys()) tensor.dispose();
    }
  }

  /** Whether an enclosing scope's value (one this graph captures) holds `tensor`. */
  #outerHolds(tensor: TfTensor, outer: Scope): boolean {
    for (const name of this.#capturedNames()) if (outer(name)?.tensor === tensor) return true;
    return false;
  }

  #captured: Set<string> | undefined;
  /** Names this graph (and its subgraphs) read from enclosing scopes. */
  #capturedNames(): Set<string> {
    if (this.#captured === undefined) {
      const defined = new Set([...this.#graph.inputs.map((input) => input.name), ...this.#graph.initializers.keys()]);
      for (const node of this.#graph.nodes) for (const output of node.outputs) defined.add(output);
      this.#captured = new Set(this.#graph.nodes.flatMap((node) => nodeInputs(node)).filter((name) => name !== '' && !defined.has(name)));
    }
    return this.#captured;
  }

  #subgraph(node: Node, attribute: string): TfjsExecutor {
    const body = getAttribute(node, attribute, 'graph');
    if (body === undefined) fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)} has no '${attribute}' subgraph`);
    return this.#subgraphs.get(body)!;
  }

  /** If and Loop: subgraphs run by this executor, reading the enclosing scope through `scope`. */
  #controlFlow(node: Node, inputs: readonly (TfValue | undefined)[], scope: Scope): TfValue[] {
    const tf = this.#tf;
    const hostScalar = (value: TfValue | undefined, what: string): number => {
      if (value === undefined) fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)}: ${what} is required`);
      if (value.tensor.size !== 1) fail(ErrorCodes.SHAPE_MISMATCH, `${describeNode(node)}: ${what} must hold one value, it has shape [${value.tensor.shape.join(', ')}]`);
      return (value.tensor.dataSync() as ArrayLike<number>)[0]!;
    };
    if (node.opType === 'If') {
      const branch = this.#subgraph(node, hostScalar(inputs[0], 'the condition') !== 0 ? 'then_branch' : 'else_branch');
      return branch.execute(new Map(), scope, branch.#graph.outputs.map((output) => output.name));
    }
    // Loop: inputs (M, cond, v_initial...), body inputs (iteration_num, cond, v...), body outputs (cond, v..., scan outputs...).
    const body = this.#subgraph(node, 'body');
    const bodyInputs = body.#graph.inputs.map((input) => input.name);
    const bodyOutputs = body.#graph.outputs.map((output) => output.name);
    const carriedCount = inputs.length - 2;
    if (bodyInputs.length !== carriedCount + 2 || bodyOutputs.length < carriedCount + 1) {
      fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)}: its body takes ${bodyInputs.length} inputs and gives ${bodyOutputs.length} outputs for ${carriedCount} loop-carried values`);
    }
    const limit = inputs[0] === undefined ? Number.POSITIVE_INFINITY : hostScalar(inputs[0], 'the trip count M');
    let condition = inputs[1] === undefined ? true : hostScalar(inputs[1], 'the condition') !== 0;
    if (!Number.isFinite(limit) && inputs[1] === undefined) fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)}: a Loop with neither a trip count nor a condition never ends`);
    let carried: TfValue[] = inputs.slice(2).map((value) => ({ tensor: tf.clone(value!.tensor), dtype: value!.dtype }));
    const scans: TfValue[][] = bodyOutputs.slice(carriedCount + 1).map(() => []);
    try {
      for (let iteration = 0; iteration < limit && condition; iteration++) {
        const iterationNumber: TfValue = { tensor: tf.scalar(iteration, 'int32'), dtype: 'int64' };
        const conditionValue: TfValue = { tensor: tf.scalar(condition, 'bool'), dtype: 'bool' };
        const feeds = new Map<string, TfValue>([
          [bodyInputs[0]!, iterationNumber],
          [bodyInputs[1]!, conditionValue],
          ...carried.map((value, index) => [bodyInputs[index + 2]!, value] as const),
        ]);
        let results: TfValue[];
        try {
          results = body.execute(feeds, scope, bodyOutputs);
        } finally {
          iterationNumber.tensor.dispose();
          conditionValue.tensor.dispose();
          for (const value of carried) value.tensor.dispose();
          carried = [];
        }
        condition = hostScalar(results[0], 'the body’s condition output') !== 0;
        results[0]!.tensor.dispose();
        carried = results.slice(1, carriedCount + 1);
        results.slice(carriedCount + 1).forEach((value, index) => scans[index]!.push(value));
      }
      const stacked = scans.map((values, index) => {
        if (values.length === 0) return fail(ErrorCodes.UNSUPPORTED_OP, `${describeNode(node)}: scan output ${index} of a Loop that ran no iteration has no shape the TensorFlow.js backend can give; run this model on the onnxruntime backend`);
        return { tensor: tf.stack(values.map((value) => value.tensor)), dtype: values[0]!.dtype };
      });
      const result = [...carried, ...stacked];
      carried = [];
      return result;
    } finally {
      for (const value of carried) value.tensor.dispose();
      for (const values of scans) for (const value of values) value.tensor.dispose();
    }
  }

  /** Frees the initializers' tensors, subgraphs' included. */
  dispose(): void {
    for (const entries of this.#derived.values()) for (const tensor of entries.values()) tensor.dispose();
    this.#derived.clear();
    this.#derivedTensors.clear();
    for (const tensor of this.#initializerTensors) tensor.dispose();
    this.#initializers.clear();
    this.#initializerTensors.clear();
    for (const executor of this.#subgraphs.values()) executor.dispose();
    this.#subgraphs.clear();
  }
}

/**
 * Segments: pieces of a network compiled once, strung together at run time.
 *
 * A network whose path changes between steps (a NAS supernet samples one of several
 * candidate ops per layer each step) would need a new training-step graph, and a new
 * compiled session, for every path. Instead, each piece is a `Segment`: a Graph with named
 * inputs and outputs whose parameters (initializers) the host keeps. Each segment compiles,
 * once per input shape, into
 *  - a forward graph: its outputs plus the activations its backward reads ("saved" values),
 *  - a backward graph: the vector-Jacobian product, from the saved values, the parameters
 *    and the gradients of its outputs to the gradients of its float inputs and parameters.
 * A `Tape` records the segments run during a forward pass and runs their backward graphs in
 * reverse; a `SegmentOptimizer` applies an optimizer's update to the parameters; a
 * `SessionCache` compiles each graph into a backend session once and reuses it.
 *
 * ```ts
 * const cache = new SessionCache(createOnnxruntimeBackend());
 * // Each graph: named inputs (typed, named dims allowed) and outputs; weights as initializers.
 * const stem = createSegment(stemGraph);                       // x → y
 * const choices = [createSegment(conv3x3Graph), createSegment(conv5x5Graph), createSegment(identityGraph)];
 * const head = createSegment(headGraph);                       // x → logits
 * const loss = createSegment(lossGraph);                       // logits, labels → loss (crossEntropyLoss)
 * const optimizer = new SegmentOptimizer(adam(), { cache });
 * for await (const batch of loader) {
 *   const tape = new Tape({ cache });
 *   let { y } = await tape.run(stem, { x: batch.images });     // tensors in, TapeValues out
 *   ({ y } = await tape.run(choices[Math.floor(random() * 3)]!, { x: y! }));
 *   const { logits } = await tape.run(head, { x: y! });
 *   const { loss: value } = await tape.run(loss, { logits: logits!, labels: batch.labels });
 *   const gradients = await tape.backward(value!);             // seeded with ones
 *   await optimizer.step(gradients, 1e-3);                     // updates the segments run
 * }
 * await cache.release();
 * ```
 *
 * `tape.watch(tensor)` makes an input whose gradient `gradients.of(value)` returns;
 * `tape.backward(value, gradient)` seeds any output (a vector-Jacobian product);
 * `new Tape({ cache, record: false })` evaluates through forward-only graphs;
 * `segment.toGraph()` gives a segment back as a static Graph with its trained parameters.
 *
 * Sessions are keyed by the segment's structure (not its parameter values, which are fed),
 * so segments built alike share their compiled sessions.
 */
import { buildGradients } from '../autodiff/gradients.js';
import { ErrorCodes, RazorError, errorMessage, fail } from '../errors.js';
import { isFloatDType } from '../ir/dtype.js';
import { Graph, nodeInputs, type AttributeValue, type Dim, type Node, type ValueInfo } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { defaultRegistry } from '../ops/builtin.js';
import { parameterInitializers } from '../ops/parameters.js';
import type { OpRegistry } from '../ops/registry.js';
import { inferShapes } from '../passes/infer-shapes.js';

/** Options of `createSegment`. */
export interface SegmentOptions {
  /** Names the segment in errors and cache statistics (default: the graph's name). */
  name?: string;
  /**
   * The trainable parameters (initializers). Default: every floating-point initializer
   * feeding an op's parameter input (weights and biases), as `buildTrainStep` picks them.
   * Other initializers stay constants of the compiled graphs.
   */
  params?: readonly string[];
  /** The op definitions (shape and gradient rules); `defaultRegistry` when omitted. */
  registry?: OpRegistry;
}

/** The backward graph of one segment, for one choice of inputs to differentiate. */
export interface SegmentBackward {
  /** Inputs: output gradients (`seeds`), saved values, and the inputs and parameters it reads. */
  graph: Graph;
  /** The cache key of this graph. */
  key: string;
  /** The graph input carrying each (float) output's gradient, by output name. */
  seeds: Readonly<Record<string, string>>;
  /** The graph output holding each differentiated input's gradient, by input name. */
  inputGradients: Readonly<Record<string, string>>;
  /** The graph output holding each parameter's gradient, by parameter name. */
  parameterGradients: Readonly<Record<string, string>>;
}

/** A segment compiled for one set of input shapes. */
export interface CompiledSegment {
  readonly segment: Segment;
  /** The cache key shared by this segment's graphs (structure and input shapes). */
  readonly key: string;
  /** Inputs: the segment's inputs, then its parameters. Outputs: its outputs, then `saved`. */
  readonly forward: Graph;
  /** The forward values the backward graphs read, which `forward` outputs after the segment's outputs. */
  readonly saved: readonly string[];
  /** Like `forward` but outputs only the segment's outputs (for evaluation). */
  readonly inference: Graph;
  /** The backward graph differentiating `inputs` (float inputs of the segment) and every parameter; built once per choice. */
  backward(inputs: readonly string[]): SegmentBackward;
}

const MAX_LISTED_NAMES = 8;

/**
 * A subgraph trained by a `Tape`: a Graph with named inputs and outputs whose parameters
 * the segment holds on the host (`parameter`, `setParameter`) and feeds to its compiled
 * graphs. Create with `createSegment`.
 */
export class Segment {
  /** Names the segment in errors and statistics. */
  readonly name: string;
  /** A hash of the segment's structure: ops, value names, input types, constants; not parameter values. */
  readonly key: string;
  /** The segment's inputs, as declared by its graph. */
  readonly inputs: readonly ValueInfo[];
  /** The names of its outputs. */
  readonly outputs: readonly string[];
  /** The names of its trainable parameters, in graph order. */
  readonly parameterNames: readonly string[];
  readonly registry: OpRegistry;
  readonly #source: Graph;
  readonly #parameters = new Map<string, Tensor>();
  readonly #compiled = new Map<string, CompiledSegment>();

  /** @internal Use `createSegment`. */
  constructor(source: Graph, name: string, parameterNames: readonly string[], registry: OpRegistry) {
    this.#source = source;
    this.name = name;
    this.registry = registry;
    this.parameterNames = Object.freeze([...parameterNames]);
    for (const parameter of parameterNames) this.#parameters.set(parameter, source.initializers.get(parameter)!);
    this.inputs = Object.freeze(source.inputs.map((input) => ({ ...input })));
    this.outputs = Object.freeze(source.outputs.map((output) => output.name));
    this.key = structureKey(source, new Set(parameterNames));
  }

  /**
   * The segment as a static Graph: a clone of its graph with the parameters' current values
   * as initializers (to export a trained subnet, or to string segments into one graph).
   */
  toGraph(): Graph {
    const graph = this.#source.clone();
    for (const [name, tensor] of this.#parameters) graph.initializers.set(name, tensor);
    return graph;
  }

  /** The current value of a parameter. */
  parameter(name: string): Tensor {
    const tensor = this.#parameters.get(name);
    if (tensor === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `segment '${this.name}' has no parameter '${name}'; its parameters are ${describeNames(this.parameterNames)}`);
    return tensor;
  }

  /** Every parameter's current value, by name. */
  parameters(): Record<string, Tensor> {
    return Object.fromEntries(this.#parameters);
  }

  /** Replaces a parameter's value (same dtype and shape), e.g. after an optimizer step. */
  setParameter(name: string, tensor: Tensor): void {
    const current = this.parameter(name);
    if (tensor.dtype !== current.dtype || tensor.shape.length !== current.shape.length || tensor.shape.some((dim, axis) => dim !== current.shape[axis])) {
      fail(
        ErrorCodes.SHAPE_MISMATCH,
        `segment '${this.name}': parameter '${name}' is ${current.dtype} [${current.shape.join(', ')}], cannot set it to ${tensor.dtype} [${tensor.shape.join(', ')}]`,
      );
    }
    this.#parameters.set(name, tensor);
  }

  /**
   * Checks fed tensors against the declared inputs (every input present, dtype, rank,
   * static dims, one size per symbolic dim) and returns their shapes in input order.
   * Fails with RAZOR_INVALID_FEED naming the segment and the input.
   */
  checkFeeds(feeds: Readonly<Record<string, Tensor>>): number[][] {
    const bound = new Map<string, { size: number; input: string }>();
    const shapes: number[][] = [];
    for (const input of this.inputs) {
      const tensor = feeds[input.name];
      if (tensor === undefined) {
        fail(ErrorCodes.INVALID_FEED, `segment '${this.name}' was not fed its input '${input.name}'; its inputs are ${describeNames(this.inputs.map((entry) => entry.name))}`);
      }
      const type = input.type;
      if (type !== undefined) {
        if (tensor.dtype !== type.dtype) {
          fail(ErrorCodes.INVALID_FEED, `segment '${this.name}': input '${input.name}' is ${type.dtype} but was fed a ${tensor.dtype} tensor; cast the feed`);
        }
        const declared = type.shape;
        if (declared !== undefined) {
          const mismatch = (): never =>
            fail(
              ErrorCodes.INVALID_FEED,
              `segment '${this.name}': input '${input.name}' has shape [${declared.map(describeDim).join(', ')}] but was fed [${tensor.shape.join(', ')}]; feed a tensor of that shape (named dims may take any size, the same everywhere)`,
            );
          if (declared.length !== tensor.shape.length) mismatch();
          declared.forEach((dim, axis) => {
            const size = tensor.shape[axis]!;
            if (typeof dim === 'number') {
              if (dim !== size) mismatch();
            } else if (typeof dim === 'string') {
              const previous = bound.get(dim);
              if (previous === undefined) bound.set(dim, { size, input: input.name });
              else if (previous.size !== size) {
                fail(
                  ErrorCodes.INVALID_FEED,
                  `segment '${this.name}': dim '${dim}' is ${previous.size} in input '${previous.input}' but ${size} in input '${input.name}' (shape [${tensor.shape.join(', ')}]); feed matching sizes`,
                );
              }
            }
          });
        }
      }
      shapes.push([...tensor.shape]);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.some((input) => input.name === name)) {
        fail(ErrorCodes.INVALID_FEED, `segment '${this.name}' has no input '${name}'; its inputs are ${describeNames(this.inputs.map((entry) => entry.name))}`);
      }
    }
    return shapes;
  }

  /** The segment compiled for these input shapes (in input order); built once per shape and kept. */
  compile(shapes: readonly (readonly number[])[]): CompiledSegment {
    const shapeKey = shapes.map((shape) => `[${shape.join(',')}]`).join('');
    let compiled = this.#compiled.get(shapeKey);
    if (compiled === undefined) {
      compiled = this.#withSegmentErrors(() => compileSegment(this, this.#source, shapes, `${this.key}${shapeKey}`));
      this.#compiled.set(shapeKey, compiled);
    }
    return compiled;
  }

  /** @internal Runs `work`, prefixing any RazorError's message with the segment's name. */
  #withSegmentErrors<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw segmentError(this, error);
    }
  }
}

/** A RazorError naming the segment, keeping the original code. */
export function segmentError(segment: Segment, error: unknown): RazorError {
  const prefix = `segment '${segment.name}': `;
  if (RazorError.isInstance(error)) {
    if (error.message.startsWith(prefix)) return error;
    return new RazorError(error.code, `${prefix}${error.message}`, { cause: error });
  }
  return new RazorError(ErrorCodes.BACKEND_FAILURE, `${prefix}${errorMessage(error)}`, { cause: error });
}

/**
 * Makes a segment of `graph` (cloned: later edits of `graph` do not reach it). Its
 * parameters start as the graph's initializers. Checks the graph now: every op must have
 * a definition (RAZOR_UNSUPPORTED_OP otherwise) and shapes must agree, the error naming
 * the segment; gradient rules are checked when it is first compiled.
 */
export function createSegment(graph: Graph, options: SegmentOptions = {}): Segment {
  const name = options.name ?? graph.name;
  const registry = options.registry ?? defaultRegistry;
  const source = graph.clone();
  const where = `segment '${name}'`;
  if (source.inputs.length === 0) fail(ErrorCodes.INVALID_GRAPH, `${where}: graph '${graph.name}' has no inputs; a segment reads at least one value`);
  if (source.outputs.length === 0) fail(ErrorCodes.INVALID_GRAPH, `${where}: graph '${graph.name}' has no outputs; declare the values the segment produces`);
  for (const input of source.inputs) {
    if (input.type === undefined) fail(ErrorCodes.INVALID_GRAPH, `${where}: input '${input.name}' has no declared type; declare its dtype (and shape, with named dims where sizes vary)`);
    if (source.initializers.has(input.name)) {
      fail(ErrorCodes.INVALID_GRAPH, `${where}: input '${input.name}' is also an initializer; give the segment's inputs names of their own`);
    }
  }
  try {
    inferShapes(source, { registry });
  } catch (error) {
    throw new RazorError(RazorError.isInstance(error) ? error.code : ErrorCodes.INVALID_GRAPH, `${where}: ${errorMessage(error)}`, { cause: error });
  }
  const defined = source.definedValues();
  for (const output of source.outputs) {
    if (!defined.has(output.name)) fail(ErrorCodes.INVALID_GRAPH, `${where}: output '${output.name}' is not produced by any node nor an input`);
    if (source.isInput(output.name)) {
      fail(ErrorCodes.INVALID_GRAPH, `${where}: output '${output.name}' is also an input; add an Identity node so the output has a name of its own`);
    }
  }
  const parameterNames = options.params ?? parameterInitializers(source, registry);
  for (const parameter of parameterNames) {
    const tensor = source.initializers.get(parameter);
    if (tensor === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: parameter '${parameter}' is not an initializer of the graph; list initializer names in 'params'`);
    if (!isFloatDType(tensor.dtype)) fail(ErrorCodes.INVALID_ARGUMENT, `${where}: parameter '${parameter}' is ${tensor.dtype}; only floating-point initializers can be trained`);
  }
  return new Segment(source, name, parameterNames, registry);
}

function compileSegment(segment: Segment, source: Graph, shapes: readonly (readonly number[])[], key: string): CompiledSegment {
  const registry = segment.registry;
  // The graph with concrete input shapes and the parameters as inputs (the host feeds them).
  const graph = source.clone();
  graph.inputs.forEach((input, index) => {
    input.type = { dtype: input.type!.dtype, shape: [...shapes[index]!] };
  });
  for (const parameter of segment.parameterNames) {
    const tensor = graph.initializers.get(parameter)!;
    graph.initializers.delete(parameter);
    graph.inputs.push({ name: parameter, type: { dtype: tensor.dtype, shape: [...tensor.shape] } });
  }
  // Intermediate types declared for the symbolic shapes would conflict with the concrete ones.
  graph.valueInfo.clear();
  for (const output of graph.outputs) output.type = undefined;
  inferShapes(graph, { registry });
  for (const output of graph.outputs) output.type = graph.typeOf(output.name);

  const floatInputs = segment.inputs.map((input) => input.name).filter((name) => isFloatDType(graph.typeOf(name)?.dtype ?? 'float32'));
  const seeds: Record<string, string> = {};
  const taken = new Set(graph.definedValues());
  for (const output of segment.outputs) {
    if (!isFloatDType(graph.typeOf(output)?.dtype ?? 'float32')) continue;
    let seed = `${output}.grad`;
    for (let counter = 1; taken.has(seed); counter++) seed = `${output}.grad_${counter}`;
    taken.add(seed);
    seeds[output] = seed;
  }

  const forwardCount = graph.nodes.length;
  const split = (wrt: readonly string[]) => {
    const { graph: full, gradients } = buildGradients(graph, { seeds, wrt: [...wrt, ...segment.parameterNames], registry });
    for (let index = 0; index < forwardCount; index++) {
      if (full.nodes[index]!.opType !== graph.nodes[index]!.opType) {
        fail(ErrorCodes.INVALID_GRAPH, `autodiff reordered the forward nodes of the graph (node ${index}); report this`);
      }
    }
    const gradientNodes = full.nodes.slice(forwardCount);
    const produced = new Set<string>();
    for (const node of gradientNodes) for (const output of node.outputs) if (output !== '') produced.add(output);
    const read = new Set<string>();
    for (const node of gradientNodes) for (const input of nodeInputs(node)) if (input !== '' && !produced.has(input)) read.add(input);
    for (const name of Object.values(gradients)) if (!produced.has(name)) read.add(name);
    return { full, gradients, gradientNodes, read };
  };

  const everything = split(floatInputs);
  const forwardProduced = new Set<string>();
  for (const node of graph.nodes) for (const output of node.outputs) if (output !== '') forwardProduced.add(output);
  const saved = [...everything.read].filter((name) => forwardProduced.has(name) && !everything.full.initializers.has(name));

  const forward = subgraph(graph, `${source.name}.forward`, graph.nodes, graph.inputs.map((input) => input.name), [...segment.outputs, ...saved.filter((name) => !segment.outputs.includes(name))]);
  const inference = subgraph(graph, `${source.name}.inference`, graph.nodes, graph.inputs.map((input) => input.name), [...segment.outputs]);

  const backwards = new Map<string, SegmentBackward>();
  const seedNames = Object.values(seeds);
  const backward = (inputs: readonly string[]): SegmentBackward => {
    const chosen = floatInputs.filter((name) => inputs.includes(name));
    for (const name of inputs) {
      if (!floatInputs.includes(name)) {
        fail(ErrorCodes.INVALID_ARGUMENT, `segment '${segment.name}': '${name}' is not a floating-point input, so it has no gradient; its float inputs are ${describeNames(floatInputs)}`);
      }
    }
    const variant = chosen.join('\u0000');
    let result = backwards.get(variant);
    if (result !== undefined) return result;
    let built = chosen.length === floatInputs.length ? everything : split(chosen);
    // A rule emitting other nodes for fewer inputs could read a value the forward graph does not save.
    if ([...built.read].some((name) => forwardProduced.has(name) && !built.full.initializers.has(name) && !saved.includes(name))) built = everything;
    const feedOrder = [...seedNames, ...saved, ...graph.inputs.map((input) => input.name)].filter((name) => built.read.has(name));
    const inputGradients = Object.fromEntries(chosen.map((name) => [name, built.gradients[name]!]));
    const parameterGradients = Object.fromEntries(segment.parameterNames.map((name) => [name, built.gradients[name]!]));
    const outputs = [...new Set([...Object.values(inputGradients), ...Object.values(parameterGradients)])];
    const backwardGraph = subgraph(built.full, `${source.name}.backward`, built.gradientNodes, feedOrder, outputs);
    result = {
      graph: backwardGraph,
      key: `${key}|backward|${chosen.map((name) => JSON.stringify(name)).join(',')}`,
      seeds,
      inputGradients,
      parameterGradients,
    };
    backwards.set(variant, result);
    return result;
  };
  return { segment, key, forward, saved, inference, backward };
}

/** A graph of `nodes` of `graph` with the given inputs and outputs; copies the initializers and types they read. */
function subgraph(graph: Graph, name: string, nodes: readonly Node[], inputs: readonly string[], outputs: readonly string[]): Graph {
  const result = new Graph(name);
  result.opsetImports = new Map(graph.opsetImports);
  result.nodes = nodes.map((node) => ({ ...node, inputs: [...node.inputs], outputs: [...node.outputs], attributes: new Map(node.attributes) }));
  const typed = (value: string): ValueInfo => {
    const type = graph.typeOf(value);
    return { name: value, ...(type === undefined ? {} : { type: { dtype: type.dtype, ...(type.shape ? { shape: [...type.shape] } : {}) } }) };
  };
  result.inputs = inputs.map(typed);
  result.outputs = outputs.map(typed);
  const inputSet = new Set(inputs);
  for (const node of nodes) {
    for (const input of nodeInputs(node)) {
      if (inputSet.has(input)) continue;
      const tensor = graph.initializers.get(input);
      if (tensor !== undefined) result.initializers.set(input, tensor);
    }
    for (const output of node.outputs) {
      const info = graph.valueInfo.get(output);
      if (info !== undefined && !outputs.includes(output)) result.valueInfo.set(output, { ...info });
    }
  }
  for (const output of outputs) {
    const tensor = graph.initializers.get(output);
    if (tensor !== undefined && !inputSet.has(output)) result.initializers.set(output, tensor);
  }
  return result;
}

function describeDim(dim: Dim): string {
  return dim === null ? '?' : String(dim);
}

function describeNames(names: readonly string[]): string {
  if (names.length === 0) return '(none)';
  const shown = names.slice(0, MAX_LISTED_NAMES).map((name) => `'${name}'`);
  return names.length > MAX_LISTED_NAMES ? `${shown.join(', ')}, … (${names.length} in all)` : shown.join(', ');
}

/** A 64-bit FNV-1a hash (two 32-bit lanes) of text and tensor bytes, as hex. */
class StructureHash {
  #low = 0x811c9dc5;
  #high = 0x01000193 ^ 0x5bd1e995;

  bytes(bytes: Uint8Array): this {
    let low = this.#low;
    let high = this.#high;
    for (let index = 0; index < bytes.length; index++) {
      const byte = bytes[index]!;
      low = Math.imul(low ^ byte, 0x01000193);
      high = Math.imul(high ^ byte, 0x01000193) ^ (low >>> 13);
    }
    this.#low = low;
    this.#high = high;
    return this;
  }

  text(text: string): this {
    return this.bytes(new TextEncoder().encode(`${text}\u0000`));
  }

  tensor(tensor: Tensor): this {
    this.text(`${tensor.dtype}[${tensor.shape.join(',')}]`);
    const data = tensor.data;
    if (ArrayBuffer.isView(data)) return this.bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return this.text(JSON.stringify(data));
  }

  digest(): string {
    return (this.#high >>> 0).toString(16).padStart(8, '0') + (this.#low >>> 0).toString(16).padStart(8, '0');
  }
}

/** Hashes what the compiled graphs depend on: opsets, inputs, outputs, nodes, constant values, parameter types. */
function structureKey(graph: Graph, parameters: ReadonlySet<string>): string {
  const hash = new StructureHash();
  hashGraph(hash, graph, parameters);
  return hash.digest();
}

function hashGraph(hash: StructureHash, graph: Graph, parameters: ReadonlySet<string>): void {
  hash.text(JSON.stringify([...graph.opsetImports].sort()));
  for (const input of graph.inputs) hash.text(`in ${input.name} ${input.type?.dtype ?? '?'} ${JSON.stringify(input.type?.shape ?? null)}`);
  for (const output of graph.outputs) hash.text(`out ${output.name}`);
  for (const [name, tensor] of [...graph.initializers].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))) {
    if (parameters.has(name)) hash.text(`param ${name} ${tensor.dtype} [${tensor.shape.join(',')}]`);
    else hash.text(`const ${name}`).tensor(tensor);
  }
  for (const node of graph.nodes) {
    hash.text(`node ${node.domain}:${node.opType} ${JSON.stringify(node.inputs)} ${JSON.stringify(node.outputs)}`);
    for (const [name, attribute] of [...node.attributes].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))) {
      hash.text(`attr ${name} ${attribute.type}`);
      hashAttribute(hash, attribute);
    }
  }
}

function hashAttribute(hash: StructureHash, attribute: AttributeValue): void {
  switch (attribute.type) {
    case 'tensor':
      hash.tensor(attribute.value);
      return;
    case 'tensors':
      for (const tensor of attribute.value) hash.tensor(tensor);
      return;
    case 'graph':
      hashGraph(hash, attribute.value, new Set());
      return;
    case 'graphs':
      for (const body of attribute.value) hashGraph(hash, body, new Set());
      return;
    case 'opaque':
      hash.text(String(JSON.stringify(attribute.value, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))));
      return;
    default:
      hash.text(JSON.stringify(attribute.value));
  }
}

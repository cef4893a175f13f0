import { ErrorCodes, fail } from '../errors.js';
import type { DType } from './dtype.js';
import { Tensor } from './tensor.js';

/** A dimension: a size, a symbolic name (`'batch'`), or `null` when nothing is known. */
export type Dim = number | string | null;
export type Shape = readonly Dim[];

/** The type of a tensor value; `shape` is undefined when not even the rank is known. */
export interface TensorType {
  dtype: DType;
  shape?: Shape;
}

/** A named value's declared type, as in ONNX ValueInfoProto. */
export interface ValueInfo {
  name: string;
  /** Undefined when unknown, or when the value is not a tensor (see `passthrough`). */
  type?: TensorType;
  docString?: string;
  /** Fields razor does not interpret (non-tensor types, denotations), written back unchanged. */
  passthrough?: unknown;
}

/** An attribute value, tagged with its ONNX attribute type. */
export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  /** Sparse tensors, type protos and reference attributes: kept as read, written back unchanged. */
  | { type: 'opaque'; value: unknown };

/** An operator application. `inputs[i] === ''` marks an omitted optional input. */
export interface Node {
  name: string;
  opType: string;
  /** '' (or 'ai.onnx') for the default ONNX domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeValue>;
  docString?: string;
  /** Fields razor does not interpret, written back unchanged. */
  passthrough?: unknown;
}

/** Attribute shorthand accepted by the builder: explicit values, or plain JS values. */
export type AttributeInput =
  | AttributeValue
  | number
  | string
  | Tensor
  | Graph
  | readonly number[]
  | readonly string[];

export const attr = {
  int: (value: number): AttributeValue => ({ type: 'int', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  ints: (value: readonly number[]): AttributeValue => ({ type: 'ints', value: [...value] }),
  floats: (value: readonly number[]): AttributeValue => ({ type: 'floats', value: [...value] }),
  strings: (value: readonly string[]): AttributeValue => ({ type: 'strings', value: [...value] }),
  tensor: (value: Tensor): AttributeValue => ({ type: 'tensor', value }),
  graph: (value: Graph): AttributeValue => ({ type: 'graph', value }),
};

function isAttributeValue(input: AttributeInput): input is AttributeValue {
  return typeof input === 'object' && input !== null && !Array.isArray(input) && 'type' in input && 'value' in input;
}

/**
 * Converts builder shorthand: an integer becomes `int`, other numbers `float`, arrays of
 * integers `ints`. Use `attr.float(1)` for a float attribute whose value is integral.
 */
export function toAttribute(input: AttributeInput): AttributeValue {
  if (input instanceof Tensor) return { type: 'tensor', value: input };
  if (input instanceof Graph) return { type: 'graph', value: input };
  if (typeof input === 'number') return Number.isInteger(input) ? { type: 'int', value: input } : { type: 'float', value: input };
  if (typeof input === 'string') return { type: 'string', value: input };
  if (Array.isArray(input)) {
    // An empty list is taken as ints, the common case (axes, pads, perm).
    if (input.length > 0 && input.every((item) => typeof item === 'string')) return { type: 'strings', value: [...(input as string[])] };
    const numbers = input as number[];
    return numbers.every((item) => Number.isInteger(item)) ? { type: 'ints', value: [...numbers] } : { type: 'floats', value: [...numbers] };
  }
  if (isAttributeValue(input as AttributeInput)) return input as AttributeValue;
  return fail(ErrorCodes.INVALID_ATTRIBUTE, `cannot use ${String(input)} as an attribute value`);
}

/** Model-level fields of a top-level graph (ModelProto). */
export interface ModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  /** metadata_props, in order. */
  metadata: Map<string, string>;
  /** FunctionProtos, training_info and unknown ModelProto fields: written back unchanged. */
  passthrough?: unknown;
}

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  /** Output names, or a count of outputs to name automatically. */
  outputs?: readonly string[] | number;
  attributes?: Record<string, AttributeInput | undefined>;
  name?: string;
  domain?: string;
}

interface GraphIndex {
  producers: Map<string, Node>;
  consumers: Map<string, Node[]>;
  nodeNames: Set<string>;
}

function indexNode(index: GraphIndex, node: Node): void {
  index.nodeNames.add(node.name);
  for (const output of node.outputs) if (output !== '') index.producers.set(output, node);
  for (const input of nodeInputs(node)) {
    if (input === '') continue;
    const list = index.consumers.get(input);
    if (list) {
      if (list[list.length - 1] !== node) list.push(node);
    } else index.consumers.set(input, [node]);
  }
}

/**
 * razor's IR: an ONNX-compatible graph. The top-level graph also carries the model's
 * opset imports and model info; subgraphs (If/Loop/Scan bodies) are Graphs too.
 *
 * Edit through the methods so the producer/consumer index stays valid; after mutating
 * `nodes` or a node's `inputs`/`outputs` directly, call `invalidate()`.
 */
export class Graph {
  name: string;
  docString = '';
  nodes: Node[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  /** Types of intermediate values (ONNX value_info), keyed by value name. */
  valueInfo = new Map<string, ValueInfo>();
  /** Constant tensors by name (ONNX initializers). */
  initializers = new Map<string, Tensor>();
  /** Doc strings and uninterpreted fields of initializers, by name. */
  initializerPassthrough = new Map<string, unknown>();
  /** Opset version per domain ('' is the default ONNX domain). */
  opsetImports = new Map<string, number>([['', 17]]);
  /** Present on a top-level graph read from or written to a model file. */
  model: ModelInfo = {
    irVersion: 8,
    producerName: 'razor',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadata: new Map(),
  };
  /** Uninterpreted GraphProto fields (sparse initializers, quantization annotations, unknown fields). */
  passthrough?: unknown;

  #index: GraphIndex | undefined;
  #nameCounter = 0;

  constructor(name = 'graph') {
    this.name = name;
  }

  /** The version of `domain`'s opset this graph imports (default domain when omitted). */
  opset(domain = ''): number {
    return this.opsetImports.get(domain === 'ai.onnx' ? '' : domain) ?? 0;
  }

  /** Drops cached indices; call after editing `nodes` or node inputs/outputs directly. */
  invalidate(): void {
    this.#index = undefined;
  }

  #buildIndex(): GraphIndex {
    if (this.#index) return this.#index;
    const index: GraphIndex = { producers: new Map(), consumers: new Map(), nodeNames: new Set() };
    for (const node of this.nodes) indexNode(index, node);
    this.#index = index;
    return index;
  }

  /** The node producing `value`, or undefined for graph inputs, initializers and unknown names. */
  producer(value: string): Node | undefined {
    return this.#buildIndex().producers.get(value);
  }

  /** Nodes reading `value` (including through a subgraph's outer-scope reference), in graph order. */
  consumers(value: string): readonly Node[] {
    return this.#buildIndex().consumers.get(value) ?? [];
  }

  /** True when `value` is one of the graph's outputs. */
  isOutput(value: string): boolean {
    return this.outputs.some((output) => output.name === value);
  }

  isInput(value: string): boolean {
    return this.inputs.some((input) => input.name === value);
  }

  /** The node with this name, if any. */
  node(name: string): Node | undefined {
    return this.nodes.find((node) => node.name === name);
  }

  /** The declared or inferred type of a value: graph input/output, value_info or initializer. */
  typeOf(value: string): TensorType | undefined {
    const initializer = this.initializers.get(value);
    if (initializer) return { dtype: initializer.dtype, shape: initializer.shape };
    return (
      this.inputs.find((input) => input.name === value)?.type ??
      this.valueInfo.get(value)?.type ??
      this.outputs.find((output) => output.name === value)?.type
    );
  }

  /** Records the type of an intermediate value (or updates a graph output's). */
  setType(value: string, type: TensorType): void {
    const output = this.outputs.find((entry) => entry.name === value);
    if (output) {
      output.type = type;
      return;
    }
    const input = this.inputs.find((entry) => entry.name === value);
    if (input) {
      input.type = type;
      return;
    }
    const existing = this.valueInfo.get(value);
    if (existing) existing.type = type;
    else this.valueInfo.set(value, { name: value, type });
  }

  /** Every value name that exists in this graph: inputs, initializers, node outputs. */
  definedValues(): Set<string> {
    const names = new Set<string>();
    for (const input of this.inputs) names.add(input.name);
    for (const name of this.initializers.keys()) names.add(name);
    for (const node of this.nodes) for (const output of node.outputs) if (output !== '') names.add(output);
    return names;
  }

  /** Whether a graph input, an initializer or a node output has this name (indexed: no scan). */
  isDefined(value: string): boolean {
    return this.initializers.has(value) || this.#buildIndex().producers.has(value) || this.isInput(value);
  }

  /** A value or node name starting with `base` that is not used anywhere in the graph. */
  uniqueName(base: string): string {
    return this.#uniqueName(base, new Set());
  }

  /** `uniqueName` that also avoids `pending`, names chosen for a node not yet added. */
  #uniqueName(base: string, pending: ReadonlySet<string>): string {
    const taken = (name: string): boolean =>
      pending.has(name) ||
      this.initializers.has(name) ||
      this.valueInfo.has(name) ||
      this.inputs.some((input) => input.name === name) ||
      this.outputs.some((output) => output.name === name) ||
      this.producer(name) !== undefined ||
      this.consumers(name).length > 0 ||
      this.#buildIndex().nodeNames.has(name);
    if (!taken(base)) return base;
    for (;;) {
      const candidate = `${base}_${++this.#nameCounter}`;
      if (!taken(candidate)) return candidate;
    }
  }

  /** Adds a constant tensor; returns its name (made unique if taken). */
  addInitializer(name: string, tensor: Tensor): string {
    const unique = this.initializers.has(name) ? this.uniqueName(name) : name;
    this.initializers.set(unique, tensor);
    return unique;
  }

  /**
   * Appends a node (or inserts it at `index`). Missing names are generated; outputs may
   * be given as a count. Returns the node.
   */
  addNode(spec: NodeSpec, index?: number): Node {
    const name = spec.name ?? this.uniqueName(spec.opType.toLowerCase());
    let outputs: string[];
    if (typeof spec.outputs === 'number' || spec.outputs === undefined) {
      // Each generated name must also avoid the ones generated before it for this node.
      const generated = new Set<string>();
      const count = typeof spec.outputs === 'number' ? spec.outputs : 1;
      for (let position = 0; position < count; position++) {
        generated.add(this.#uniqueName(position === 0 ? `${name}_output` : `${name}_output_${position}`, generated));
      }
      outputs = [...generated];
    } else outputs = [...spec.outputs];
    const attributes = new Map<string, AttributeValue>();
    for (const [key, value] of Object.entries(spec.attributes ?? {})) {
      if (value !== undefined) attributes.set(key, toAttribute(value));
    }
    const node: Node = { name, opType: spec.opType, domain: spec.domain ?? '', inputs: [...spec.inputs], outputs, attributes };
    if (index === undefined || index >= this.nodes.length) {
      this.nodes.push(node);
      // Appending keeps the index valid (consumers stay in graph order): update it in place,
      // so building a graph node by node stays linear.
      if (this.#index) indexNode(this.#index, node);
    } else {
      this.nodes.splice(index, 0, node);
      this.invalidate();
    }
    return node;
  }

  /** Removes a node. Its outputs no longer exist; consumers must be rewired first. */
  removeNode(node: Node): void {
    const position = this.nodes.indexOf(node);
    if (position < 0) fail(ErrorCodes.INVALID_ARGUMENT, `node '${node.name}' is not in graph '${this.name}'`);
    this.nodes.splice(position, 1);
    this.invalidate();
  }

  /** Sets input `position` of `node` to `value`. */
  setNodeInput(node: Node, position: number, value: string): void {
    node.inputs[position] = value;
    this.invalidate();
  }

  /**
   * Makes every reader of `oldValue` read `newValue` instead: node inputs and, unless
   * `includeOutputs` is false, graph outputs (the output is renamed).
   */
  replaceAllUses(oldValue: string, newValue: string, options: { includeOutputs?: boolean } = {}): void {
    for (const node of this.consumers(oldValue)) {
      node.inputs = node.inputs.map((input) => (input === oldValue ? newValue : input));
      for (const attribute of node.attributes.values()) {
        if (attribute.type === 'graph') renameOuterReference(attribute.value, oldValue, newValue);
        if (attribute.type === 'graphs') for (const body of attribute.value) renameOuterReference(body, oldValue, newValue);
      }
    }
    if (options.includeOutputs !== false) {
      for (const output of this.outputs) if (output.name === oldValue) output.name = newValue;
    }
    this.invalidate();
  }

  /** A deep copy; tensors are shared unless `copyTensors` (techniques edit clones, not tensors). */
  clone(options: { copyTensors?: boolean } = {}): Graph {
    const copy = new Graph(this.name);
    const copyTensor = (tensor: Tensor): Tensor => (options.copyTensors ? tensor.clone() : tensor);
    copy.docString = this.docString;
    copy.nodes = this.nodes.map((node) => ({
      ...node,
      inputs: [...node.inputs],
      outputs: [...node.outputs],
      attributes: new Map([...node.attributes].map(([key, value]) => [key, cloneAttribute(value, options)])),
    }));
    copy.inputs = this.inputs.map(cloneValueInfo);
    copy.outputs = this.outputs.map(cloneValueInfo);
    copy.valueInfo = new Map([...this.valueInfo].map(([key, value]) => [key, cloneValueInfo(value)]));
    copy.initializers = new Map([...this.initializers].map(([key, tensor]) => [key, copyTensor(tensor)]));
    copy.initializerPassthrough = new Map(this.initializerPassthrough);
    copy.opsetImports = new Map(this.opsetImports);
    copy.model = { ...this.model, metadata: new Map(this.model.metadata) };
    copy.passthrough = this.passthrough;
    return copy;
  }
}

function cloneValueInfo(info: ValueInfo): ValueInfo {
  return { ...info, ...(info.type ? { type: { dtype: info.type.dtype, ...(info.type.shape ? { shape: [...info.type.shape] } : {}) } } : {}) };
}

function cloneAttribute(value: AttributeValue, options: { copyTensors?: boolean }): AttributeValue {
  switch (value.type) {
    case 'graph':
      return { type: 'graph', value: value.value.clone(options) };
    case 'graphs':
      return { type: 'graphs', value: value.value.map((graph) => graph.clone(options)) };
    case 'floats':
    case 'ints':
      return { type: value.type, value: [...value.value] };
    case 'strings':
      return { type: 'strings', value: [...value.value] };
    case 'tensor':
      return { type: 'tensor', value: options.copyTensors ? value.value.clone() : value.value };
    case 'tensors':
      return { type: 'tensors', value: value.value.map((tensor) => (options.copyTensors ? tensor.clone() : tensor)) };
    default:
      return { ...value };
  }
}

/** Names a subgraph reads from enclosing scopes (not defined inside it). */
export function outerReferences(graph: Graph): Set<string> {
  const defined = graph.definedValues();
  const references = new Set<string>();
  for (const node of graph.nodes) {
    for (const input of nodeInputs(node)) if (input !== '' && !defined.has(input)) references.add(input);
  }
  for (const output of graph.outputs) if (!defined.has(output.name)) references.add(output.name);
  return references;
}

function renameOuterReference(graph: Graph, oldValue: string, newValue: string): void {
  if (graph.definedValues().has(oldValue)) return;
  for (const node of graph.nodes) {
    node.inputs = node.inputs.map((input) => (input === oldValue ? newValue : input));
    for (const attribute of node.attributes.values()) {
      if (attribute.type === 'graph') renameOuterReference(attribute.value, oldValue, newValue);
      if (attribute.type === 'graphs') for (const body of attribute.value) renameOuterReference(body, oldValue, newValue);
    }
  }
  for (const output of graph.outputs) if (output.name === oldValue) output.name = newValue;
  graph.invalidate();
}

/** A node's explicit inputs followed by the outer-scope values its subgraphs read. */
export function nodeInputs(node: Node): string[] {
  let implicit: Set<string> | undefined;
  for (const attribute of node.attributes.values()) {
    const bodies = attribute.type === 'graph' ? [attribute.value] : attribute.type === 'graphs' ? attribute.value : [];
    for (const body of bodies) {
      implicit ??= new Set();
      for (const name of outerReferences(body)) implicit.add(name);
    }
  }
  if (!implicit) return node.inputs;
  return [...node.inputs, ...[...implicit].filter((name) => !node.inputs.includes(name))];
}

/** Reads an attribute with a type check; `fallback` when absent. */
export function getAttribute<T extends AttributeValue['type']>(
  node: Node,
  name: string,
  type: T,
): Extract<AttributeValue, { type: T }>['value'] | undefined {
  const attribute = node.attributes.get(name);
  if (attribute === undefined) return undefined;
  if (attribute.type !== type) {
    fail(
      ErrorCodes.INVALID_ATTRIBUTE,
      `node '${node.name}' (${node.opType}): attribute '${name}' should be of type ${type} but is ${attribute.type}`,
    );
  }
  return attribute.value as never;
}

export function getInt(node: Node, name: string, fallback: number): number;
export function getInt(node: Node, name: string): number | undefined;
export function getInt(node: Node, name: string, fallback?: number): number | undefined {
  return getAttribute(node, name, 'int') ?? fallback;
}

export function getFloat(node: Node, name: string, fallback: number): number;
export function getFloat(node: Node, name: string): number | undefined;
export function getFloat(node: Node, name: string, fallback?: number): number | undefined {
  return getAttribute(node, name, 'float') ?? fallback;
}

export function getInts(node: Node, name: string, fallback: number[]): number[];
export function getInts(node: Node, name: string): number[] | undefined;
export function getInts(node: Node, name: string, fallback?: number[]): number[] | undefined {
  return getAttribute(node, name, 'ints') ?? fallback;
}

export function getFloats(node: Node, name: string): number[] | undefined {
  return getAttribute(node, name, 'floats');
}

export function getString(node: Node, name: string, fallback: string): string;
export function getString(node: Node, name: string): string | undefined;
export function getString(node: Node, name: string, fallback?: string): string | undefined {
  return getAttribute(node, name, 'string') ?? fallback;
}

export function getTensorAttribute(node: Node, name: string): Tensor | undefined {
  return getAttribute(node, name, 'tensor');
}

/** 'Conv' for the default domain, 'com.microsoft::FusedConv' otherwise. */
export function describeOp(node: Node): string {
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}::${node.opType}`;
}

/** "node 'conv1' (Conv)", the way messages name a node. */
export function describeNode(node: Node): string {
  return `node '${node.name}' (${describeOp(node)})`;
}

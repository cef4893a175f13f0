import { ErrorCodes, Graph, Tensor, fail, type AttributeInput, type DType, type Dim, type Shape } from '@razor/core';
import type { Module } from './module.js';

/** Options of one emitted node. */
export interface EmitOptions {
  attributes?: Record<string, AttributeInput | undefined>;
  /** Number of outputs (default 1). */
  outputs?: number;
  /** Shapes of the outputs, when known; recorded as the values' types. */
  outputShapes?: readonly (Shape | undefined)[];
  /** A local name; the node is named `<module path>/<name>` (default: the op type). */
  name?: string;
}

/** A running-statistics update emitted by a layer in training mode (BatchNormalization). */
export interface StateUpdate {
  /** The initializer holding the buffer, e.g. `layer1.0.bn1.running_mean`. */
  buffer: string;
  /** The value holding its new contents after one step. */
  value: string;
}

interface Scope {
  module: Module;
  path: string;
}

/**
 * Emits nodes into a Graph on behalf of modules. Values are value names (strings).
 * Node names and parameter names follow the module path (`layer1.0.conv1`), the way
 * PyTorch names a module's state.
 */
export class GraphBuilder {
  readonly graph: Graph;
  /** Buffers updated by training-mode layers, with the values holding their new contents. */
  readonly stateUpdates: StateUpdate[] = [];
  #scopes: Scope[] = [];
  #shapes = new Map<string, Shape>();
  #constants = new Map<string, string>();
  #parameterNames = new Map<Tensor, string>();

  constructor(graph: Graph = new Graph()) {
    this.graph = graph;
  }

  /** The dotted path of the module being built ('' at the root). */
  get path(): string {
    return this.#scopes[this.#scopes.length - 1]?.path ?? '';
  }

  /** Builds `module` as the root (its parameters get unprefixed names). */
  callRoot(module: Module, input: string): string {
    this.#scopes.push({ module, path: '' });
    try {
      return module.forward(this, input);
    } finally {
      this.#scopes.pop();
    }
  }

  /**
   * Builds `child`, a registered child of the module being built, on `input`, under
   * the child's name; returns its output value.
   */
  call(child: Module, input: string): string {
    const scope = this.#scopes[this.#scopes.length - 1];
    if (scope === undefined) return this.callRoot(child, input);
    const name = scope.module.childName(child);
    if (name === undefined) {
      fail(
        ErrorCodes.INVALID_ARGUMENT,
        `module '${scope.path || '(root)'}' (${scope.module.constructor.name}) calls a ${child.constructor.name} that is not one of its registered children; register it with addModule first`,
      );
    }
    this.#scopes.push({ module: child, path: scope.path === '' ? name : `${scope.path}.${name}` });
    try {
      return child.forward(this, input);
    } finally {
      this.#scopes.pop();
    }
  }

  /** A graph input of dtype float32. */
  input(name: string, shape: Shape): string {
    if (this.graph.definedValues().has(name)) fail(ErrorCodes.INVALID_GRAPH, `graph input '${name}' is already defined in graph '${this.graph.name}'`);
    this.graph.inputs.push({ name, type: { dtype: 'float32', shape: [...shape] } });
    this.#shapes.set(name, [...shape]);
    return name;
  }

  /** Declares `value` a graph output (float32, with its tracked shape). */
  output(value: string): void {
    const shape = this.#shapes.get(value);
    this.graph.outputs.push({ name: value, type: { dtype: 'float32', ...(shape ? { shape: [...shape] } : {}) } });
    this.graph.valueInfo.delete(value);
  }

  /**
   * The initializer holding a parameter or buffer of the module being built, named
   * `<path>.<localName>`. The same tensor always maps to the same initializer.
   */
  parameter(localName: string, tensor: Tensor): string {
    const known = this.#parameterNames.get(tensor);
    if (known !== undefined) return known;
    const wanted = this.path === '' ? localName : `${this.path}.${localName}`;
    if (this.graph.initializers.has(wanted)) fail(ErrorCodes.INVALID_GRAPH, `initializer '${wanted}' is defined twice; two modules share the path '${this.path}'`);
    const name = this.graph.addInitializer(wanted, tensor);
    this.#parameterNames.set(tensor, name);
    this.#shapes.set(name, tensor.shape);
    return name;
  }

  /** A constant initializer (deduplicated by dtype, shape and values), e.g. Clip bounds. */
  constant(tensor: Tensor, hint = 'const'): string {
    const values = Array.isArray(tensor.data) ? tensor.data.join(',') : Array.from(tensor.data as ArrayLike<number | bigint>, String).join(',');
    const key = `${tensor.dtype}[${tensor.shape.join(',')}]:${values}`;
    const existing = this.#constants.get(key);
    if (existing !== undefined) return existing;
    const name = this.graph.addInitializer(this.graph.uniqueName(hint), tensor);
    this.#constants.set(key, name);
    this.#shapes.set(name, tensor.shape);
    return name;
  }

  /** Emits one node; returns its output value names. */
  emit(opType: string, inputs: readonly string[], options: EmitOptions = {}): string[] {
    const base = this.path === '' ? (options.name ?? opType) : `${this.path}/${options.name ?? opType}`;
    const node = this.graph.addNode({
      opType,
      inputs,
      outputs: options.outputs ?? 1,
      name: this.graph.uniqueName(base),
      ...(options.attributes ? { attributes: options.attributes } : {}),
    });
    node.outputs.forEach((output, position) => {
      const shape = options.outputShapes?.[position];
      if (shape !== undefined) this.setShape(output, shape);
    });
    return node.outputs;
  }

  /** Emits a node with one output; returns it. */
  emit1(opType: string, inputs: readonly string[], options: EmitOptions = {}): string {
    return this.emit(opType, inputs, options)[0]!;
  }

  /** The tracked shape of a value, if known. */
  shape(value: string): Shape | undefined {
    return this.#shapes.get(value);
  }

  /** The tracked shape of a value; fails naming the value and `who` when unknown. */
  requireShape(value: string, who: string, rank?: number): Shape {
    const shape = this.#shapes.get(value);
    if (shape === undefined) fail(ErrorCodes.SHAPE_MISMATCH, `${who}: the shape of value '${value}' is unknown; build the graph through toGraph with an input shape`);
    if (rank !== undefined && shape.length !== rank) {
      fail(ErrorCodes.SHAPE_MISMATCH, `${who}: expects a rank-${rank} input but value '${value}' has shape [${shape.join(', ')}]`);
    }
    return shape;
  }

  /** Records a value's shape (also as its value_info type). */
  setShape(value: string, shape: Shape, dtype: DType = 'float32'): void {
    this.#shapes.set(value, [...shape]);
    if (!this.graph.isInput(value) && !this.graph.initializers.has(value)) this.graph.setType(value, { dtype, shape: [...shape] });
  }

  /** Records that a training-mode layer updates `buffer` to `value` each step. */
  addStateUpdate(buffer: string, value: string): void {
    this.stateUpdates.push({ buffer, value });
  }

  /** Describes the module being built, for error messages. */
  describe(): string {
    const scope = this.#scopes[this.#scopes.length - 1];
    return scope ? `module '${scope.path || '(root)'}' (${scope.module.constructor.name})` : 'graph builder';
  }
}

/** A dimension's static size, or undefined when symbolic or unknown. */
export function staticDim(dim: Dim | undefined): number | undefined {
  return typeof dim === 'number' ? dim : undefined;
}

import { ErrorCodes, RazorError, errorMessage, fail } from '../errors.js';
import { isIntegerDType } from '../ir/dtype.js';
import { describeNode, describeOp, type Dim, type Graph, type Node, type Shape, type TensorType, type ValueInfo } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { defaultRegistry } from '../ops/builtin.js';
import type { EvaluateContext, InferenceContext, InferenceResult, OpDefinition, OpRegistry } from '../ops/registry.js';
import { topologicalOrder } from './toposort.js';

/** Options of `inferShapes`. */
export interface InferShapesOptions {
  /** The op definitions to use; `defaultRegistry` when omitted. */
  registry?: OpRegistry;
  /**
   * True (default): an op without a definition fails with RAZOR_UNSUPPORTED_OP.
   * False: its outputs keep their declared types (or stay unknown) and the op is listed
   * in `unknownOps`.
   */
  strict?: boolean;
  /** Shapes for graph inputs, replacing their declared shapes (e.g. `{ input: [1, 3, 224, 224] }`). */
  inputShapes?: Record<string, Dim[]>;
  /**
   * Node outputs up to this many elements are computed when all of a node's inputs are
   * constant (default 65,536); larger ones stay unknown values with known types.
   */
  maxConstantElements?: number;
}

/** An op type inference found no definition for (non-strict mode). */
export interface UnknownOp {
  opType: string;
  domain: string;
  /** Names of the nodes using it. */
  nodes: string[];
}

/** What `inferShapes` found and wrote. */
export interface InferShapesResult {
  /** Node outputs (in all graphs, subgraphs included) whose type was written. */
  typedValues: number;
  /** Node outputs left without a known type. */
  untypedValues: string[];
  /** Ops without a definition (only in non-strict mode; strict mode fails instead). */
  unknownOps: UnknownOp[];
  /** Values known to be constant: initializers no graph input overrides, and node outputs computed from constants. */
  constants: Map<string, Tensor>;
  /** Known element values of rank-0/1 integer node outputs that are only partly constant (`['batch', 3]`). */
  symbolicValues: Map<string, Dim[]>;
}

/** Rules call `requireInput` on a value whose type is unknown: the node is skipped, not failed. */
class UnknownInputTypeError extends RazorError {}

const DEFAULT_MAX_CONSTANT_ELEMENTS = 65_536;

/** Ops whose outputs differ between runs: never evaluated, whatever their definition says. */
export const NONDETERMINISTIC_OPS: ReadonlySet<string> = new Set([
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'Multinomial',
  'Bernoulli',
]);

interface Scope {
  readonly parent: Scope | undefined;
  /** The graph's outputs by name: node outputs are typed there or in value_info (no scans of long output lists). */
  readonly outputs: Map<string, ValueInfo>;
  readonly types: Map<string, TensorType>;
  readonly constants: Map<string, Tensor>;
  readonly symbolic: Map<string, Dim[]>;
}

function lookup<T>(scope: Scope | undefined, pick: (scope: Scope) => Map<string, T>, name: string): T | undefined {
  for (let current = scope; current; current = current.parent) {
    const value = pick(current).get(name);
    if (value !== undefined) return value;
  }
  return undefined;
}

interface RunState {
  registry: OpRegistry;
  strict: boolean;
  opsets: Map<string, number>;
  maxConstantElements: number;
  usedDims: Set<string>;
  freshDims: Set<string>;
  dimCounter: number;
  unknownOps: Map<string, UnknownOp>;
  typedValues: number;
  untypedValues: string[];
  constants: Map<string, Tensor>;
  symbolicValues: Map<string, Dim[]>;
}

/**
 * Infers the dtype and shape of every node output, walking nodes in topological order,
 * and writes them into the graph (`graph.setType`), subgraphs included. Inferred types
 * merge with declared ones: a declared static dimension fills an unknown one, a conflict
 * between two static dimensions fails naming the node and value. Symbolic dimensions
 * stay symbolic; unknown ones get fresh names (`unk__0`, ...).
 *
 * Constants (initializers, Constant nodes, nodes with all-constant inputs and an
 * `evaluate` kernel) and symbolic values of shape tensors (`Shape` of an [N, 3] value is
 * `['N', 3]`) propagate, so Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains give
 * exact or symbolic shapes.
 */
export function inferShapes(graph: Graph, options: InferShapesOptions = {}): InferShapesResult {
  const state: RunState = {
    registry: options.registry ?? defaultRegistry,
    strict: options.strict ?? true,
    opsets: graph.opsetImports,
    maxConstantElements: options.maxConstantElements ?? DEFAULT_MAX_CONSTANT_ELEMENTS,
    usedDims: collectDimNames(graph),
    freshDims: new Set(),
    dimCounter: 0,
    unknownOps: new Map(),
    typedValues: 0,
    untypedValues: [],
    constants: new Map(),
    symbolicValues: new Map(),
  };
  if (options.inputShapes) applyInputShapes(graph, options.inputShapes);
  inferGraph(graph, undefined, state);
  return {
    typedValues: state.typedValues,
    untypedValues: state.untypedValues,
    unknownOps: [...state.unknownOps.values()],
    constants: state.constants,
    symbolicValues: state.symbolicValues,
  };
}

function applyInputShapes(graph: Graph, inputShapes: Record<string, Dim[]>): void {
  for (const [name, shape] of Object.entries(inputShapes)) {
    const input = graph.inputs.find((entry) => entry.name === name);
    if (!input) {
      fail(
        ErrorCodes.INVALID_ARGUMENT,
        `inputShapes names '${name}', which is not an input of graph '${graph.name}'; inputs: ${graph.inputs.map((entry) => entry.name).join(', ')}`,
      );
    }
    const declared = input.type?.shape;
    if (declared && declared.length !== shape.length) {
      fail(ErrorCodes.INVALID_ARGUMENT, `inputShapes gives '${name}' rank ${shape.length}, but the graph declares [${formatShape(declared)}]`);
    }
    declared?.forEach((dim, axis) => {
      const given = shape[axis];
      if (typeof dim === 'number' && typeof given === 'number' && dim !== given) {
        fail(ErrorCodes.INVALID_ARGUMENT, `inputShapes gives '${name}' dimension ${axis} = ${given}, but the graph declares [${formatShape(declared)}]`);
      }
    });
    if (!input.type) fail(ErrorCodes.INVALID_ARGUMENT, `graph input '${name}' has no declared dtype; set it before giving inputShapes`);
    input.type = { dtype: input.type.dtype, shape: [...shape] };
  }
}

function collectDimNames(graph: Graph, names = new Set<string>()): Set<string> {
  const add = (type: TensorType | undefined): void => {
    for (const dim of type?.shape ?? []) if (typeof dim === 'string') names.add(dim);
  };
  for (const input of graph.inputs) add(input.type);
  for (const output of graph.outputs) add(output.type);
  for (const info of graph.valueInfo.values()) add(info.type);
  for (const body of subgraphs(graph)) collectDimNames(body, names);
  return names;
}

function* subgraphs(graph: Graph): Generator<Graph> {
  for (const node of graph.nodes) for (const body of nodeSubgraphs(node)) yield body;
}

function nodeSubgraphs(node: Node): Graph[] {
  const bodies: Graph[] = [];
  for (const attribute of node.attributes.values()) {
    if (attribute.type === 'graph') bodies.push(attribute.value);
    else if (attribute.type === 'graphs') bodies.push(...attribute.value);
  }
  return bodies;
}

function freshDim(state: RunState): string {
  for (;;) {
    const name = `unk__${state.dimCounter++}`;
    if (!state.usedDims.has(name)) {
      state.usedDims.add(name);
      state.freshDims.add(name);
      return name;
    }
  }
}

function inferGraph(graph: Graph, parent: Scope | undefined, state: RunState): void {
  const scope: Scope = { parent, outputs: new Map(graph.outputs.map((output) => [output.name, output])), types: new Map(), constants: new Map(), symbolic: new Map() };
  const inputNames = new Set(graph.inputs.map((input) => input.name));
  for (const [name, tensor] of graph.initializers) {
    scope.types.set(name, { dtype: tensor.dtype, shape: tensor.shape });
    // An initializer that is also a graph input is only a default: callers may feed another value.
    if (!inputNames.has(name)) {
      scope.constants.set(name, tensor);
      state.constants.set(name, tensor);
    }
  }
  // Unknown input dimensions get names so that values derived from them stay related.
  for (const input of graph.inputs) if (input.type) scope.types.set(input.name, nameUnknownDims(input.type, state));
  for (const node of topologicalOrder(graph)) inferNode(graph, node, scope, state);
}

function inferNode(graph: Graph, node: Node, scope: Scope, state: RunState): void {
  const definition = state.registry.find(node.opType, node.domain);
  const bodies = nodeSubgraphs(node);
  let result: InferenceResult | undefined;
  if (!definition && bodies.length > 0 && isDefaultDomain(node.domain) && CONTROL_FLOW_OPS.has(node.opType)) {
    result = inferControlFlow(node, bodies, scope, state);
  } else if (!definition) {
    if (state.strict) state.registry.require(node);
    const key = `${node.domain}::${node.opType}`;
    const entry = state.unknownOps.get(key) ?? { opType: node.opType, domain: isDefaultDomain(node.domain) ? '' : node.domain, nodes: [] };
    entry.nodes.push(node.name);
    state.unknownOps.set(key, entry);
    for (const body of bodies) inferGraph(body, scope, state);
  } else {
    for (const body of bodies) inferGraph(body, scope, state);
    result = runRule(graph, node, definition, scope, state);
  }

  const values = result ? (result.values ?? evaluateIfConstant(node, definition, result, scope, state)) : undefined;
  node.outputs.forEach((name, position) => {
    if (name === '') return;
    const value = values?.[position];
    let inferred = result?.types[position];
    if (value) inferred = { dtype: value.dtype, shape: value.shape };
    // A node output is never a graph input: its type lives on the graph output or in value_info.
    const output = scope.outputs.get(name);
    const merged = mergeTypes(node, name, output ? output.type : (graph.valueInfo.get(name)?.type ?? graph.typeOf(name)), inferred, state);
    const type = merged ? nameUnknownDims(merged, state) : undefined;
    if (type) {
      scope.types.set(name, type);
      const written: TensorType = { dtype: type.dtype, ...(type.shape ? { shape: [...type.shape] } : {}) };
      if (output) output.type = written;
      else {
        const info = graph.valueInfo.get(name);
        if (info) info.type = written;
        else graph.valueInfo.set(name, { name, type: written });
      }
      state.typedValues++;
    } else {
      state.untypedValues.push(name);
    }
    if (value) {
      scope.constants.set(name, value);
      state.constants.set(name, value);
    }
    const symbolic = result?.symbolic?.[position];
    if (symbolic && !value) {
      scope.symbolic.set(name, symbolic);
      state.symbolicValues.set(name, symbolic);
    }
  });
}

function nameUnknownDims(type: TensorType, state: RunState): TensorType {
  if (!type.shape?.includes(null)) return type;
  return { dtype: type.dtype, shape: type.shape.map((dim) => dim ?? freshDim(state)) };
}

function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

function runRule(graph: Graph, node: Node, definition: OpDefinition, scope: Scope, state: RunState): InferenceResult | undefined {
  const context = createContext(graph, node, scope, state);
  let result: InferenceResult;
  try {
    result = definition.infer(context);
  } catch (error) {
    if (error instanceof UnknownInputTypeError) return undefined;
    if (RazorError.isInstance(error)) throw error;
    return fail(ErrorCodes.SHAPE_MISMATCH, `${describeNode(node)}: shape inference failed: ${errorMessage(error)}`, error);
  }
  if (result.types.length > node.outputs.length) {
    fail(
      ErrorCodes.INVALID_GRAPH,
      `${describeNode(node)} has ${node.outputs.length} outputs but its op definition infers ${result.types.length}; check the node's outputs`,
    );
  }
  return result;
}

function createContext(graph: Graph, node: Node, scope: Scope, state: RunState): InferenceContext {
  let inputCount = node.inputs.length;
  while (inputCount > 0 && node.inputs[inputCount - 1] === '') inputCount--;
  const inputName = (index: number): string | undefined => {
    const name = node.inputs[index];
    return name === undefined || name === '' ? undefined : name;
  };
  const constant = (index: number): Tensor | undefined => {
    const name = inputName(index);
    return name === undefined ? undefined : lookup(scope, (entry) => entry.constants, name);
  };
  return {
    node,
    opset: state.opsets.get(isDefaultDomain(node.domain) ? '' : node.domain) ?? graph.opset(node.domain),
    inputCount,
    hasInput: (index) => inputName(index) !== undefined,
    inputType: (index) => {
      const name = inputName(index);
      return name === undefined ? undefined : lookup(scope, (entry) => entry.types, name);
    },
    requireInput: (index) => {
      const name = inputName(index);
      if (name === undefined) {
        fail(ErrorCodes.INVALID_GRAPH, `${describeNode(node)}: input ${index} is required by ${describeOp(node)} but omitted; add the input`);
      }
      const type = lookup(scope, (entry) => entry.types, name);
      if (!type) throw new UnknownInputTypeError(ErrorCodes.SHAPE_MISMATCH, `${describeNode(node)}: the type of input '${name}' is unknown`);
      return type;
    },
    constant,
    symbolicValue: (index) => {
      const name = inputName(index);
      if (name === undefined) return undefined;
      const symbolic = lookup(scope, (entry) => entry.symbolic, name);
      if (symbolic) return [...symbolic];
      const value = constant(index);
      if (value && value.rank <= 1 && isIntegerDType(value.dtype)) return value.toNumbers();
      return undefined;
    },
    freshDim: () => freshDim(state),
    fail: (message) => fail(ErrorCodes.SHAPE_MISMATCH, `${describeNode(node)}: ${message}`),
  };
}

function staticSize(type: TensorType | undefined): number | undefined {
  if (!type?.shape) return undefined;
  let size = 1;
  for (const dim of type.shape) {
    if (typeof dim !== 'number') return undefined;
    size *= dim;
  }
  return size;
}

/** Runs the op's reference kernel when every present input is a known constant and the result is small. */
function evaluateIfConstant(
  node: Node,
  definition: OpDefinition | undefined,
  result: InferenceResult,
  scope: Scope,
  state: RunState,
): (Tensor | undefined)[] | undefined {
  if (!definition?.evaluate || NONDETERMINISTIC_OPS.has(node.opType) || nodeSubgraphs(node).length > 0) return undefined;
  const inputs: (Tensor | undefined)[] = [];
  let inputElements = 0;
  for (const name of node.inputs) {
    if (name === '') {
      inputs.push(undefined);
      continue;
    }
    const value = lookup(scope, (entry) => entry.constants, name);
    if (!value) return undefined;
    inputs.push(value);
    inputElements += value.size;
  }
  const limit = state.maxConstantElements;
  const outputSizes = node.outputs.map((name, position) => (name === '' ? 0 : staticSize(result.types[position])));
  const known = outputSizes.every((size) => size !== undefined);
  if (known ? outputSizes.some((size) => size! > limit) : inputElements > limit) return undefined;

  const context: EvaluateContext = {
    node,
    opset: state.opsets.get(isDefaultDomain(node.domain) ? '' : node.domain) ?? 0,
    inputs,
    fail: (message) => fail(ErrorCodes.SHAPE_MISMATCH, `${describeNode(node)}: ${message}`),
  };
  let outputs: Tensor[];
  try {
    outputs = definition.evaluate(context);
  } catch (error) {
    // A kernel that does not handle a dtype only means the value stays unknown.
    if (RazorError.isInstance(error) && (error.code === ErrorCodes.UNSUPPORTED_DTYPE || error.code === ErrorCodes.UNSUPPORTED_OP)) {
      return undefined;
    }
    if (RazorError.isInstance(error)) throw error;
    return fail(ErrorCodes.SHAPE_MISMATCH, `${describeNode(node)}: evaluating on constant inputs failed: ${errorMessage(error)}`, error);
  }
  return outputs.map((output) => (output.size <= limit ? output : undefined));
}

function formatShape(shape: Shape): string {
  return shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ');
}

/** Merges a declared type with an inferred one; fails on a static conflict. */
function mergeTypes(
  node: Node,
  value: string,
  declared: TensorType | undefined,
  inferred: TensorType | undefined,
  state: RunState,
): TensorType | undefined {
  if (!inferred) return declared;
  if (!declared) return inferred;
  const conflict = (what: string): never =>
    fail(
      ErrorCodes.SHAPE_MISMATCH,
      `${describeNode(node)}: output '${value}' is declared ${what}; ` +
        'fix or remove the declared type (value_info / graph output) or the node',
    );
  if (declared.dtype !== inferred.dtype) conflict(`${declared.dtype} but infers to ${inferred.dtype}`);
  if (!inferred.shape) return declared;
  if (!declared.shape) return inferred;
  const declaredShape = declared.shape;
  const inferredShape = inferred.shape;
  if (declaredShape.length !== inferredShape.length) {
    conflict(`with shape [${formatShape(declaredShape)}] but infers to [${formatShape(inferredShape)}]`);
  }
  const shape = inferredShape.map((dim, axis): Dim => {
    const declaredDim = declaredShape[axis]!;
    if (dim === null) return declaredDim;
    if (declaredDim === null) return dim;
    if (typeof dim === 'number') {
      if (typeof declaredDim === 'number' && declaredDim !== dim) {
        conflict(`with shape [${formatShape(declaredShape)}] but infers to [${formatShape(inferredShape)}] (dimension ${axis})`);
      }
      return dim;
    }
    if (typeof declaredDim === 'number') return declaredDim;
    // Two names: a name the model gave beats one invented here.
    return state.freshDims.has(dim) ? declaredDim : dim;
  });
  return { dtype: inferred.dtype, shape };
}

const CONTROL_FLOW_OPS = new Set(['If', 'Loop', 'Scan']);

function subgraphAttribute(node: Node, name: string): Graph | undefined {
  const attribute = node.attributes.get(name);
  return attribute?.type === 'graph' ? attribute.value : undefined;
}

/**
 * If / Loop / Scan: the bodies are inferred with the outer scope visible, and the node's
 * outputs take the bodies' output types. Anything not derivable stays declared or unknown.
 */
function inferControlFlow(node: Node, bodies: Graph[], scope: Scope, state: RunState): InferenceResult {
  const outerType = (index: number): TensorType | undefined => {
    const name = node.inputs[index];
    return name === undefined || name === '' ? undefined : lookup(scope, (entry) => entry.types, name);
  };
  if (node.opType === 'Loop') {
    const body = subgraphAttribute(node, 'body');
    if (body) {
      // Body inputs: iteration number, condition, loop-carried values; fill missing types from the outer inputs.
      body.inputs.forEach((input, position) => {
        if (input.type) return;
        const type =
          position === 0 ? { dtype: 'int64' as const, shape: [] } : position === 1 ? { dtype: 'bool' as const, shape: [] } : outerType(position);
        if (type) input.type = { dtype: type.dtype, ...(type.shape ? { shape: [...type.shape] } : {}) };
      });
    }
    for (const entry of bodies) inferGraph(entry, scope, state);
    if (!body) return { types: [] };
    const carried = Math.max(0, node.inputs.length - 2);
    const tripCount = node.inputs[0] ? lookup(scope, (entry) => entry.constants, node.inputs[0]) : undefined;
    const hasCondition = node.inputs[1] !== undefined && node.inputs[1] !== '';
    const iterations: Dim = tripCount && tripCount.size === 1 && !hasCondition ? tripCount.numberAt(0) : freshDim(state);
    const types = node.outputs.map((_, position): TensorType | undefined => {
      const bodyType = body.outputs[position + 1] ? body.typeOf(body.outputs[position + 1]!.name) : undefined;
      if (position < carried) return bodyType?.shape ? bodyType : (outerType(position + 2) ?? bodyType);
      if (!bodyType) return undefined;
      return { dtype: bodyType.dtype, ...(bodyType.shape ? { shape: [iterations, ...bodyType.shape] } : {}) };
    });
    return { types };
  }
  for (const entry of bodies) inferGraph(entry, scope, state);
  if (node.opType === 'If') {
    const thenBranch = subgraphAttribute(node, 'then_branch');
    const elseBranch = subgraphAttribute(node, 'else_branch');
    const types = node.outputs.map((_, position): TensorType | undefined => {
      const thenOutput = thenBranch?.outputs[position];
      const elseOutput = elseBranch?.outputs[position];
      const thenType = thenOutput ? thenBranch!.typeOf(thenOutput.name) : undefined;
      const elseType = elseOutput ? elseBranch!.typeOf(elseOutput.name) : undefined;
      if (!thenType || !elseType) return thenType ?? elseType;
      if (thenType.dtype !== elseType.dtype) {
        fail(
          ErrorCodes.SHAPE_MISMATCH,
          `${describeNode(node)}: output ${position} is ${thenType.dtype} in then_branch but ${elseType.dtype} in else_branch; both branches must agree`,
        );
      }
      if (!thenType.shape || !elseType.shape || thenType.shape.length !== elseType.shape.length) return { dtype: thenType.dtype };
      const elseShape = elseType.shape;
      return { dtype: thenType.dtype, shape: thenType.shape.map((dim, axis) => (dim === elseShape[axis] ? dim : freshDim(state))) };
    });
    return { types };
  }
  // Scan: outputs keep their declared types.
  return { types: [] };
}

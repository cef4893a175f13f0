import { ErrorCodes, fail } from '../errors.js';
import type { Dim, Node, NodeSpec, TensorType } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';

/**
 * What a shape/dtype rule sees of one node during inference.
 * Input positions follow ONNX; omitted optional inputs are `undefined`.
 */
export interface InferenceContext {
  readonly node: Node;
  /** The opset version of the node's domain in the model. */
  readonly opset: number;
  /** Number of inputs as written (trailing omitted ones excluded). */
  readonly inputCount: number;
  /** True when input `index` is present (not omitted). */
  hasInput(index: number): boolean;
  /** The type of input `index`, undefined when omitted or unknown. */
  inputType(index: number): TensorType | undefined;
  /** The type of input `index`; fails with a clear error when omitted or unknown. */
  requireInput(index: number): TensorType;
  /** The value of input `index` when it is a known constant (initializer, Constant, folded). */
  constant(index: number): Tensor | undefined;
  /**
   * Element values of a rank-0/1 integer input when they are known at least
   * symbolically (`Shape(x)` of a value shaped [N, 3] is `['N', 3]`).
   */
  symbolicValue(index: number): Dim[] | undefined;
  /** A new symbolic dimension name, unique in the graph. */
  freshDim(): string;
  /** Throws RAZOR_SHAPE_MISMATCH naming this node. */
  fail(message: string): never;
}

/** The result of a rule: output types, plus known values for constant/shape propagation. */
export interface InferenceResult {
  types: (TensorType | undefined)[];
  /** Known constant output values (small tensors only). */
  values?: (Tensor | undefined)[];
  /** Known symbolic element values of rank-0/1 integer outputs. */
  symbolic?: (Dim[] | undefined)[];
}

/** What a rule sees when computing a node's cost for the resource estimator. */
export interface CostContext {
  readonly node: Node;
  readonly opset: number;
  inputType(index: number): TensorType | undefined;
  outputType(index: number): TensorType | undefined;
}

/** What a reference kernel sees when evaluating a node on constants (constant folding). */
export interface EvaluateContext {
  readonly node: Node;
  readonly opset: number;
  /** Inputs by position; undefined for omitted optional inputs. */
  readonly inputs: readonly (Tensor | undefined)[];
  fail(message: string): never;
}

/**
 * What a gradient rule sees of one forward node while `buildGradients` walks the graph
 * backwards. Types are the forward types after shape inference. The rule emits ONNX nodes
 * through `emit` (appended to the gradient graph, uniquely named after the forward node)
 * and returns one gradient value name per input.
 */
export interface GradientContext {
  readonly node: Node;
  /** The opset version of the node's domain in the model; emitted nodes use the same opsets. */
  readonly opset: number;
  /** The forward node's input value names ('' for omitted optional inputs). */
  readonly inputs: readonly string[];
  /** The forward node's output value names. */
  readonly outputs: readonly string[];
  /** The type of input `index`, undefined when omitted or unknown. */
  inputType(index: number): TensorType | undefined;
  /** The type of output `index`, undefined when unknown. */
  outputType(index: number): TensorType | undefined;
  /** The value of input `index` when it is a known constant (initializer, Constant, folded). */
  constant(index: number): Tensor | undefined;
  /** The name of the gradient flowing into output `index`; undefined when none flows. */
  outputGradient(index: number): string | undefined;
  /** True when input `index` leads to a value a gradient is wanted for; skip the others. */
  needsGradient(index: number): boolean;
  /** Appends a node to the gradient graph; names left out are made unique (`Graph.addNode`). */
  emit(spec: NodeSpec): Node;
  /** Adds a constant tensor (an initializer) and returns its unique name. */
  addConstant(tensor: Tensor, name?: string): string;
  /** Throws RAZOR_UNSUPPORTED_OP naming this node, saying why no gradient can be built. */
  fail(message: string): never;
}

/**
 * One operator (or one family of operators sharing rules). Rules are written for the
 * opset range PyTorch and tf2onnx emit (11 to 18 at least) and read `ctx.opset` where
 * an attribute became an input.
 */
export interface OpDefinition {
  /** The op type, or several op types sharing the rule. */
  opType: string | readonly string[];
  /** '' for the default ONNX domain. */
  domain?: string;
  /** Output types from input types and attributes. */
  infer(ctx: InferenceContext): InferenceResult;
  /**
   * Multiply-accumulates of one run of the node, for the resource estimator. Omitted:
   * data movement only (0 MACs).
   */
  macs?(ctx: CostContext): number;
  /**
   * A host reference kernel for constant folding: small tensors only, never on a hot
   * path. Omitted: the op is not folded.
   */
  evaluate?(ctx: EvaluateContext): Tensor[];
  /** Input positions that are parameters (weights) rather than activations, for estimators and techniques. */
  parameterInputs?: readonly number[];
  /**
   * The reverse-mode gradient rule: emits standard ONNX nodes computing the gradient of
   * each input from the gradients of the outputs, and returns one value name per input
   * (undefined for inputs that take no gradient: shapes, indices, axes, or inputs for which
   * `ctx.needsGradient` is false). Each returned gradient has its input's exact shape
   * (broadcasting reduced back). Omitted: the op is not differentiable and `buildGradients`
   * fails with RAZOR_UNSUPPORTED_OP when a gradient has to flow through it.
   */
  gradient?(ctx: GradientContext): (string | undefined)[];
}

function normalizeDomain(domain: string | undefined): string {
  return domain === undefined || domain === 'ai.onnx' ? '' : domain;
}

function key(domain: string | undefined, opType: string): string {
  return `${normalizeDomain(domain)}::${opType}`;
}

/** The table of operator definitions. Third parties register their own ops here. */
export class OpRegistry {
  #definitions = new Map<string, OpDefinition>();

  constructor(definitions: Iterable<OpDefinition> = []) {
    for (const definition of definitions) this.register(definition);
  }

  /** Adds or replaces the definition of its op type(s). */
  register(definition: OpDefinition): void {
    const types = typeof definition.opType === 'string' ? [definition.opType] : definition.opType;
    for (const opType of types) this.#definitions.set(key(definition.domain, opType), definition);
  }

  has(opType: string, domain?: string): boolean {
    return this.#definitions.has(key(domain, opType));
  }

  /** The definition, or undefined when razor does not know the op. */
  find(opType: string, domain?: string): OpDefinition | undefined {
    return this.#definitions.get(key(domain, opType));
  }

  /** The definition of a node's op; RAZOR_UNSUPPORTED_OP naming the node when unknown. */
  require(node: Node): OpDefinition {
    const definition = this.find(node.opType, node.domain);
    if (definition) return definition;
    const domain = normalizeDomain(node.domain);
    return fail(
      ErrorCodes.UNSUPPORTED_OP,
      `node '${node.name}' uses op ${domain === '' ? '' : `${domain}::`}${node.opType}, which razor does not know; ` +
        `register a definition with registry.register({ opType: '${node.opType}'${domain ? `, domain: '${domain}'` : ''}, infer }) or remove the node`,
    );
  }

  /** Every registered (domain, opType) pair. */
  list(): { domain: string; opType: string }[] {
    return [...this.#definitions.keys()].map((entry) => {
      const [domain, opType] = entry.split('::') as [string, string];
      return { domain, opType };
    });
  }

  /** A copy that can be extended without touching this registry. */
  clone(): OpRegistry {
    const copy = new OpRegistry();
    for (const [entry, definition] of this.#definitions) copy.#definitions.set(entry, definition);
    return copy;
  }
}

import { ErrorCodes, fail } from '../errors.js';
import { isFloatDType } from '../ir/dtype.js';
import { Graph, nodeInputs, type Node, type NodeSpec } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { defaultRegistry } from '../ops/builtin.js';
import type { GradientContext, OpRegistry } from '../ops/registry.js';
import { inferShapes } from '../passes/infer-shapes.js';
import { topologicalOrder } from '../passes/toposort.js';
import { failNoGradientRule } from './rules/gradient-rule.js';

/** Options of `buildGradients`. */
export interface BuildGradientsOptions {
  /**
   * The value to differentiate; its gradient is seeded with ones of its shape (a scalar loss
   * in practice). Optional when `seeds` is given.
   */
  loss?: string;
  /**
   * Vector-Jacobian products: seeds the gradient of each named value with the value named
   * beside it (`{ logits: 'logits_grad_in' }`), so the gradients computed are those of
   * Σ <seed, value>. A seed name that is not yet a value of the graph becomes a graph input
   * typed like the value it seeds. With `loss` too, the loss's ones are added to the seeds.
   */
  seeds?: Readonly<Record<string, string>>;
  /** Initializers or graph inputs to differentiate with respect to (float tensors). */
  wrt: readonly string[];
  /** The op definitions whose gradient rules are used; `defaultRegistry` when omitted. */
  registry?: OpRegistry;
}

/** What `buildGradients` returns. */
export interface GradientGraph {
  /**
   * A clone of the graph with the gradient nodes appended and each gradient added as an
   * extra graph output (after the original outputs, in `wrt` order).
   */
  graph: Graph;
  /** The output name of each gradient, keyed by the `wrt` value it belongs to. */
  gradients: Record<string, string>;
}

/**
 * Reverse-mode automatic differentiation over the IR. Walks the graph backwards from
 * `loss` (and the `seeds`' values), asking each node's gradient rule for standard ONNX nodes that compute its input
 * gradients; gradients of values read more than once are summed (Sum), non-differentiable
 * inputs are skipped, and nodes with no path from a `wrt` value are left alone. A `wrt`
 * value the loss does not depend on gets a zero gradient. Fails with RAZOR_UNSUPPORTED_OP
 * naming the node when a gradient must flow through an op with no gradient rule.
 */
export function buildGradients(source: Graph, options: BuildGradientsOptions): GradientGraph {
  const registry = options.registry ?? defaultRegistry;
  const graph = source.clone();
  addDropoutMasks(graph);
  const { constants } = inferShapes(graph, { registry });
  const defined = graph.definedValues();
  const seeds = Object.entries(options.seeds ?? {});
  if (options.loss === undefined && seeds.length === 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `buildGradients on graph '${graph.name}' needs a 'loss' or at least one entry in 'seeds'`);
  }
  const differentiated = [...(options.loss === undefined ? [] : [options.loss]), ...seeds.map(([value]) => value)];
  for (const value of differentiated) {
    const role = value === options.loss ? 'loss' : 'seeded value';
    if (!defined.has(value)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${role} '${value}' is not a value of graph '${graph.name}'; pass the name of a node output`);
    }
    const type = graph.typeOf(value);
    if (type !== undefined && !isFloatDType(type.dtype)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${role} '${value}' is ${type.dtype}; differentiate a floating-point value`);
    }
  }
  for (const [value, seed] of seeds) {
    if (defined.has(seed)) continue;
    const type = graph.typeOf(value);
    if (type === undefined) {
      fail(ErrorCodes.INVALID_ARGUMENT, `seeded value '${value}' of graph '${graph.name}' has no known type, so its seed '${seed}' cannot become an input; declare the seed as a graph input`);
    }
    graph.inputs.push({ name: seed, type: { dtype: type.dtype, ...(type.shape ? { shape: [...type.shape] } : {}) } });
    defined.add(seed);
  }
  for (const name of options.wrt) {
    if (!graph.initializers.has(name) && !graph.isInput(name)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `'${name}' is neither an initializer nor an input of graph '${graph.name}'; gradients are taken with respect to parameters or inputs`);
    }
    const type = graph.typeOf(name);
    if (type === undefined || !isFloatDType(type.dtype)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `'${name}' is ${type?.dtype ?? 'of unknown type'}; gradients exist only for floating-point values`);
    }
  }

  const order = topologicalOrder(graph);
  const isFloatValue = (name: string): boolean => {
    const type = graph.typeOf(name);
    return type === undefined || isFloatDType(type.dtype);
  };
  // Values that depend on a wrt value through floating-point values.
  const dependsOnWrt = new Set(options.wrt);
  for (const node of order) {
    if (!nodeInputs(node).some((input) => dependsOnWrt.has(input))) continue;
    for (const output of node.outputs) if (output !== '' && isFloatValue(output)) dependsOnWrt.add(output);
  }

  const contributions = new Map<string, string[]>();
  const accumulated = new Map<string, string>();
  const addContribution = (value: string, gradient: string): void => {
    const list = contributions.get(value);
    if (list) list.push(gradient);
    else contributions.set(value, [gradient]);
  };
  const gradientOf = (value: string, namePrefix: string): string | undefined => {
    const done = accumulated.get(value);
    if (done !== undefined) return done;
    const list = contributions.get(value);
    if (list === undefined) return undefined;
    const total = list.length === 1 ? list[0]! : graph.addNode({ opType: 'Sum', inputs: list, name: graph.uniqueName(`${namePrefix}_grad_sum`) }).outputs[0]!;
    accumulated.set(value, total);
    return total;
  };

  if (options.loss !== undefined) addContribution(options.loss, seedGradient(graph, options.loss));
  for (const [value, seed] of seeds) addContribution(value, seed);

  for (let position = order.length - 1; position >= 0; position--) {
    const node = order[position]!;
    if (!node.outputs.some((output) => contributions.has(output))) continue;
    if (!node.inputs.some((input) => input !== '' && dependsOnWrt.has(input))) continue;
    const definition = registry.find(node.opType, node.domain);
    if (definition?.gradient === undefined) failNoGradientRule(node);
    const outputGradients = node.outputs.map((output) => (output === '' ? undefined : gradientOf(output, node.name)));
    const inputGradients = definition.gradient(gradientContext(graph, node, outputGradients, dependsOnWrt, constants));
    node.inputs.forEach((input, index) => {
      const gradient = inputGradients[index];
      if (gradient !== undefined && input !== '' && dependsOnWrt.has(input)) addContribution(input, gradient);
    });
  }

  const gradients: Record<string, string> = {};
  for (const name of options.wrt) {
    const type = graph.typeOf(name)!;
    const gradient = gradientOf(name, name) ?? zerosLike(graph, name);
    const output = graph.addNode({ opType: 'Identity', inputs: [gradient], outputs: [graph.uniqueName(`${name}_grad`)], name: graph.uniqueName(`${name}_grad_output`) }).outputs[0]!;
    graph.outputs.push({ name: output, type: { dtype: type.dtype, ...(type.shape ? { shape: [...type.shape] } : {}) } });
    gradients[name] = output;
  }
  // Types every gradient value and checks each rule's output shapes against its input's.
  inferShapes(graph, { registry });
  return { graph, gradients };
}

/** Ones of the loss's shape: a constant when the shape is static, else ConstantOfShape(Shape(loss)). */
function seedGradient(graph: Graph, loss: string): string {
  const type = graph.typeOf(loss);
  const dtype = type?.dtype ?? 'float32';
  const shape = type?.shape;
  if (shape !== undefined && shape.every((dim) => typeof dim === 'number')) {
    const size = (shape as number[]).reduce((product, dim) => product * dim, 1);
    return graph.addInitializer(graph.uniqueName(`${loss}_grad_seed`), Tensor.from(dtype, shape as number[], new Array<number>(size).fill(1)));
  }
  const lossShape = graph.addNode({ opType: 'Shape', inputs: [loss], name: graph.uniqueName(`${loss}_grad_seed_shape`) }).outputs[0]!;
  return graph.addNode({
    opType: 'ConstantOfShape',
    inputs: [lossShape],
    attributes: { value: Tensor.from(dtype, [1], [1]) },
    name: graph.uniqueName(`${loss}_grad_seed`),
  }).outputs[0]!;
}

/** The gradient of a value the loss does not depend on. */
function zerosLike(graph: Graph, value: string): string {
  const type = graph.typeOf(value)!;
  const shape = graph.addNode({ opType: 'Shape', inputs: [value], name: graph.uniqueName(`${value}_grad_shape`) }).outputs[0]!;
  return graph.addNode({
    opType: 'ConstantOfShape',
    inputs: [shape],
    attributes: { value: Tensor.from(type.dtype, [1], [0]) },
    name: graph.uniqueName(`${value}_grad_zeros`),
  }).outputs[0]!;
}

function gradientContext(
  graph: Graph,
  node: Node,
  outputGradients: readonly (string | undefined)[],
  dependsOnWrt: ReadonlySet<string>,
  constants: ReadonlyMap<string, Tensor>,
): GradientContext {
  const typeOf = (name: string | undefined) => (name === undefined || name === '' ? undefined : graph.typeOf(name));
  return {
    node,
    opset: graph.opset(node.domain),
    inputs: node.inputs,
    outputs: node.outputs,
    inputType: (index) => typeOf(node.inputs[index]),
    outputType: (index) => typeOf(node.outputs[index]),
    constant(index) {
      const name = node.inputs[index];
      return name === undefined || name === '' ? undefined : constants.get(name);
    },
    outputGradient: (index) => outputGradients[index],
    needsGradient(index) {
      const name = node.inputs[index];
      return name !== undefined && name !== '' && dependsOnWrt.has(name);
    },
    emit(spec: NodeSpec) {
      return graph.addNode({ ...spec, name: spec.name ?? graph.uniqueName(`${node.name}_grad_${spec.opType}`) });
    },
    addConstant(tensor, name) {
      return graph.addInitializer(graph.uniqueName(name ?? `${node.name}_grad_constant`), tensor);
    },
    fail(message) {
      return fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of node '${node.name}' (${node.opType}): ${message}`);
    },
  };
}

/**
 * Training-mode Dropout's gradient needs the mask the forward pass drew: a Dropout with a
 * constant true training_mode and no mask output gets one.
 */
function addDropoutMasks(graph: Graph): void {
  let changed = false;
  for (const node of graph.nodes) {
    if (node.opType !== 'Dropout' || (node.domain ?? '') !== '' || (node.outputs[1] ?? '') !== '' || graph.opset() < 12) continue;
    const training = node.inputs[2];
    if (training === undefined || training === '') continue;
    const constant = graph.initializers.get(training) ?? constantNodeValue(graph, training);
    if (constant === undefined || constant.size !== 1 || constant.numberAt(0) === 0) continue;
    node.outputs[1] = graph.uniqueName(`${node.outputs[0]}_mask`);
    changed = true;
  }
  if (changed) graph.invalidate();
}

function constantNodeValue(graph: Graph, value: string): Tensor | undefined {
  const producer = graph.producer(value);
  if (producer?.opType !== 'Constant') return undefined;
  const attribute = producer.attributes.get('value');
  return attribute?.type === 'tensor' ? attribute.value : undefined;
}

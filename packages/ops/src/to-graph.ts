import { ErrorCodes, Graph, fail, type Dim } from '@razor/core';
import { GraphBuilder } from './graph-builder.js';
import type { Module } from './module.js';

/** Options of `toGraph`. */
export interface ToGraphOptions {
  /**
   * The shape of one sample, without the batch axis, e.g. [3, 224, 224]. Default: the
   * module's own `inputShape` (every zoo model has one).
   */
  inputShape?: readonly number[];
  /** The batch dimension: a size, or a symbolic name such as 'N' (default 1). */
  batch?: number | string;
  /** Default 'input'. */
  inputName?: string;
  /** Default 'output'. */
  outputName?: string;
  /** The default-domain opset to import; 14 to 17 (default 17). */
  opset?: number;
  /** The graph's name (default: the module's class name). */
  graphName?: string;
  /**
   * Build the training form (BatchNormalization with training_mode = 1 and running-
   * statistics outputs, Dropout active). Default false: the inference graph. The
   * module's own train/eval flags are restored afterwards either way.
   */
  training?: boolean;
}

/** The opsets whose operator forms the layers emit (Split with a sizes input, ReduceMean with an axes attribute, HardSwish). */
const MINIMUM_OPSET = 14;
const MAXIMUM_OPSET = 17;

/**
 * Builds a complete graph of `module`: one float32 input of shape
 * [batch, ...inputShape], every parameter and buffer it uses as an initializer named
 * by its module path (`layer1.0.conv1.weight`), nodes named by module path
 * (`layer1.0.conv1/Conv`), and one output.
 */
export function toGraph(module: Module, options: ToGraphOptions = {}): Graph {
  const inputShape = options.inputShape ?? (module as { inputShape?: readonly number[] }).inputShape;
  const opset = options.opset ?? MAXIMUM_OPSET;
  if (!Number.isInteger(opset) || opset < MINIMUM_OPSET || opset > MAXIMUM_OPSET) {
    fail(ErrorCodes.INVALID_ARGUMENT, `toGraph: opset ${opset} is not supported; use ${MINIMUM_OPSET} to ${MAXIMUM_OPSET}`);
  }
  if (!Array.isArray(inputShape) || inputShape.some((dim) => !Number.isInteger(dim) || dim < 1)) {
    fail(
      ErrorCodes.INVALID_ARGUMENT,
      inputShape === undefined
        ? `toGraph: ${module.constructor.name} does not know its input shape; pass inputShape (one sample, without the batch axis)`
        : `toGraph: inputShape must list positive integer sizes of one sample (without the batch axis), got [${String(inputShape)}]`,
    );
  }
  const batch: Dim = options.batch ?? 1;
  if (typeof batch === 'number' ? !Number.isInteger(batch) || batch < 1 : batch.length === 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `toGraph: batch must be a positive integer or a non-empty symbolic name, got '${String(batch)}'`);
  }
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'output';
  if (inputName === outputName) fail(ErrorCodes.INVALID_ARGUMENT, `toGraph: inputName and outputName are both '${inputName}'; give them different names`);

  const graph = new Graph(options.graphName ?? module.constructor.name);
  graph.opsetImports = new Map([['', opset]]);
  const builder = new GraphBuilder(graph);
  const flags = [...module.namedModules()].map(([, child]) => [child, child.training] as const);
  module.train(options.training ?? false);
  let result: string;
  try {
    const input = builder.input(inputName, [batch, ...inputShape]);
    result = builder.callRoot(module, input);
  } finally {
    for (const [child, training] of flags) child.training = training;
  }

  if (result === inputName || graph.initializers.has(result)) {
    // The module passed its input (or a constant) through: an Identity gives the output its own name.
    const shape = builder.shape(result);
    graph.addNode({ opType: 'Identity', inputs: [result], outputs: [outputName], name: 'Identity' });
    if (shape) builder.setShape(outputName, shape);
  } else if (result !== outputName) {
    if (graph.definedValues().has(outputName)) fail(ErrorCodes.INVALID_GRAPH, `toGraph: outputName '${outputName}' is already a value of the graph; choose another name`);
    const producer = graph.producer(result)!;
    const shape = builder.shape(result);
    graph.replaceAllUses(result, outputName);
    producer.outputs = producer.outputs.map((output) => (output === result ? outputName : output));
    graph.invalidate();
    graph.valueInfo.delete(result);
    if (shape) builder.setShape(outputName, shape);
  }
  builder.output(outputName);
  return graph;
}

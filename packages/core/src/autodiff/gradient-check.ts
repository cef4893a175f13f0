import type { Backend } from '../backend/backend.js';
import { ErrorCodes, fail } from '../errors.js';
import { isFloatDType } from '../ir/dtype.js';
import type { Dim, Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { createRandom } from '../estimator/random-inputs.js';
import type { OpRegistry } from '../ops/registry.js';
import { inferShapes } from '../passes/infer-shapes.js';
import { buildGradients } from './gradients.js';

/** Options of `checkGradients`. */
export interface GradientCheckOptions {
  /** The backend that runs the gradient graph and the forward passes. */
  backend: Backend;
  /** Initializers or graph inputs whose gradients are checked. */
  wrt: readonly string[];
  /**
   * The value to differentiate. Omitted: the loss is Σ output · R for a seeded random R of
   * the output's shape, so every element of the output gradient is exercised (ones would
   * hide mistakes, e.g. Softmax's gradient of a plain sum is zero).
   */
  loss?: string;
  /** The output projected to a loss when `loss` is omitted; the first graph output by default. */
  output?: string;
  /** Values for graph inputs; the others get seeded uniform values in [-1, 1]. */
  feeds?: Readonly<Record<string, Tensor>>;
  /** Seed of the random feeds and projection (default 1). */
  seed?: number;
  /** Finite-difference step relative to each element: h = epsilon · max(1, |x|) (default 1e-2). */
  epsilon?: number;
  registry?: OpRegistry;
}

/** The comparison for one `wrt` value. */
export interface GradientCheckValue {
  name: string;
  /** The gradient the gradient graph computed. */
  analytic: Float32Array;
  /** Central finite differences of the loss. */
  numeric: Float32Array;
  /** max |analytic − numeric|. */
  maxAbsoluteError: number;
  /** maxAbsoluteError / max(max |numeric|, 1e-6): the figure to hold against a float32 tolerance. */
  relativeError: number;
}

/** What `checkGradients` measured. */
export interface GradientCheckResult {
  values: GradientCheckValue[];
  /** The largest `relativeError` over all values. */
  maxRelativeError: number;
  /** How many nodes the gradient graph adds to the forward graph. */
  gradientNodes: number;
}

function randomTensor(shape: readonly number[], random: () => number): Tensor<'float32'> {
  const size = shape.reduce((product, dim) => product * dim, 1);
  const data = new Float32Array(size);
  for (let index = 0; index < size; index++) data[index] = random() * 2 - 1;
  return new Tensor('float32', shape, data);
}

function staticShape(shape: readonly Dim[] | undefined, what: string): number[] {
  if (shape === undefined || !shape.every((dim): dim is number => typeof dim === 'number')) {
    return fail(ErrorCodes.INVALID_ARGUMENT, `${what} needs a static shape for a gradient check; pass a feed for it`);
  }
  return [...shape];
}

/**
 * Checks the gradients `buildGradients` emits against central finite differences of the
 * loss, running both on `backend` in float32. Every element of every `wrt` value is
 * perturbed, so keep the graphs small (tests of single ops and small nets).
 */
export async function checkGradients(source: Graph, options: GradientCheckOptions): Promise<GradientCheckResult> {
  const random = createRandom(options.seed ?? 1);
  const epsilon = options.epsilon ?? 1e-2;
  const graph = source.clone();
  const feeds: Record<string, Tensor> = { ...options.feeds };
  for (const input of graph.inputs) {
    if (feeds[input.name] !== undefined || graph.initializers.has(input.name)) continue;
    if (input.type === undefined || !isFloatDType(input.type.dtype)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `graph input '${input.name}' is not a float tensor; pass a feed for it`);
    }
    feeds[input.name] = randomTensor(staticShape(input.type.shape, `graph input '${input.name}'`), random);
  }
  // Parameters become inputs so one compiled session evaluates every perturbation.
  for (const name of options.wrt) {
    const tensor = graph.initializers.get(name);
    if (tensor === undefined) continue;
    graph.initializers.delete(name);
    graph.inputs.push({ name, type: { dtype: tensor.dtype, shape: [...tensor.shape] } });
    feeds[name] = tensor;
  }
  inferShapes(graph, { ...(options.registry ? { registry: options.registry } : {}) });

  let loss = options.loss;
  if (loss === undefined) {
    const output = options.output ?? graph.outputs[0]?.name ?? fail(ErrorCodes.INVALID_ARGUMENT, `graph '${graph.name}' has no output to check`);
    const type = graph.typeOf(output);
    const projection = graph.addInitializer(graph.uniqueName(`${output}_projection`), randomTensor(staticShape(type?.shape, `output '${output}'`), random));
    const product = graph.addNode({ opType: 'Mul', inputs: [output, projection] }).outputs[0]!;
    loss = graph.addNode({ opType: 'ReduceSum', inputs: [product], attributes: { keepdims: 0 }, outputs: [graph.uniqueName('gradient_check_loss')] }).outputs[0]!;
  }
  graph.outputs = [{ name: loss, type: { dtype: 'float32', shape: graph.typeOf(loss)?.shape ?? [] } }];

  const built = buildGradients(graph, { loss, wrt: options.wrt, ...(options.registry ? { registry: options.registry } : {}) });
  const gradientSession = await options.backend.createSession(built.graph);
  const forwardSession = await options.backend.createSession(graph);
  try {
    const analyticOutputs = await gradientSession.run(feeds, Object.values(built.gradients));
    const evaluate = async (perturbed: Record<string, Tensor>): Promise<number> => {
      const outputs = await forwardSession.run(perturbed, [loss]);
      const values = outputs[loss]!.toFloat32();
      let total = 0;
      for (const value of values) total += value;
      return total;
    };
    const values: GradientCheckValue[] = [];
    for (const name of options.wrt) {
      const analytic = analyticOutputs[built.gradients[name]!]!.toFloat32();
      const base = feeds[name]!;
      if (base.dtype !== 'float32') fail(ErrorCodes.INVALID_ARGUMENT, `'${name}' is ${base.dtype}; the gradient check perturbs float32 values`);
      const numeric = new Float32Array(base.size);
      const working = new Float32Array(base.toFloat32());
      const tensor = new Tensor('float32', base.shape, working);
      for (let index = 0; index < working.length; index++) {
        const original = working[index]!;
        const step = epsilon * Math.max(1, Math.abs(original));
        working[index] = original + step;
        const plus = await evaluate({ ...feeds, [name]: tensor });
        working[index] = original - step;
        const minus = await evaluate({ ...feeds, [name]: tensor });
        working[index] = original;
        // The actual float32 step, not the intended one, divides the difference.
        const actualStep = Math.fround(original + step) - Math.fround(original - step);
        numeric[index] = (plus - minus) / actualStep;
      }
      let maxAbsoluteError = 0;
      let scale = 0;
      for (let index = 0; index < numeric.length; index++) {
        maxAbsoluteError = Math.max(maxAbsoluteError, Math.abs(analytic[index]! - numeric[index]!));
        scale = Math.max(scale, Math.abs(numeric[index]!));
      }
      values.push({ name, analytic, numeric, maxAbsoluteError, relativeError: maxAbsoluteError / Math.max(scale, 1e-6) });
    }
    return {
      values,
      maxRelativeError: Math.max(0, ...values.map((value) => value.relativeError)),
      gradientNodes: built.graph.nodes.length - graph.nodes.length,
    };
  } finally {
    await gradientSession.release();
    await forwardSession.release();
  }
}

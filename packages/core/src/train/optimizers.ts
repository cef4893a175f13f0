import { ErrorCodes, fail } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';

/** The values one parameter's update reads, by name in the graph. */
export interface UpdateInputs {
  /** The parameter's current value. */
  parameter: string;
  /** Its gradient. */
  gradient: string;
  /** Its optimizer state, by state name (as `initialState` names them). */
  state: Readonly<Record<string, string>>;
  /** The learning rate: a float32 scalar value (a graph input, so schedules need no rebuild). */
  learningRate: string;
  /** The 1-based step count: a float32 scalar value (Adam's bias correction, SGD's first step). */
  step: string;
}

/** What an update produced: the new parameter and state values. */
export interface UpdateOutputs {
  parameter: string;
  state: Record<string, string>;
}

/**
 * An optimizer as a graph builder: it appends, for one parameter, the nodes computing the
 * new parameter and state from the gradient, so one backend run is one training step.
 * Updates follow PyTorch's `torch.optim` exactly.
 */
export interface Optimizer {
  /** 'sgd', 'adam', 'adamw'. */
  readonly name: string;
  /** The state a parameter starts with (zeros shaped like it), by state name. */
  initialState(parameter: Tensor): Record<string, Tensor>;
  /** Appends the update of one parameter; `prefix` names its nodes. */
  emitUpdate(graph: Graph, inputs: UpdateInputs, prefix: string): UpdateOutputs;
  /**
   * The same optimizer with some options replaced, as a PyTorch parameter group overrides
   * its optimizer's defaults (`buildTrainStep`'s `groups`). Optional: an optimizer without
   * it takes groups only as explicit instances.
   */
  withOptions?(overrides: OptimizerOverrides): Optimizer;
}

/** Options every optimizer has that a parameter group may override. */
export interface OptimizerOverrides {
  /** The weight decay of the group's parameters (0 to exempt biases and normalization scales). */
  weightDecay?: number;
}

/** Emits nodes under one prefix with unique names. */
class UpdateBuilder {
  constructor(
    readonly graph: Graph,
    readonly prefix: string,
  ) {}

  node(opType: string, inputs: string[], attributes: Record<string, number> = {}): string {
    const name = this.graph.uniqueName(`${this.prefix}/${opType}`);
    return this.graph.addNode({ opType, inputs, name, attributes, outputs: [this.graph.uniqueName(`${name}_output`)] }).outputs[0]!;
  }

  scalar(label: string, value: number): string {
    return this.graph.addInitializer(this.graph.uniqueName(`${this.prefix}/${label}`), Tensor.from('float32', [], [value]));
  }

  /** a·x (skipping the multiply when a is 1). */
  scale(x: string, factor: number, label: string): string {
    return factor === 1 ? x : this.node('Mul', [x, this.scalar(label, factor)]);
  }

  /** gradient + weightDecay·parameter (L2 penalty), or the gradient when weightDecay is 0. */
  withWeightDecay(gradient: string, parameter: string, weightDecay: number): string {
    return weightDecay === 0 ? gradient : this.node('Add', [gradient, this.scale(parameter, weightDecay, 'weight_decay')]);
  }
}

/** The overrides that are set (an explicit `undefined` keeps the default). */
function definedOverrides(overrides: OptimizerOverrides): OptimizerOverrides {
  return Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
}

function zerosLike(parameter: Tensor): Tensor {
  return new Tensor('float32', parameter.shape);
}

function requireInRange(value: number, name: string, low: number, high: number, highInclusive = false): void {
  const ok = Number.isFinite(value) && value >= low && (highInclusive ? value <= high : value < high);
  if (!ok) fail(ErrorCodes.INVALID_ARGUMENT, `${name} must be in [${low}, ${high}${highInclusive ? ']' : ')'}, got ${value}`);
}

export interface SgdOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  weightDecay?: number;
}

/** PyTorch's SGD: momentum (the buffer starts as the first gradient), dampening, Nesterov, weight decay. */
export function sgd(options: SgdOptions = {}): Optimizer {
  const momentum = options.momentum ?? 0;
  const dampening = options.dampening ?? 0;
  const nesterov = options.nesterov ?? false;
  const weightDecay = options.weightDecay ?? 0;
  requireInRange(momentum, 'momentum', 0, 1);
  requireInRange(dampening, 'dampening', 0, 1, true);
  requireInRange(weightDecay, 'weightDecay', 0, Number.POSITIVE_INFINITY);
  if (nesterov && (momentum === 0 || dampening !== 0)) fail(ErrorCodes.INVALID_ARGUMENT, 'Nesterov momentum needs a momentum above 0 and zero dampening');
  return {
    name: 'sgd',
    withOptions: (overrides) => sgd({ ...options, ...definedOverrides(overrides) }),
    initialState: (parameter): Record<string, Tensor> => (momentum === 0 ? {} : { momentum: zerosLike(parameter) }),
    emitUpdate(graph, inputs, prefix) {
      const builder = new UpdateBuilder(graph, prefix);
      let direction = builder.withWeightDecay(inputs.gradient, inputs.parameter, weightDecay);
      const state: Record<string, string> = {};
      if (momentum !== 0) {
        const previous = inputs.state.momentum;
        if (previous === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `${prefix}: SGD with momentum needs the 'momentum' state`);
        let buffer = builder.node('Add', [builder.scale(previous, momentum, 'momentum'), builder.scale(direction, 1 - dampening, 'one_minus_dampening')]);
        if (dampening !== 0) {
          // PyTorch starts the buffer as the first gradient itself, undamped.
          const first = builder.node('Equal', [inputs.step, builder.scalar('one', 1)]);
          buffer = builder.node('Where', [first, direction, buffer]);
        }
        state.momentum = buffer;
        direction = nesterov ? builder.node('Add', [direction, builder.scale(buffer, momentum, 'momentum')]) : buffer;
      }
      const parameter = builder.node('Sub', [inputs.parameter, builder.node('Mul', [direction, inputs.learningRate])]);
      return { parameter, state };
    },
  };
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Adam: an L2 penalty added to the gradient. AdamW: decoupled decay (default 0.01 there). */
  weightDecay?: number;
}

function adamFamily(name: 'adam' | 'adamw', options: AdamOptions): Optimizer {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const epsilon = options.epsilon ?? 1e-8;
  const weightDecay = options.weightDecay ?? (name === 'adamw' ? 0.01 : 0);
  requireInRange(beta1, 'beta1', 0, 1);
  requireInRange(beta2, 'beta2', 0, 1);
  requireInRange(epsilon, 'epsilon', 0, Number.POSITIVE_INFINITY);
  requireInRange(weightDecay, 'weightDecay', 0, Number.POSITIVE_INFINITY);
  return {
    name,
    withOptions: (overrides) => adamFamily(name, { ...options, ...definedOverrides(overrides) }),
    initialState: (parameter) => ({ exp_avg: zerosLike(parameter), exp_avg_sq: zerosLike(parameter) }),
    emitUpdate(graph, inputs, prefix) {
      const builder = new UpdateBuilder(graph, prefix);
      const { exp_avg: average, exp_avg_sq: squareAverage } = inputs.state;
      if (average === undefined || squareAverage === undefined) {
        fail(ErrorCodes.INVALID_ARGUMENT, `${prefix}: ${name} needs the 'exp_avg' and 'exp_avg_sq' states`);
      }
      let parameter = inputs.parameter;
      let gradient = inputs.gradient;
      if (name === 'adamw' && weightDecay !== 0) {
        // Decoupled: p ← p·(1 − lr·wd) before the Adam step.
        const decay = builder.node('Sub', [builder.scalar('one', 1), builder.node('Mul', [inputs.learningRate, builder.scalar('weight_decay', weightDecay)])]);
        parameter = builder.node('Mul', [parameter, decay]);
      } else if (name === 'adam') {
        gradient = builder.withWeightDecay(gradient, parameter, weightDecay);
      }
      const newAverage = builder.node('Add', [builder.scale(average, beta1, 'beta1'), builder.scale(gradient, 1 - beta1, 'one_minus_beta1')]);
      const squared = builder.node('Mul', [gradient, gradient]);
      const newSquareAverage = builder.node('Add', [builder.scale(squareAverage, beta2, 'beta2'), builder.scale(squared, 1 - beta2, 'one_minus_beta2')]);
      const one = builder.scalar('one', 1);
      const correction1 = builder.node('Sub', [one, builder.node('Pow', [builder.scalar('beta1', beta1), inputs.step])]);
      const correction2 = builder.node('Sub', [one, builder.node('Pow', [builder.scalar('beta2', beta2), inputs.step])]);
      // PyTorch: p ← p − (lr / c1) · m / (√v / √c2 + ε)
      const denominator = builder.node('Add', [builder.node('Div', [builder.node('Sqrt', [newSquareAverage]), builder.node('Sqrt', [correction2])]), builder.scalar('epsilon', epsilon)]);
      const stepSize = builder.node('Div', [inputs.learningRate, correction1]);
      const update = builder.node('Mul', [builder.node('Div', [newAverage, denominator]), stepSize]);
      return { parameter: builder.node('Sub', [parameter, update]), state: { exp_avg: newAverage, exp_avg_sq: newSquareAverage } };
    },
  };
}

/** PyTorch's Adam (weight decay as an L2 penalty on the gradient). */
export function adam(options: AdamOptions = {}): Optimizer {
  return adamFamily('adam', options);
}

/** PyTorch's AdamW (decoupled weight decay, default 0.01). */
export function adamw(options: AdamOptions = {}): Optimizer {
  return adamFamily('adamw', options);
}

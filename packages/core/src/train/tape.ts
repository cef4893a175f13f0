import type { BackendSession } from '../backend/backend.js';
import { ErrorCodes, fail } from '../errors.js';
import type { DType } from '../ir/dtype.js';
import { isFloatDType } from '../ir/dtype.js';
import { Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { segmentError, type CompiledSegment, type Segment } from './segment.js';
import type { SessionCache } from './session-cache.js';

/** Options of a `Tape`. */
export interface TapeOptions {
  /** Where the segments' sessions are compiled and kept. */
  cache: SessionCache;
  /**
   * false: run the segments' inference graphs and record nothing (evaluation; `backward`
   * is then an error). Default true.
   */
  record?: boolean;
}

/** A tensor produced on (or watched by) a tape: feed it to later segments, or differentiate it. */
export class TapeValue {
  /** The value itself, on the host. */
  readonly tensor: Tensor;
  /** Where it comes from, for messages: "output 'y' of segment 'conv'" or "watched 'x'". */
  readonly label: string;
  /** Whether gradients flow to it: a float value depending on a parameter or a watched value. */
  readonly requiresGradient: boolean;
  /** @internal */
  readonly tape: Tape;

  /** @internal Values come from `Tape.run` and `Tape.watch`. */
  constructor(tape: Tape, tensor: Tensor, label: string, requiresGradient: boolean) {
    this.tape = tape;
    this.tensor = tensor;
    this.label = label;
    this.requiresGradient = requiresGradient;
  }
}

/** What `Tape.backward` returns: the summed gradients of every parameter and watched value. */
export class TapeGradients {
  /** The gradient of each parameter of each segment run (summed over its runs), by parameter name. */
  readonly parameters: ReadonlyMap<Segment, Readonly<Record<string, Tensor>>>;
  readonly #values: ReadonlyMap<TapeValue, Tensor>;

  /** @internal */
  constructor(parameters: ReadonlyMap<Segment, Readonly<Record<string, Tensor>>>, values: ReadonlyMap<TapeValue, Tensor>) {
    this.parameters = parameters;
    this.#values = values;
  }

  /** The gradient of a watched value or a segment output (undefined when nothing flowed to it). */
  of(value: TapeValue): Tensor | undefined {
    return this.#values.get(value);
  }

  /** The gradients of one segment's parameters (undefined when the segment was not run). */
  forSegment(segment: Segment): Readonly<Record<string, Tensor>> | undefined {
    return this.parameters.get(segment);
  }
}

interface Run {
  segment: Segment;
  compiled: CompiledSegment;
  /** What each input was fed: a value of this tape, or a constant tensor. */
  inputs: Record<string, TapeValue | Tensor>;
  /** The parameters as they were fed (the host may replace them before backward). */
  parameters: Record<string, Tensor>;
  /** The forward graph's saved outputs. */
  saved: Record<string, Tensor>;
  outputs: Record<string, TapeValue>;
}

/**
 * Records the segments run in a forward pass and runs their backward graphs in reverse.
 *
 * `run(segment, inputs)` feeds tensors (constants: images, labels) or `TapeValue`s (outputs
 * of earlier runs, or `watch`ed tensors) to a segment's forward graph and returns its
 * outputs as TapeValues; a segment may run any number of times. `backward(value)` seeds the
 * value's gradient (ones, or the tensor given), runs each recorded segment's backward graph
 * from the last run to the first, sums the gradients of values read more than once and of
 * parameters of segments run more than once, and returns them. A tape records one forward
 * and one backward pass: make a new Tape for each step. Sessions come from the cache, so
 * each segment graph compiles once across tapes.
 */
export class Tape {
  readonly cache: SessionCache;
  /** Whether the tape records runs for `backward`. */
  readonly recording: boolean;
  readonly #runs: Run[] = [];
  #finished = false;

  constructor(options: TapeOptions) {
    this.cache = options.cache;
    this.recording = options.record ?? true;
  }

  /** How many segment runs the tape holds. */
  get length(): number {
    return this.#runs.length;
  }

  /** A value whose gradient `backward` returns (`gradients.of(value)`), e.g. an input image. */
  watch(tensor: Tensor, name = 'input'): TapeValue {
    if (!isFloatDType(tensor.dtype)) fail(ErrorCodes.INVALID_ARGUMENT, `cannot watch '${name}': it is ${tensor.dtype}, and only floating-point values have gradients`);
    return new TapeValue(this, tensor, `watched '${name}'`, true);
  }

  /**
   * Runs a segment's forward graph on `inputs` (by input name) and records it. Fails with
   * RAZOR_INVALID_FEED naming the segment and input for a missing, extra or misshapen feed.
   */
  async run(segment: Segment, inputs: Readonly<Record<string, TapeValue | Tensor>>): Promise<Record<string, TapeValue>> {
    if (this.#finished) fail(ErrorCodes.INVALID_STATE, `segment '${segment.name}': this tape already ran backward; record the next step on a new Tape`);
    const feeds: Record<string, Tensor> = {};
    let dependsOnGradient = segment.parameterNames.length > 0;
    for (const [name, fed] of Object.entries(inputs)) {
      if (fed instanceof TapeValue) {
        if (fed.tape !== this) fail(ErrorCodes.INVALID_ARGUMENT, `segment '${segment.name}': input '${name}' was fed ${fed.label} from another tape; values cannot cross tapes`);
        feeds[name] = fed.tensor;
        if (fed.requiresGradient) dependsOnGradient = true;
      } else feeds[name] = fed;
    }
    const compiled = segment.compile(segment.checkFeeds(feeds));
    const parameters = segment.parameters();
    const graph = this.recording ? compiled.forward : compiled.inference;
    const role = this.recording ? 'forward' : 'inference';
    const session = await this.cache.session(`${compiled.key}|${role}`, () => graph, `segment '${segment.name}' ${role}`);
    let results: Record<string, Tensor>;
    try {
      results = await session.run({ ...feeds, ...parameters });
    } catch (error) {
      throw segmentError(segment, error);
    }
    const outputs: Record<string, TapeValue> = {};
    for (const name of segment.outputs) {
      const tensor = results[name]!;
      outputs[name] = new TapeValue(this, tensor, `output '${name}' of segment '${segment.name}'`, this.recording && dependsOnGradient && isFloatDType(tensor.dtype));
    }
    if (this.recording) {
      const saved: Record<string, Tensor> = {};
      for (const name of compiled.saved) saved[name] = results[name]!;
      this.#runs.push({ segment, compiled, inputs: { ...inputs }, parameters, saved, outputs });
    }
    return outputs;
  }

  /**
   * Back-propagates from `value` (a float output of a recorded run) seeded with `gradient`
   * (default: ones of its shape, as for a scalar loss). Returns the parameters' gradients
   * per segment and the gradients of watched values. Fails with RAZOR_INVALID_STATE before
   * any run or when called twice.
   */
  async backward(value: TapeValue, gradient?: Tensor): Promise<TapeGradients> {
    if (!this.recording) fail(ErrorCodes.INVALID_STATE, `backward on a tape made with record: false; make the tape with record: true to train`);
    if (this.#finished) fail(ErrorCodes.INVALID_STATE, `backward of ${value.label}: this tape already ran backward; record the next step on a new Tape`);
    if (this.#runs.length === 0) fail(ErrorCodes.INVALID_STATE, `backward of ${value.label} before any forward run: run segments on this tape first`);
    if (value.tape !== this) fail(ErrorCodes.INVALID_ARGUMENT, `backward of ${value.label}: the value comes from another tape`);
    if (!value.requiresGradient) {
      fail(ErrorCodes.INVALID_ARGUMENT, `backward of ${value.label}: the value does not depend on any parameter or watched value (or is not floating-point), so it has no gradients`);
    }
    const seed = gradient ?? onesLike(value.tensor);
    if (seed.dtype !== value.tensor.dtype || !sameShape(seed.shape, value.tensor.shape)) {
      fail(
        ErrorCodes.SHAPE_MISMATCH,
        `backward of ${value.label}: the gradient is ${seed.dtype} [${seed.shape.join(', ')}] but the value is ${value.tensor.dtype} [${value.tensor.shape.join(', ')}]`,
      );
    }
    this.#finished = true;
    const valueGradients = new Map<TapeValue, Tensor>([[value, seed]]);
    const parameterGradients = new Map<Segment, Record<string, Tensor>>();
    const accumulate = async (current: Tensor | undefined, addition: Tensor): Promise<Tensor> => (current === undefined ? addition : this.#add(current, addition));

    for (let position = this.#runs.length - 1; position >= 0; position--) {
      const run = this.#runs[position]!;
      const { segment, compiled } = run;
      if (!Object.values(run.outputs).some((output) => valueGradients.has(output))) continue;
      const differentiated = Object.entries(run.inputs)
        .filter(([, fed]) => fed instanceof TapeValue && fed.requiresGradient)
        .map(([name]) => name);
      if (differentiated.length === 0 && segment.parameterNames.length === 0) continue;
      const backward = compiled.backward(differentiated);
      const session: BackendSession = await this.cache.session(backward.key, () => backward.graph, `segment '${segment.name}' backward`);
      const outputBySeed = new Map(Object.entries(backward.seeds).map(([output, seedName]) => [seedName, output]));
      const feeds: Record<string, Tensor> = {};
      for (const input of backward.graph.inputs) {
        const output = outputBySeed.get(input.name);
        if (output !== undefined) {
          const produced = run.outputs[output]!;
          feeds[input.name] = valueGradients.get(produced) ?? new Tensor(produced.tensor.dtype, produced.tensor.shape);
          continue;
        }
        const fed = run.saved[input.name] ?? run.parameters[input.name] ?? run.inputs[input.name];
        if (fed === undefined) fail(ErrorCodes.INVALID_GRAPH, `segment '${segment.name}': the backward graph reads '${input.name}', which the forward run did not keep; report this`);
        feeds[input.name] = fed instanceof TapeValue ? fed.tensor : fed;
      }
      let results: Record<string, Tensor>;
      try {
        results = await session.run(feeds);
      } catch (error) {
        throw segmentError(segment, error);
      }
      for (const name of differentiated) {
        const fed = run.inputs[name] as TapeValue;
        valueGradients.set(fed, await accumulate(valueGradients.get(fed), results[backward.inputGradients[name]!]!));
      }
      if (segment.parameterNames.length > 0) {
        const previous = parameterGradients.get(segment);
        const summed: Record<string, Tensor> = {};
        for (const name of segment.parameterNames) summed[name] = await accumulate(previous?.[name], results[backward.parameterGradients[name]!]!);
        parameterGradients.set(segment, summed);
      }
      // The activations are no longer needed: let them go before the earlier runs' backward.
      run.saved = {};
    }
    this.#runs.length = 0;
    return new TapeGradients(parameterGradients, valueGradients);
  }

  /** a + b through a cached one-node graph per dtype and shape. */
  async #add(left: Tensor, right: Tensor): Promise<Tensor> {
    const key = `razor.add|${left.dtype}|[${left.shape.join(',')}]`;
    const session = await this.cache.session(key, () => additionGraph(left.dtype, left.shape), `gradient sum ${left.dtype} [${left.shape.join(', ')}]`);
    return (await session.run({ a: left, b: right })).sum!;
  }
}

function additionGraph(dtype: DType, shape: readonly number[]): Graph {
  const graph = new Graph('gradient_sum');
  graph.opsetImports.set('', 17);
  graph.inputs.push({ name: 'a', type: { dtype, shape: [...shape] } }, { name: 'b', type: { dtype, shape: [...shape] } });
  graph.addNode({ opType: 'Add', inputs: ['a', 'b'], outputs: ['sum'], name: 'add' });
  graph.outputs.push({ name: 'sum', type: { dtype, shape: [...shape] } });
  return graph;
}

function onesLike(tensor: Tensor): Tensor {
  if (tensor.dtype === 'float32' || tensor.dtype === 'float64') {
    const ones = new Tensor(tensor.dtype, tensor.shape);
    (ones.data as Float32Array | Float64Array).fill(1);
    return ones;
  }
  // float16 and bfloat16 store bit patterns: let Tensor.from encode the ones.
  return Tensor.from(tensor.dtype, tensor.shape, new Array<number>(tensor.size).fill(1));
}

function sameShape(left: readonly number[], right: readonly number[]): boolean {
  return left.length === right.length && left.every((dim, axis) => dim === right[axis]);
}

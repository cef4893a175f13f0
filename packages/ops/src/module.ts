import { ErrorCodes, RazorError, Tensor, fail, isBigIntDType, isFloatDType, isIntegerDType } from '@razor/core';
import type { GraphBuilder } from './graph-builder.js';

/** A state dict: tensors by dotted name, as PyTorch's `state_dict()`. */
export type StateDict = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/** Options of `Module.loadStateDict`. */
export interface LoadStateDictOptions {
  /** Fail when a key is missing or unexpected (default true). Shapes are always checked. */
  strict?: boolean;
}

/** What `loadStateDict` did not match when not strict. */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

const validName = /^[^.\s/]+$/;

/**
 * The base of every layer and model, in the image of `torch.nn.Module`: named float32
 * parameters, named buffers (running statistics), named children registered in order,
 * a training flag, and `forward`, which emits the module's nodes through a GraphBuilder.
 */
export abstract class Module {
  /** True in training mode (BatchNorm uses batch statistics, Dropout drops). */
  training = true;
  #parameters = new Map<string, Tensor<'float32'>>();
  #buffers = new Map<string, Tensor>();
  #children = new Map<string, Module>();

  /**
   * Emits this module's computation on `input` and returns the output value name.
   * Build children with `builder.call(child, value)`.
   */
  abstract forward(builder: GraphBuilder, input: string): string;

  #checkName(name: string, kind: string): void {
    if (!validName.test(name)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name}: ${kind} name '${name}' is empty or contains '.', '/' or spaces`);
    }
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name}: '${name}' is already registered; pick another ${kind} name`);
    }
  }

  /** Registers a float32 parameter under `name`. */
  registerParameter(name: string, tensor: Tensor<'float32'>): Tensor<'float32'> {
    this.#checkName(name, 'parameter');
    if (tensor.dtype !== 'float32') fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name}: parameter '${name}' must be float32, got ${tensor.dtype}`);
    this.#parameters.set(name, tensor);
    return tensor;
  }

  /** Registers a buffer (state that is not trained, such as BatchNorm's running mean). */
  registerBuffer(name: string, tensor: Tensor): Tensor {
    this.#checkName(name, 'buffer');
    this.#buffers.set(name, tensor);
    return tensor;
  }

  /** Registers a child module under `name` (children keep their registration order). */
  addModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name, 'child module');
    if (module === (this as Module)) fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name}: a module cannot be its own child ('${name}')`);
    this.#children.set(name, module);
    return module;
  }

  /** This module's own parameter `name`. */
  getParameter(name: string): Tensor<'float32'> {
    const tensor = this.#parameters.get(name);
    if (tensor === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name} has no parameter '${name}'`);
    return tensor;
  }

  /** True when this module has its own parameter `name`. */
  hasParameter(name: string): boolean {
    return this.#parameters.has(name);
  }

  /** This module's own buffer `name`. */
  getBuffer(name: string): Tensor {
    const tensor = this.#buffers.get(name);
    if (tensor === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name} has no buffer '${name}'`);
    return tensor;
  }

  /** The child registered under `name`. */
  getChild(name: string): Module {
    const child = this.#children.get(name);
    if (child === undefined) fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name} has no child '${name}'; children: ${[...this.#children.keys()].join(', ') || '(none)'}`);
    return child;
  }

  /** The name `child` is registered under, or undefined. */
  childName(child: Module): string | undefined {
    for (const [name, module] of this.#children) if (module === child) return name;
    return undefined;
  }

  /** Direct children with their names, in registration order. */
  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this.#children;
  }

  /** This module and all descendants with dotted names ('' for this one), depth first. */
  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.#children) yield* child.namedModules(prefix === '' ? name : `${prefix}.${name}`);
  }

  /** Every parameter with its dotted name (`layer1.0.conv1.weight`), in PyTorch's order. */
  *namedParameters(prefix = ''): IterableIterator<[string, Tensor<'float32'>]> {
    for (const [name, tensor] of this.#parameters) yield [prefix === '' ? name : `${prefix}.${name}`, tensor];
    for (const [name, child] of this.#children) yield* child.namedParameters(prefix === '' ? name : `${prefix}.${name}`);
  }

  /** Every parameter tensor, in PyTorch's order. */
  *parameters(): IterableIterator<Tensor<'float32'>> {
    for (const [, tensor] of this.namedParameters()) yield tensor;
  }

  /** Every buffer with its dotted name. */
  *namedBuffers(prefix = ''): IterableIterator<[string, Tensor]> {
    for (const [name, tensor] of this.#buffers) yield [prefix === '' ? name : `${prefix}.${name}`, tensor];
    for (const [name, child] of this.#children) yield* child.namedBuffers(prefix === '' ? name : `${prefix}.${name}`);
  }

  /** The number of parameter elements (buffers excluded), as PyTorch counts `sum(p.numel())`. */
  numParameters(): number {
    let count = 0;
    for (const tensor of this.parameters()) count += tensor.size;
    return count;
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, module] of this.namedModules()) module.training = mode;
    return this;
  }

  /** Sets inference mode on this module and every descendant. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's `state_dict()` order (a
   * module's parameters, then its buffers, then its children). The tensors are the
   * module's own, not copies.
   */
  stateDict(): Map<string, Tensor> {
    const state = new Map<string, Tensor>();
    const visit = (module: Module, prefix: string): void => {
      const join = (name: string): string => (prefix === '' ? name : `${prefix}.${name}`);
      for (const [name, tensor] of module.#parameters) state.set(join(name), tensor);
      for (const [name, tensor] of module.#buffers) state.set(join(name), tensor);
      for (const [name, child] of module.#children) visit(child, join(name));
    };
    visit(this, '');
    return state;
  }

  /**
   * Copies tensors into parameters and buffers by name. Every shape is checked before
   * anything is changed (RAZOR_SHAPE_MISMATCH naming the parameter); with `strict`
   * (default), missing or unexpected keys fail too (RAZOR_INVALID_ARGUMENT listing them).
   * Float tensors of any precision load into float32 parameters.
   */
  loadStateDict(state: StateDict, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const entries = state instanceof Map ? (state as ReadonlyMap<string, Tensor>) : new Map(Object.entries(state as Record<string, Tensor>));
    const targets: { name: string; owner: Module; local: string; isBuffer: boolean; tensor: Tensor }[] = [];
    const collect = (module: Module, prefix: string): void => {
      const join = (name: string): string => (prefix === '' ? name : `${prefix}.${name}`);
      for (const [local, tensor] of module.#parameters) targets.push({ name: join(local), owner: module, local, isBuffer: false, tensor });
      for (const [local, tensor] of module.#buffers) targets.push({ name: join(local), owner: module, local, isBuffer: true, tensor });
      for (const [name, child] of module.#children) collect(child, join(name));
    };
    collect(this, '');

    const known = new Set(targets.map((target) => target.name));
    const missingKeys = targets.filter((target) => !entries.has(target.name)).map((target) => target.name);
    const unexpectedKeys = [...entries.keys()].filter((name) => !known.has(name));
    if (options.strict !== false && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts = [];
      if (missingKeys.length > 0) parts.push(`missing keys: ${missingKeys.slice(0, 20).join(', ')}${missingKeys.length > 20 ? `, … (${missingKeys.length} in all)` : ''}`);
      if (unexpectedKeys.length > 0) parts.push(`unexpected keys: ${unexpectedKeys.slice(0, 20).join(', ')}${unexpectedKeys.length > 20 ? `, … (${unexpectedKeys.length} in all)` : ''}`);
      fail(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name}.loadStateDict: the state dict does not match the module (${parts.join('; ')}); pass { strict: false } to load the matching keys only`);
    }

    const updates: { owner: Module; local: string; isBuffer: boolean; tensor: Tensor }[] = [];
    for (const target of targets) {
      const source = entries.get(target.name);
      if (source === undefined) continue;
      const same = source.shape.length === target.tensor.shape.length && source.shape.every((dim, axis) => dim === target.tensor.shape[axis]);
      if (!same) {
        fail(
          ErrorCodes.SHAPE_MISMATCH,
          `${this.constructor.name}.loadStateDict: '${target.name}' has shape [${target.tensor.shape.join(', ')}] in the module but [${source.shape.join(', ')}] in the state dict; check the model options (numClasses, widthMultiplier, inputChannels)`,
        );
      }
      updates.push({ owner: target.owner, local: target.local, isBuffer: target.isBuffer, tensor: convertFor(target.name, target.tensor, source) });
    }
    for (const update of updates) {
      if (update.isBuffer) update.owner.#buffers.set(update.local, update.tensor);
      else update.owner.#parameters.set(update.local, update.tensor as Tensor<'float32'>);
    }
    return { missingKeys, unexpectedKeys };
  }
}

/** A copy of `source` in the dtype of `target`, or a RazorError when the kinds differ. */
function convertFor(name: string, target: Tensor, source: Tensor): Tensor {
  if (source.dtype === target.dtype) return source.clone();
  if (target.dtype === 'float32' && (isFloatDType(source.dtype) || isIntegerDType(source.dtype))) {
    return new Tensor('float32', source.shape, source.toFloat32());
  }
  if (isBigIntDType(target.dtype) && isIntegerDType(source.dtype)) {
    return Tensor.from(target.dtype, source.shape, isBigIntDType(source.dtype) ? (source.data as BigInt64Array) : source.toNumbers());
  }
  throw new RazorError(
    ErrorCodes.INVALID_ARGUMENT,
    `loadStateDict: '${name}' is ${source.dtype} in the state dict but the module holds ${target.dtype}; convert it before loading`,
  );
}

import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';

/** Children named '0', '1', … applied in order, as `torch.nn.Sequential`. */
export class Sequential extends Module {
  readonly #layers: Module[] = [];

  constructor(...layers: Module[]) {
    super();
    for (const layer of layers) this.append(layer);
  }

  /** Adds a layer at the end, named by its position. */
  append(layer: Module): this {
    this.addModule(String(this.#layers.length), layer);
    this.#layers.push(layer);
    return this;
  }

  /** The number of layers. */
  get length(): number {
    return this.#layers.length;
  }

  /** The layer at `index`. */
  at(index: number): Module | undefined {
    return this.#layers[index];
  }

  forward(builder: GraphBuilder, input: string): string {
    let value = input;
    for (const layer of this.#layers) value = builder.call(layer, value);
    return value;
  }
}

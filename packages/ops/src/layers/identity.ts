import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';

/** Passes its input through; emits nothing. */
export class Identity extends Module {
  forward(_builder: GraphBuilder, input: string): string {
    return input;
  }
}

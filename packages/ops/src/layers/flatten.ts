import type { Dim } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';

/**
 * Flattens every axis from 1 on into one: [N, C, H, W] → [N, C·H·W], as
 * `torch.flatten(x, 1)` (PyTorch's nn.Flatten defaults): ONNX Flatten with axis 1.
 */
export class Flatten extends Module {
  forward(builder: GraphBuilder, input: string): string {
    const shape = builder.shape(input);
    let outputShape: Dim[] | undefined;
    if (shape !== undefined) {
      const rest = shape.slice(1);
      const size = rest.every((dim): dim is number => typeof dim === 'number') ? rest.reduce((product, dim) => product * dim, 1) : null;
      outputShape = [shape[0] ?? null, size];
    }
    return builder.emit1('Flatten', [input], { attributes: { axis: 1 }, outputShapes: [outputShape] });
  }
}

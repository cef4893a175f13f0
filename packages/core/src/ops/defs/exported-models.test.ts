import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readOnnx } from '../../onnx/onnx-reader.js';
import { inferShapes } from '../../passes/infer-shapes.js';

interface ManifestModel {
  name: string;
  model: string;
  compressed: boolean;
  outputs: { name: string; dtype: string; shape: number[] }[];
  inputs: { name: string; shape: number[] }[];
}

const models = new URL('../../__fixtures__/models/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', models), 'utf8')) as { models: ManifestModel[] };

// Models whose ops are the NN, elementwise and quantization rules (plus Flatten).
const covered = [
  'small-cnn-bn-preserved',
  'small-cnn-bn-fused',
  'residual-block',
  'inverted-residual',
  'inverted-residual-opset11',
  'conv-variants',
  'activations',
  'activations-opset11',
  'matrix-reduce',
  'matrix-reduce-opset13',
];

describe('rules on models exported by PyTorch', () => {
  for (const name of covered) {
    it(`infers the output shapes PyTorch produced for ${name}`, () => {
      const entry = manifest.models.find((model) => model.name === name)!;
      const graph = readOnnx(new Uint8Array(readFileSync(new URL(entry.model, models))));
      // Forget every declared type but the inputs', so the outputs come from the rules alone.
      graph.valueInfo.clear();
      for (const output of graph.outputs) delete output.type;
      const inputShapes = Object.fromEntries(entry.inputs.map((input) => [input.name, input.shape]));
      inferShapes(graph, { inputShapes });
      for (const output of entry.outputs) {
        expect(graph.typeOf(output.name), `${name}: ${output.name}`).toEqual({ dtype: output.dtype === 'bool' ? 'bool' : output.dtype, shape: output.shape });
      }
    });
  }
});

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ErrorCodes, errorMessage, fail } from '../errors.js';
import type { Tensor } from '../ir/tensor.js';
import { decodeTensorProto } from '../io/tensor-file.js';

/** One input or output of a fixture model, as manifest.json lists it. */
export interface ModelFixtureValue {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
}

/** One entry of `__fixtures__/models/manifest.json`. */
export interface ModelFixture {
  name: string;
  /** The model file, `.onnx` or gzip-compressed `.onnx.gz`. */
  model: string;
  opset: number;
  /** True when the model and its tensors are gzip-compressed. */
  compressed: boolean;
  /** What the fixture exercises, in words. */
  covers: string;
  /** Operator types in the model, including If/Loop bodies. */
  opTypes: string[];
  /** Elements across all initializers. */
  initializerElements: number;
  /** Parameters of the PyTorch module it was exported from. */
  torchParameters: number;
  /** BatchNorm running statistics of the PyTorch module. */
  torchRunningStatistics: number;
  inputs: ModelFixtureValue[];
  outputs: ModelFixtureValue[];
  files: string[];
}

/** A fixture with its bytes and tensors loaded. */
export interface LoadedModelFixture {
  fixture: ModelFixture;
  modelBytes: Uint8Array;
  inputs: Record<string, Tensor>;
  /** The outputs PyTorch computed for `inputs`. */
  expectedOutputs: Record<string, Tensor>;
}

/**
 * The folder of core's model fixtures when running from source (`src/__fixtures__/models`);
 * undefined in a published build, which does not ship them.
 */
export function defaultModelFixturesDirectory(): string | undefined {
  const directory = join(dirname(fileURLToPath(import.meta.url)), '..', '__fixtures__', 'models');
  return existsSync(join(directory, 'manifest.json')) ? directory : undefined;
}

/** The fixture models listed in `directory`'s manifest.json. */
export function listModelFixtures(directory: string): ModelFixture[] {
  const path = join(directory, 'manifest.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return fail(ErrorCodes.FILE_NOT_FOUND, `cannot read the model fixture manifest ${path}: ${errorMessage(error)}`, error);
  }
  return (JSON.parse(text) as { models: ModelFixture[] }).models;
}

function readFixtureFile(directory: string, file: string, compressed: boolean): Uint8Array {
  const path = join(directory, file);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    return fail(ErrorCodes.FILE_NOT_FOUND, `cannot read model fixture file ${path}: ${errorMessage(error)}`, error);
  }
  return compressed ? gunzipSync(bytes) : bytes;
}

/** Reads a fixture's model bytes, inputs and PyTorch outputs. */
export function loadModelFixture(directory: string, fixture: ModelFixture): LoadedModelFixture {
  const tensors = (values: ModelFixtureValue[]): Record<string, Tensor> => {
    const result: Record<string, Tensor> = {};
    for (const value of values) {
      result[value.name] = decodeTensorProto(readFixtureFile(directory, value.file, fixture.compressed), value.file).tensor;
    }
    return result;
  };
  return {
    fixture,
    modelBytes: readFixtureFile(directory, fixture.model, fixture.compressed),
    inputs: tensors(fixture.inputs),
    expectedOutputs: tensors(fixture.outputs),
  };
}

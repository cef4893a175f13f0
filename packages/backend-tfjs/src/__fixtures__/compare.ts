/**
 * Differential testing against onnxruntime: a graph runs on onnxruntime-node and on the tfjs
 * backend's engines, and every output must agree in dtype, shape and values.
 */
import { Graph, Tensor, inferShapes, type AttributeInput, type DType } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { expect } from 'vitest';
import { createTfjsBackend } from '../tfjs-backend.js';

export const onnxruntime = createOnnxruntimeBackend();
export const tfjsBackend = createTfjsBackend();

export interface Tolerance {
  absolute: number;
  relative: number;
}

export interface CompareOptions {
  /** tfjs engines to run on. Default: cpu and wasm. */
  engines?: readonly string[];
  /** Default 1e-5 absolute, 1e-4 relative. */
  tolerance?: Partial<Tolerance>;
  fetches?: readonly string[];
}

/** Runs `graph` on onnxruntime (reference) and on each tfjs engine; asserts they agree. Returns onnxruntime's outputs. */
export async function expectMatchesOnnxruntime(graph: Graph, feeds: Record<string, Tensor>, options: CompareOptions = {}): Promise<Record<string, Tensor>> {
  const tolerance = { absolute: 1e-5, relative: 1e-4, ...options.tolerance };
  const reference = await onnxruntime.createSession(graph, { graphOptimizationLevel: 'disabled' });
  const expected = await reference.run(feeds, options.fetches);
  await reference.release();
  for (const engine of options.engines ?? ['cpu', 'wasm']) {
    const session = await tfjsBackend.createSession(graph, { executionProviders: [engine] });
    const actual = await session.run(feeds, options.fetches);
    await session.release();
    for (const [name, want] of Object.entries(expected)) {
      const got = actual[name]!;
      const where = `${graph.name} output '${name}' on tfjs ${engine}`;
      expect(got, where).toBeDefined();
      expect(got.dtype, where).toBe(want.dtype);
      expect([...got.shape], where).toEqual([...want.shape]);
      if (want.dtype === 'string') {
        expect(got.data, where).toEqual(want.data);
        continue;
      }
      const wantValues = want.toFloat32();
      const gotValues = got.toFloat32();
      let worst = -1;
      let worstExcess = 0;
      for (let index = 0; index < wantValues.length; index++) {
        const allowed = tolerance.absolute + tolerance.relative * Math.abs(wantValues[index]!);
        const difference = Math.abs(gotValues[index]! - wantValues[index]!);
        const bad = Number.isNaN(wantValues[index]!) ? !Number.isNaN(gotValues[index]!) : !(gotValues[index] === wantValues[index] || difference <= allowed);
        if (bad && (worst < 0 || difference - allowed > worstExcess)) {
          worst = index;
          worstExcess = difference - allowed;
        }
      }
      if (worst >= 0) expect.fail(`${where}: element ${worst} is ${gotValues[worst]}, onnxruntime gives ${wantValues[worst]} (tolerance ${tolerance.absolute} + ${tolerance.relative}·|x|)`);
    }
  }
  return expected;
}

/** An input of a single-node graph: fed at run time, or an initializer. */
export type OpInput = Tensor | { initializer: Tensor } | undefined;

/**
 * A graph of one node with inputs x0, x1, ... (undefined: omitted optional input) and outputs
 * y0, y1, ...; returns the graph and its run-time feeds.
 */
export function singleOp(
  opType: string,
  inputs: readonly OpInput[],
  attributes: Record<string, AttributeInput> = {},
  options: { outputs?: number; opset?: number; domain?: string } = {},
): { graph: Graph; feeds: Record<string, Tensor> } {
  const graph = new Graph(`${opType.toLowerCase()}_test`);
  graph.opsetImports = new Map([['', options.opset ?? 17]]);
  if (options.domain) graph.opsetImports.set(options.domain, 1);
  const feeds: Record<string, Tensor> = {};
  const names = inputs.map((input, index) => {
    if (input === undefined) return '';
    const name = `x${index}`;
    if (input instanceof Tensor) {
      graph.inputs.push({ name, type: { dtype: input.dtype, shape: [...input.shape] } });
      feeds[name] = input;
    } else graph.addInitializer(name, input.initializer);
    return name;
  });
  const outputs = Array.from({ length: options.outputs ?? 1 }, (_, index) => `y${index}`);
  graph.addNode({ opType, inputs: names, outputs, attributes, ...(options.domain ? { domain: options.domain } : {}) });
  for (const output of outputs) graph.outputs.push({ name: output });
  inferShapes(graph);
  return { graph, feeds };
}

/** Seeded values in [-scale, scale) (a small LCG: the same on every machine). */
export function seeded(shape: readonly number[], seed: number, scale = 1, dtype: DType = 'float32'): Tensor {
  let state = (seed * 2654435761) >>> 0 || 1;
  const size = shape.reduce((product, dim) => product * dim, 1);
  const values: number[] = [];
  for (let index = 0; index < size; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const unit = state / 4294967296;
    values.push(dtype === 'float32' ? (unit * 2 - 1) * scale : Math.floor((unit * 2 - 1) * scale));
  }
  return Tensor.from(dtype, shape, dtype === 'int64' ? values.map((entry) => BigInt(entry)) : values);
}

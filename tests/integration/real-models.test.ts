// Real models end to end on onnxruntime: every PyTorch-exported fixture and every zoo
// model. Shape inference must agree with the shapes onnxruntime actually produces at every
// value, and a load/save round trip must leave onnxruntime's outputs bit-identical.
import { Graph, Tensor, inferShapes, readOnnx, toBytes, writeOnnx, type Dim } from '@razor/core';
import { defaultModelFixturesDirectory, listModelFixtures, loadModelFixture } from '@razor/core/testing';
import { createModel, listModels, toGraph } from '@razor/ops';
import { describe, expect, it } from 'vitest';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';

const backend = createOnnxruntimeBackend();
const fixturesDirectory = defaultModelFixturesDirectory()!;

/** A copy of `graph` whose outputs are every value its top-level nodes produce. */
function exposeEveryValue(graph: Graph): { graph: Graph; names: string[] } {
  const copy = graph.clone();
  const names: string[] = [];
  const declared = new Set(copy.outputs.map((output) => output.name));
  for (const node of copy.nodes) {
    for (const output of node.outputs) {
      if (output === '' || declared.has(output)) continue;
      declared.add(output);
      names.push(output);
      const dtype = copy.typeOf(output)?.dtype;
      copy.outputs.push(dtype ? { name: output, type: { dtype } } : { name: output });
    }
  }
  return { graph: copy, names: [...names, ...graph.outputs.map((output) => output.name)] };
}

/** Checks inferred shapes against actual ones; symbolic dims must bind consistently. */
function compareShapes(inferred: Graph, actual: Record<string, Tensor>, names: string[]): string[] {
  const problems: string[] = [];
  const bindings = new Map<string, number>();
  for (const name of names) {
    const tensor = actual[name];
    if (!tensor) continue;
    const type = inferred.typeOf(name);
    if (!type?.shape) {
      problems.push(`${name}: no inferred shape (actual [${tensor.shape.join(', ')}])`);
      continue;
    }
    if (type.dtype !== tensor.dtype) problems.push(`${name}: inferred ${type.dtype}, actual ${tensor.dtype}`);
    if (type.shape.length !== tensor.shape.length) {
      problems.push(`${name}: inferred rank ${type.shape.length} [${type.shape.join(', ')}], actual [${tensor.shape.join(', ')}]`);
      continue;
    }
    type.shape.forEach((dim: Dim, axis) => {
      const size = tensor.shape[axis]!;
      if (typeof dim === 'number') {
        if (dim !== size) problems.push(`${name}: axis ${axis} inferred ${dim}, actual ${size}`);
      } else if (typeof dim === 'string') {
        const bound = bindings.get(dim);
        if (bound === undefined) bindings.set(dim, size);
        else if (bound !== size) problems.push(`${name}: symbol '${dim}' is ${bound} elsewhere but ${size} here`);
      } else {
        problems.push(`${name}: axis ${axis} unknown after inference`);
      }
    });
  }
  return problems;
}

/** The graph with every type that inference could produce removed, so inference has to produce it. */
function withoutDeclaredTypes(graph: Graph): Graph {
  const copy = graph.clone();
  copy.valueInfo.clear();
  for (const output of copy.outputs) delete output.type;
  return copy;
}

async function runAll(graph: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await backend.createSession(graph, { threads: 1, graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function expectBitIdentical(left: Record<string, Tensor>, right: Record<string, Tensor>): void {
  expect(Object.keys(right).sort()).toEqual(Object.keys(left).sort());
  for (const [name, tensor] of Object.entries(left)) {
    const other = right[name]!;
    expect(other.shape, name).toEqual(tensor.shape);
    expect(other.dtype, name).toBe(tensor.dtype);
    const bytes = (value: Tensor): Buffer => Buffer.from(toBytes(value.data as Float32Array));
    expect(bytes(other).equals(bytes(tensor)), `${name} differs after the round trip`).toBe(true);
  }
}

describe('PyTorch-exported fixtures on onnxruntime', () => {
  const fixtures = listModelFixtures(fixturesDirectory);
  it('there are fixtures to check', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
  });

  it.each(fixtures.map((fixture) => [fixture.name, fixture] as const))('%s: inferred shapes match onnxruntime at every value', async (_name, fixture) => {
    const loaded = loadModelFixture(fixturesDirectory, fixture);
    const graph = readOnnx(loaded.modelBytes);
    const inferred = withoutDeclaredTypes(graph);
    inferShapes(inferred);
    const exposed = exposeEveryValue(inferred);
    const actual = await runAll(exposed.graph, loaded.inputs);
    expect(compareShapes(inferred, actual, exposed.names)).toEqual([]);
  });

  it.each(fixtures.map((fixture) => [fixture.name, fixture] as const))('%s: load, save, load leaves the outputs bit-identical', async (_name, fixture) => {
    const loaded = loadModelFixture(fixturesDirectory, fixture);
    const original = await runAll(readOnnx(loaded.modelBytes), loaded.inputs);
    const reloaded = readOnnx(writeOnnx(readOnnx(loaded.modelBytes)));
    expectBitIdentical(original, await runAll(reloaded, loaded.inputs));
  });
});

describe('zoo models on onnxruntime', () => {
  // Small inputs keep the suite fast; the architecture is the same at any input size.
  const inputSizes: Record<string, number> = { lenet5: 28, resnet20: 32, resnet56: 32 };
  it.each(listModels())('%s: runs, and inferred shapes match onnxruntime at every value', async (name) => {
    const model = createModel(name, { inputSize: inputSizes[name] ?? 64, seed: 1 });
    const graph = toGraph(model, { batch: 'N' });
    const values = Float32Array.from({ length: 2 * model.inputShape.reduce((a, b) => a * b, 1) }, (_, index) => Math.sin(index));
    const input = { input: new Tensor('float32', [2, ...model.inputShape], values) };
    const inferred = withoutDeclaredTypes(graph);
    inferShapes(inferred);
    const exposed = exposeEveryValue(inferred);
    const actual = await runAll(exposed.graph, input);
    expect(compareShapes(inferred, actual, exposed.names)).toEqual([]);
    const output = actual.output!;
    expect(output.shape).toEqual([2, model.numClasses]);
    expect(Array.from(output.data as Float32Array).every(Number.isFinite)).toBe(true);
    expectBitIdentical(await runAll(graph, input), await runAll(readOnnx(writeOnnx(graph)), input));
  });
});

import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { float32ToFloat16 } from '../ir/dtype.js';
import { Graph, attr, getAttribute } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { loadOnnx, readOnnx } from './onnx-reader.js';
import { encodeModel, saveOnnx, writeOnnx } from './onnx-writer.js';
import {
  AttributeProto_AttributeType as AttributeType,
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
} from './proto/onnx_pb.js';
import { catchRazorError as razorErrorOf, rejectionOf as razorErrorOfAsync } from '../testing/razor-errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '__fixtures__');
const scratch = mkdtempSync(join(tmpdir(), 'razor-onnx-writer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A small model written with the builder API, not read from a file. */
function builtGraph(): Graph {
  const graph = new Graph('built');
  graph.opsetImports = new Map([['', 13]]);
  graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 3, null] } });
  graph.addInitializer('weight', Tensor.float32([2, 3], [1, -2, 0.5, 3, 4.25, -6]));
  graph.addInitializer('steps', Tensor.int64([1, -2, 3]));
  graph.addInitializer('half', Tensor.from('float16', [2], [1.5, -0.25]));
  graph.addInitializer('labels', Tensor.from('string', [2], ['a', 'ü']));
  const matmul = graph.addNode({ opType: 'MatMul', inputs: ['x', 'weight'], outputs: ['y'], name: 'matmul' });
  graph.addNode({
    opType: 'Clip',
    inputs: ['y'],
    outputs: ['z'],
    name: 'clip',
    attributes: { count: 3, ratio: attr.float(2), modes: ['a', 'b'], sizes: [1, 2], huge: 2 ** 70, tiny: -(2 ** 70) },
  });
  graph.outputs.push({ name: 'z', type: { dtype: 'float32' } });
  graph.model.producerName = 'razor-test';
  graph.model.metadata.set('key', 'value');
  expect(matmul.outputs).toEqual(['y']);
  return graph;
}

describe('writeOnnx', () => {
  it('writes a built graph as the ModelProto ONNX tools expect', () => {
    const model = fromBinary(ModelProtoSchema, writeOnnx(builtGraph()));
    expect(model.irVersion).toBe(8n);
    expect(model.producerName).toBe('razor-test');
    expect(model.opsetImport.map((opset) => [opset.domain, opset.version])).toEqual([['', 13n]]);
    expect(model.metadataProps.map((entry) => [entry.key, entry.value])).toEqual([['key', 'value']]);
    const graph = model.graph!;
    const dims = graph.input[0]?.type?.value.case === 'tensorType' ? graph.input[0].type.value.value.shape?.dim : undefined;
    expect(dims?.map((dim) => dim.value)).toEqual([
      { case: 'dimParam', value: 'batch' },
      { case: 'dimValue', value: 3n },
      { case: undefined },
    ]);
    const output = graph.output[0]?.type?.value;
    expect(output?.case === 'tensorType' && output.value.shape).toBeUndefined();

    const byName = new Map(graph.initializer.map((tensor) => [tensor.name, tensor]));
    const weight = byName.get('weight')!;
    expect(weight.dims).toEqual([2n, 3n]);
    expect(weight.dataType).toBe(DataType.FLOAT);
    expect(weight.floatData).toEqual([]);
    // Little-endian float32: 1.0 is 00 00 80 3f.
    expect(Array.from(weight.rawData.subarray(0, 4))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    expect(Array.from(new Float32Array(weight.rawData.slice().buffer))).toEqual([1, -2, 0.5, 3, 4.25, -6]);
    expect(Array.from(new BigInt64Array(byName.get('steps')!.rawData.slice().buffer))).toEqual([1n, -2n, 3n]);
    expect(Array.from(new Uint16Array(byName.get('half')!.rawData.slice().buffer))).toEqual([float32ToFloat16(1.5), float32ToFloat16(-0.25)]);
    const labels = byName.get('labels')!;
    expect(isFieldSet(labels, TensorProtoSchema.field.rawData)).toBe(false);
    expect(labels.stringData.map((bytes) => new TextDecoder().decode(bytes))).toEqual(['a', 'ü']);

    const clip = graph.node[1]!;
    const attributes = new Map(clip.attribute.map((attribute) => [attribute.name, attribute]));
    expect(attributes.get('count')).toMatchObject({ type: AttributeType.INT, i: 3n });
    expect(attributes.get('ratio')).toMatchObject({ type: AttributeType.FLOAT, f: 2 });
    expect(attributes.get('modes')?.type).toBe(AttributeType.STRINGS);
    expect(attributes.get('sizes')).toMatchObject({ type: AttributeType.INTS, ints: [1n, 2n] });
    // Beyond int64: clamped to the extremes.
    expect(attributes.get('huge')?.i).toBe(9223372036854775807n);
    expect(attributes.get('tiny')?.i).toBe(-9223372036854775808n);
  });

  it('reads back what it wrote', () => {
    const graph = builtGraph();
    const reread = readOnnx(writeOnnx(graph));
    expect(reread.nodes.map((node) => [node.name, node.opType, node.inputs, node.outputs])).toEqual([
      ['matmul', 'MatMul', ['x', 'weight'], ['y']],
      ['clip', 'Clip', ['y'], ['z']],
    ]);
    expect(getAttribute(reread.node('clip')!, 'ratio', 'float')).toBe(2);
    expect(getAttribute(reread.node('clip')!, 'modes', 'strings')).toEqual(['a', 'b']);
    expect(reread.initializers.get('weight')?.toNumbers()).toEqual([1, -2, 0.5, 3, 4.25, -6]);
    expect(reread.initializers.get('half')?.toNumbers()).toEqual([1.5, -0.25]);
    expect(reread.initializers.get('labels')?.data).toEqual(['a', 'ü']);
    expect(reread.inputs).toEqual(graph.inputs);
  });

  it('writes an edited type instead of the original TypeProto it replaced', () => {
    const graph = readOnnx(readFileSync(join(fixtures, 'features.onnx')));
    const input = graph.inputs[0]!;
    const unchanged = fromBinary(ModelProtoSchema, writeOnnx(graph)).graph!.input[0]!.type!;
    expect(unchanged.denotation).toBe('TENSOR');
    input.type = { dtype: 'float32', shape: [8, 4] };
    const edited = fromBinary(ModelProtoSchema, writeOnnx(graph)).graph!.input[0]!.type!;
    expect(edited.denotation).toBe('');
    expect(edited.value.case === 'tensorType' && edited.value.value.shape?.dim.map((dim) => dim.value.value)).toEqual([8n, 4n]);
    // The doc string of the value is still there.
    expect(fromBinary(ModelProtoSchema, writeOnnx(graph)).graph!.input[0]!.docString).toBe('the input');
  });

  it('refuses a model over the protobuf limit and suggests external data', () => {
    const graph = builtGraph();
    graph.addInitializer('big', new Tensor('float32', [1000]));
    const error = razorErrorOf(() => encodeModel(graph, undefined, 3000));
    expect(error.code).toBe(ErrorCodes.WRITE_FAILED);
    expect(error.message).toContain('externalData: true');
    // With external data the same graph fits.
    const encoded = encodeModel(graph, { location: 'm.data', threshold: 1024 }, 3000);
    expect(encoded.externalData?.byteLength).toBe(4000);
    expect(encoded.model.byteLength).toBeLessThan(3000);
  });

  it('does not copy tensor data while encoding: raw_data chunks are views of the tensors', () => {
    const graph = builtGraph();
    const big = new Tensor('float32', [4096]);
    graph.addInitializer('big', big);
    const encoded = encodeModel(graph);
    expect(encoded.model.chunks.some((chunk) => chunk.buffer === big.data.buffer)).toBe(true);
  });
});

describe('saveOnnx', () => {
  it('writes through a temporary file and leaves only the model', async () => {
    const directory = join(scratch, 'plain');
    mkdirSync(directory);
    const target = join(directory, 'model.onnx');
    writeFileSync(target, 'an older file');
    await saveOnnx(builtGraph(), target);
    expect(readdirSync(directory)).toEqual(['model.onnx']);
    expect((await loadOnnx(target)).initializers.get('steps')?.data).toEqual(BigInt64Array.from([1n, -2n, 3n]));
  });

  it('fails with RAZOR_WRITE_FAILED naming the path when the directory does not exist', async () => {
    const target = join(scratch, 'no-such-directory', 'model.onnx');
    const error = await razorErrorOfAsync(() => saveOnnx(builtGraph(), target));
    expect(error.code).toBe(ErrorCodes.WRITE_FAILED);
    expect(error.message).toContain(target);
  });

  it('leaves no temporary files behind when the save fails', async () => {
    const directory = join(scratch, 'blocked');
    mkdirSync(directory);
    // The data file name is taken by a directory: the rename of the data file fails.
    mkdirSync(join(directory, 'model.onnx.data'));
    mkdirSync(join(directory, 'model.onnx.data', 'inside'));
    const graph = builtGraph();
    graph.addInitializer('big', new Tensor('float32', [1024]));
    const error = await razorErrorOfAsync(() => saveOnnx(graph, join(directory, 'model.onnx'), { externalData: true }));
    expect(error.code).toBe(ErrorCodes.WRITE_FAILED);
    expect(readdirSync(directory)).toEqual(['model.onnx.data']);
  });

  it('puts initializers of at least 1024 bytes into <model>.data by default, aligned', async () => {
    const directory = join(scratch, 'external');
    mkdirSync(directory);
    const graph = builtGraph();
    const first = Tensor.float32([300], Float32Array.from({ length: 300 }, (_, index) => index / 7));
    const second = Tensor.float32([260], Float32Array.from({ length: 260 }, (_, index) => -index));
    graph.addInitializer('first', first);
    graph.addInitializer('second', second);
    const target = join(directory, 'model.onnx');
    await saveOnnx(graph, target, { externalData: true });
    expect(readdirSync(directory).sort()).toEqual(['model.onnx', 'model.onnx.data']);
    const model = fromBinary(ModelProtoSchema, readFileSync(target));
    const external = model.graph!.initializer.filter((tensor) => tensor.dataLocation === TensorProto_DataLocation.EXTERNAL);
    expect(external.map((tensor) => [tensor.name, tensor.externalData.map((entry) => entry.value)])).toEqual([
      ['first', ['model.onnx.data', '0', '1200']],
      ['second', ['model.onnx.data', '1216', '1040']],
    ]);
    expect(readFileSync(join(directory, 'model.onnx.data')).byteLength).toBe(1216 + 1040);
    const loaded = await loadOnnx(target);
    expect(loaded.initializers.get('first')?.data).toEqual(first.data);
    expect(loaded.initializers.get('second')?.data).toEqual(second.data);
    expect(loaded.initializers.get('weight')?.toNumbers()).toEqual([1, -2, 0.5, 3, 4.25, -6]);
  });

  it('accepts a location and threshold, and refuses locations outside the directory', async () => {
    const directory = join(scratch, 'custom');
    mkdirSync(directory);
    const target = join(directory, 'model.onnx');
    await saveOnnx(builtGraph(), target, { externalData: { threshold: 16, location: 'weights.bin' } });
    const model = fromBinary(ModelProtoSchema, readFileSync(target));
    expect(model.graph!.initializer.filter((tensor) => tensor.externalData.length > 0).map((tensor) => tensor.name)).toEqual([
      'weight',
      'steps',
    ]);
    expect(readdirSync(directory).sort()).toEqual(['model.onnx', 'weights.bin']);
    for (const location of ['../weights.bin', '/tmp/weights.bin', '']) {
      const error = await razorErrorOfAsync(() => saveOnnx(builtGraph(), target, { externalData: { location } }));
      expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
  });
});

import { clearField, createRegistry, equals, fromBinary, isFieldSet, toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { AttributeValue, Graph } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { loadOnnx, readOnnx } from './onnx-reader.js';
import { saveOnnx, writeOnnx } from './onnx-writer.js';
import {
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
  type ModelProto,
  type TensorProto,
} from './proto/onnx_pb.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '__fixtures__');
const torchModels = join(here, '..', '__fixtures__', 'models');
const registry = createRegistry();
const scratch = mkdtempSync(join(tmpdir(), 'razor-onnx-round-trip-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// IR comparison: tensors by value, everything else (passthrough messages included) as is.

function tensorSnapshot(tensor: Tensor): unknown {
  const data = tensor.data;
  // Large tensors by digest: a deep comparison of millions of elements would take minutes.
  const values =
    Array.isArray(data) || data.length <= 64
      ? Array.from(data as ArrayLike<unknown>)
      : createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
  return { dtype: tensor.dtype, shape: [...tensor.shape], values };
}

function attributeSnapshot(attribute: AttributeValue): unknown {
  switch (attribute.type) {
    case 'tensor':
      return { type: 'tensor', value: tensorSnapshot(attribute.value) };
    case 'tensors':
      return { type: 'tensors', value: attribute.value.map(tensorSnapshot) };
    case 'graph':
      return { type: 'graph', value: graphSnapshot(attribute.value) };
    case 'graphs':
      return { type: 'graphs', value: attribute.value.map(graphSnapshot) };
    default:
      return attribute;
  }
}

function graphSnapshot(graph: Graph): unknown {
  return {
    name: graph.name,
    docString: graph.docString,
    opsetImports: [...graph.opsetImports],
    model: graph.model,
    passthrough: graph.passthrough,
    inputs: graph.inputs,
    outputs: graph.outputs,
    valueInfo: [...graph.valueInfo],
    initializers: [...graph.initializers].map(([name, tensor]) => [name, tensorSnapshot(tensor)]),
    initializerPassthrough: [...graph.initializerPassthrough],
    nodes: graph.nodes.map((node) => ({
      ...node,
      attributes: [...node.attributes].map(([name, value]) => [name, attributeSnapshot(value)]),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Protobuf comparison. razor writes every numeric tensor as raw_data (little-endian), while
// exporters also use float_data, int32_data, int64_data, double_data and uint64_data, and the
// original may keep data in an external file: both sides are normalised to raw_data before
// comparing. Scalars that are set to their default value ("" or 0) are cleared, because proto2
// records presence and exporters differ on whether they write an empty domain or doc string.

function typedFieldBytes(tensor: TensorProto): Uint8Array | undefined {
  const bytesOf = (array: ArrayBufferView): Uint8Array => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  switch (tensor.dataType) {
    case DataType.FLOAT:
      return bytesOf(Float32Array.from(tensor.floatData));
    case DataType.DOUBLE:
      return bytesOf(Float64Array.from(tensor.doubleData));
    case DataType.INT64:
      return bytesOf(BigInt64Array.from(tensor.int64Data));
    case DataType.UINT64:
      return bytesOf(BigUint64Array.from(tensor.uint64Data));
    case DataType.UINT32:
      return bytesOf(Uint32Array.from(tensor.uint64Data, Number));
    case DataType.INT32:
      return bytesOf(Int32Array.from(tensor.int32Data));
    case DataType.INT16:
      return bytesOf(Int16Array.from(tensor.int32Data));
    case DataType.INT8:
      return bytesOf(Int8Array.from(tensor.int32Data));
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return bytesOf(Uint16Array.from(tensor.int32Data));
    case DataType.UINT8:
    case DataType.BOOL:
      return bytesOf(Uint8Array.from(tensor.int32Data));
    default:
      return undefined;
  }
}

function normalizeTensor(tensor: TensorProto, baseDir: string | undefined): void {
  if (tensor.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    const entry = (key: string) => tensor.externalData.find((item) => item.key === key)?.value;
    const file = readFileSync(join(baseDir!, entry('location')!));
    const offset = Number(entry('offset') ?? 0);
    tensor.rawData = file.subarray(offset, offset + Number(entry('length') ?? file.byteLength - offset));
    tensor.externalData = [];
    clearField(tensor, TensorProtoSchema.field.dataLocation);
  }
  if (isFieldSet(tensor, TensorProtoSchema.field.rawData)) return;
  const bytes = typedFieldBytes(tensor);
  if (bytes === undefined) return;
  tensor.rawData = bytes;
  tensor.floatData = [];
  tensor.doubleData = [];
  tensor.int32Data = [];
  tensor.int64Data = [];
  tensor.uint64Data = [];
}

function isDefault(value: unknown): boolean {
  return value === '' || value === 0 || value === 0n || value === false || (value instanceof Uint8Array && value.byteLength === 0);
}

function normalizeReflected(message: ReflectMessage, baseDir: string | undefined): void {
  if (message.desc.typeName === TensorProtoSchema.typeName) normalizeTensor(message.message as TensorProto, baseDir);
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    if ((field.fieldKind === 'scalar' || field.fieldKind === 'enum') && field.oneof === undefined && isDefault(message.get(field))) {
      message.clear(field);
    } else if (field.fieldKind === 'message') {
      normalizeReflected(message.get(field) as ReflectMessage, baseDir);
    } else if (field.fieldKind === 'list' && field.listKind === 'message') {
      for (const item of message.get(field) as Iterable<ReflectMessage>) normalizeReflected(item, baseDir);
    }
  }
}

function decodeNormalized(bytes: Uint8Array, baseDir?: string): ModelProto {
  const model = fromBinary(ModelProtoSchema, bytes);
  normalizeReflected(reflect(ModelProtoSchema, model), baseDir);
  return model;
}

function expectSameMessage<Desc extends DescMessage>(schema: Desc, actual: MessageShape<Desc>, expected: MessageShape<Desc>): void {
  // `equals` also compares unknown fields. JSON only when they differ, for a readable
  // difference: it base64-encodes every tensor and takes seconds on a large model.
  const same = equals(schema, actual, expected, { registry, unknown: true });
  if (!same) expect(toJson(schema, actual)).toEqual(toJson(schema, expected));
  expect(same).toBe(true);
}

function expectRoundTrip(original: Uint8Array, options: { path?: string; baseDir?: string } = {}): Graph {
  const graph = readOnnx(original, options);
  const written = writeOnnx(graph);
  const reread = readOnnx(written);
  expect(graphSnapshot(reread)).toEqual(graphSnapshot(graph));
  const baseDir = options.baseDir ?? (options.path === undefined ? undefined : dirname(options.path));
  expectSameMessage(ModelProtoSchema, decodeNormalized(written), decodeNormalized(original, baseDir));
  // A second write of the re-read graph gives the same bytes: nothing drifts.
  expect(Buffer.from(writeOnnx(reread)).equals(Buffer.from(written))).toBe(true);
  return graph;
}

describe('ONNX round trip (read, write, read)', () => {
  it('keeps every feature of the features fixture, down to unknown fields', () => {
    const path = join(fixtures, 'features.onnx');
    const original = readFileSync(path);
    const graph = expectRoundTrip(original, { path });

    // The normaliser must not hide real differences: the unknown fields are really there.
    const written = fromBinary(ModelProtoSchema, writeOnnx(graph));
    expect(written.$unknown?.map((field) => field.no)).toEqual([1000, 1001]);
    expect(written.graph?.$unknown?.map((field) => field.no)).toEqual([99]);
    const mystery = written.graph?.node.find((node) => node.name === 'mystery');
    expect(mystery?.$unknown?.map((field) => field.no)).toEqual([77]);
    expect(written.functions.map((fn) => `${fn.domain}::${fn.name}`)).toEqual(['custom.functions::AddMul']);
    expect(written.trainingInfo).toHaveLength(1);
    expect(written.graph?.sparseInitializer[0]?.values?.name).toBe('sparse_weight');
    expect(written.graph?.quantizationAnnotation[0]?.tensorName).toBe('weight');
    expect(written.graph?.valueInfo.find((info) => info.name === 'a_sequence')?.type?.value.case).toBe('sequenceType');
    // Every numeric initializer is written as raw_data, every string tensor as string_data.
    for (const tensor of written.graph?.initializer ?? []) {
      if (tensor.dataType === DataType.STRING) expect(tensor.stringData.length).toBeGreaterThan(0);
      else expect(isFieldSet(tensor, TensorProtoSchema.field.rawData)).toBe(true);
    }
  });

  it('writes the int64 extremes of attributes back exactly', () => {
    const graph = readOnnx(readFileSync(join(fixtures, 'features.onnx')));
    const written = fromBinary(ModelProtoSchema, writeOnnx(graph));
    const attributes = written.graph?.node.find((node) => node.name === 'mystery')?.attribute ?? [];
    const byName = new Map(attributes.map((attribute) => [attribute.name, attribute]));
    expect(byName.get('big')?.i).toBe(9223372036854775807n);
    expect(byName.get('small')?.i).toBe(-9223372036854775808n);
    expect(byName.get('limits')?.ints).toEqual([9223372036854775807n, -9223372036854775808n, 123456789012n]);
    expect(byName.get('alpha')?.docString).toBe('slope of the negative part');
  });

  it('inlines external data when saved without the externalData option, same values', async () => {
    const path = join(fixtures, 'external-data.onnx');
    expectRoundTrip(readFileSync(path), { path });
    const graph = await loadOnnx(path);
    const target = join(scratch, 'inlined.onnx');
    await saveOnnx(graph, target);
    const saved = fromBinary(ModelProtoSchema, readFileSync(target));
    expect(saved.graph?.initializer.map((tensor) => tensor.dataLocation)).toEqual([0, 0, 0]);
    expect(readdirSync(scratch).filter((name) => name.startsWith('inlined'))).toEqual(['inlined.onnx']);
    expect(graphSnapshot(await loadOnnx(target))).toEqual(graphSnapshot(graph));
  });

  it('saves large initializers as external data and loads them back', async () => {
    const graph = await loadOnnx(join(fixtures, 'external-data.onnx'));
    const target = join(scratch, 'split.onnx');
    await saveOnnx(graph, target, { externalData: { threshold: 16 } });
    const saved = fromBinary(ModelProtoSchema, readFileSync(target));
    const locations = saved.graph?.initializer.map((tensor) => [
      tensor.name,
      tensor.dataLocation,
      Object.fromEntries(tensor.externalData.map((entry) => [entry.key, entry.value])),
    ]);
    // fc.weight (512 bytes) and fc.bias (32 bytes, at the next 64-byte boundary) go out; gain (4 bytes) stays.
    expect(locations).toEqual([
      ['fc.weight', TensorProto_DataLocation.EXTERNAL, { location: 'split.onnx.data', offset: '0', length: '512' }],
      ['fc.bias', TensorProto_DataLocation.EXTERNAL, { location: 'split.onnx.data', offset: '512', length: '32' }],
      ['gain', TensorProto_DataLocation.DEFAULT, {}],
    ]);
    expect(readFileSync(join(scratch, 'split.onnx.data')).byteLength).toBe(544);
    expect(graphSnapshot(await loadOnnx(target))).toEqual(graphSnapshot(graph));
    expectSameMessage(
      ModelProtoSchema,
      decodeNormalized(readFileSync(target), scratch),
      decodeNormalized(readFileSync(join(fixtures, 'external-data.onnx')), fixtures),
    );
  });
});

// torch.onnx.export fixtures (another suite creates them); the list is taken when tests are collected.
const torchFixtureFiles = existsSync(torchModels)
  ? readdirSync(torchModels).filter((name) => name.endsWith('.onnx') || name.endsWith('.onnx.gz'))
  : [];

describe.runIf(torchFixtureFiles.length > 0)('ONNX round trip of torch-exported models', () => {
  it.each(torchFixtureFiles)('%s', (name) => {
    const file = readFileSync(join(torchModels, name));
    const bytes = name.endsWith('.gz') ? gunzipSync(file) : file;
    const graph = expectRoundTrip(bytes, { path: join(torchModels, name) });
    expect(graph.nodes.length).toBeGreaterThan(0);
    expect(graph.model.producerName).toBe('pytorch');
  });
});

import { create, toBinary } from '@bufbuild/protobuf';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, RazorError } from '../errors.js';
import { float16ToFloat32 } from '../ir/dtype.js';
import { getAttribute, type Graph } from '../ir/graph.js';
import { loadOnnx, readOnnx } from './onnx-reader.js';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
  type TensorProto,
} from './proto/onnx_pb.js';
import { catchRazorError as razorErrorOf, rejectionOf as razorErrorOfAsync } from '../testing/razor-errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '__fixtures__');
const torchModels = join(here, '..', '__fixtures__', 'models');
const scratch = mkdtempSync(join(tmpdir(), 'razor-onnx-reader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Seeded generator (mulberry32) so the random inputs are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** A minimal valid model around one initializer, built with the protobuf bindings. */
function modelWithInitializer(tensor: TensorProto): Uint8Array {
  const graph = create(GraphProtoSchema, { name: 'tiny', initializer: [tensor] });
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: 17n })], graph }),
  );
}

describe('readOnnx on the features fixture', () => {
  const graph: Graph = readOnnx(readFileSync(join(fixtures, 'features.onnx')), { path: join(fixtures, 'features.onnx') });

  it('reads model info, opsets and metadata', () => {
    expect(graph.model).toMatchObject({
      irVersion: 8,
      producerName: 'razor-fixtures',
      producerVersion: '1.0',
      domain: 'dev.razor.fixtures',
      modelVersion: 7,
      docString: 'fixture for the ONNX reader and writer',
    });
    expect([...graph.model.metadata]).toEqual([
      ['author', 'razor'],
      ['license', 'Apache-2.0'],
      ['note', 'café'],
    ]);
    expect([...graph.opsetImports]).toEqual([
      ['', 17],
      ['custom.functions', 1],
      ['com.example.unknown', 3],
    ]);
    expect(graph.docString).toBe('a graph with every feature the reader has to keep');
  });

  it('reads value types: symbolic, unknown and fixed dims; non-tensor types only as passthrough', () => {
    expect(graph.inputs[0]).toMatchObject({ name: 'x', docString: 'the input', type: { dtype: 'float32', shape: ['batch', 4] } });
    expect(graph.valueInfo.get('gemm_out')?.type).toEqual({ dtype: 'float32', shape: ['batch', null] });
    expect(graph.valueInfo.get('total')?.type).toEqual({ dtype: 'float32', shape: [] });
    expect(graph.outputs.find((output) => output.name === 'mystery_out')?.type).toEqual({ dtype: 'float32' });
    const sequence = graph.valueInfo.get('a_sequence');
    expect(sequence?.type).toBeUndefined();
    expect(sequence?.passthrough).toBeDefined();
  });

  it('reads initializers of every element type, raw_data and typed fields alike', () => {
    const values = (name: string) => Array.from(graph.initializers.get(name)!.data as ArrayLike<unknown>);
    expect(graph.initializers.get('bias')?.toNumbers()).toEqual([0.1, -0.2, 0.3, -0.4].map(Math.fround));
    expect(graph.initializers.get('scale')?.shape).toEqual([]);
    expect(values('float16_typed').map((bits) => float16ToFloat32(bits as number))).toEqual([1.5, -2, 65504]);
    expect(values('float16_raw').map((bits) => float16ToFloat32(bits as number))).toEqual([0.5, -0.25, 1024]);
    expect(graph.initializers.get('int8_typed')).toMatchObject({ dtype: 'int8', shape: [2, 2] });
    expect(values('int8_typed')).toEqual([-128, -1, 0, 127]);
    expect(values('int8_raw')).toEqual([-3, 7, 0, 100]);
    expect(values('uint8_typed')).toEqual([0, 128, 255]);
    expect(values('int16_typed')).toEqual([-32768, 32767]);
    expect(values('uint16_typed')).toEqual([0, 65535]);
    expect(values('bool_typed')).toEqual([1, 0, 0, 1]);
    expect(values('bool_raw')).toEqual([1, 0, 1]);
    expect(values('int32_typed')).toEqual([-2147483648, 0, 2147483647]);
    expect(values('int64_typed')).toEqual([-9223372036854775808n, 1n, 9223372036854775807n]);
    expect(values('int64_raw')).toEqual([-(2n ** 62n), 5n]);
    expect(values('double_typed')).toEqual([3.141592653589793, -1e300]);
    expect(values('double_raw')).toEqual([1, 2.5]);
    expect(values('uint32_typed')).toEqual([0, 4294967295]);
    expect(values('uint64_typed')).toEqual([0n, 18446744073709551615n]);
    expect(values('string_typed')).toEqual(['alpha', '', 'βêta']);
    expect(graph.initializers.get('empty_raw')).toMatchObject({ dtype: 'float32', shape: [0, 3] });
    // Each numeric tensor owns an aligned array, independent of the file's bytes.
    const int64 = graph.initializers.get('int64_raw')!.data as BigInt64Array;
    expect(int64.byteOffset % 8).toBe(0);
    expect(int64.buffer.byteLength).toBe(16);
  });

  it('keeps Constant nodes as nodes and reads every attribute kind', () => {
    const constant = graph.node('constant')!;
    expect(constant.opType).toBe('Constant');
    expect(getAttribute(constant, 'value', 'tensor')?.toNumbers()).toEqual([0.5, -1.5, 2.25, 4]);
    const mystery = graph.node('mystery')!;
    expect(mystery.domain).toBe('com.example.unknown');
    expect(mystery.docString).toBe('an operator no public opset defines');
    expect(getAttribute(mystery, 'count', 'int')).toBe(3);
    expect(getAttribute(mystery, 'scale', 'float')).toBe(0.75);
    expect(getAttribute(mystery, 'mode', 'string')).toBe('nearest');
    expect(getAttribute(mystery, 'axes', 'ints')).toEqual([0, -1, 2]);
    expect(getAttribute(mystery, 'weights', 'floats')).toEqual([0.5, 1.5]);
    expect(getAttribute(mystery, 'labels', 'strings')).toEqual(['cat', 'dog', 'élève']);
    // int64 extremes are JS numbers (±2^63); the writer clamps them back exactly.
    expect(getAttribute(mystery, 'big', 'int')).toBe(2 ** 63);
    expect(getAttribute(mystery, 'small', 'int')).toBe(-(2 ** 63));
    expect(getAttribute(mystery, 'limits', 'ints')).toEqual([2 ** 63, -(2 ** 63), 123456789012]);
    expect(getAttribute(mystery, 'lookup', 'tensor')?.toNumbers()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(getAttribute(mystery, 'stack', 'tensors')?.map((tensor) => tensor.dtype)).toEqual(['int32', 'float64']);
    expect(graph.node('call_fn')).toMatchObject({ opType: 'AddMul', domain: 'custom.functions' });
  });

  it('reads If and Loop bodies as Graphs', () => {
    const branch = graph.node('branch')!;
    const thenBranch = getAttribute(branch, 'then_branch', 'graph')!;
    const elseBranch = getAttribute(branch, 'else_branch', 'graph')!;
    expect(thenBranch.nodes.map((node) => node.opType)).toEqual(['Add']);
    expect(thenBranch.initializers.get('one')?.toNumbers()).toEqual([1]);
    expect(thenBranch.docString).toBe('then branch');
    expect(elseBranch.outputs[0]?.type).toEqual({ dtype: 'float32', shape: ['batch', 4] });
    const body = getAttribute(graph.node('loop')!, 'body', 'graph')!;
    expect(body.inputs.map((input) => input.type?.dtype)).toEqual(['int64', 'bool', 'float32']);
    expect(body.nodes.map((node) => node.name)).toEqual(['body_cond', 'body_add']);
    expect(body.opset()).toBe(17);
    // The branch reads `x` and `one_outer` from the enclosing graph.
    expect(graph.consumers('one_outer')).toEqual([branch]);
  });
});

describe('external data', () => {
  const path = join(fixtures, 'external-data.onnx');

  it('loads tensors from the side file', async () => {
    const graph = await loadOnnx(path);
    const weights = readFileSync(join(fixtures, 'external-data.weights'));
    const expected = new Float32Array(weights.buffer.slice(weights.byteOffset, weights.byteOffset + 512));
    expect(graph.initializers.get('fc.weight')).toMatchObject({ dtype: 'float32', shape: [8, 16] });
    expect(graph.initializers.get('fc.weight')?.data).toEqual(expected);
    const bias = new Float32Array(weights.buffer.slice(weights.byteOffset + 512, weights.byteOffset + 544));
    expect(graph.initializers.get('fc.bias')?.data).toEqual(bias);
    expect(graph.initializers.get('gain')?.toNumbers()).toEqual([2]);
    // Loaded data is not left marked as external: nothing about its location is kept.
    expect(graph.initializerPassthrough.has('fc.weight')).toBe(false);
  });

  it('reads bytes given a baseDir', () => {
    const graph = readOnnx(readFileSync(path), { baseDir: fixtures });
    expect(graph.initializers.get('fc.bias')?.shape).toEqual([8]);
  });

  it('says what to pass when bytes with external data come without a location', () => {
    const error = razorErrorOf(() => readOnnx(readFileSync(path)));
    expect(error.code).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(error.message).toContain("initializer 'fc.weight'");
    expect(error.message).toContain('pass { path } or { baseDir }');
  });

  it('names tensor and file when the side file is missing', async () => {
    const directory = join(scratch, 'missing');
    mkdirSync(directory);
    copyFileSync(path, join(directory, 'external-data.onnx'));
    const error = await razorErrorOfAsync(() => loadOnnx(join(directory, 'external-data.onnx')));
    expect(error.code).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(error.message).toContain("initializer 'fc.weight'");
    expect(error.message).toContain("'external-data.weights'");
    expect(error.message).toContain('does not exist');
  });

  it('names tensor and file when the side file is too short', async () => {
    const directory = join(scratch, 'short');
    mkdirSync(directory);
    copyFileSync(path, join(directory, 'external-data.onnx'));
    writeFileSync(join(directory, 'external-data.weights'), readFileSync(join(fixtures, 'external-data.weights')).subarray(0, 520));
    const error = await razorErrorOfAsync(() => loadOnnx(join(directory, 'external-data.onnx')));
    expect(error.code).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(error.message).toContain("initializer 'fc.bias'");
    expect(error.message).toContain('needs bytes 512 to 544');
    expect(error.message).toContain('has only 520 bytes');
  });

  it('refuses locations outside the model directory', () => {
    const tensor = create(TensorProtoSchema, {
      name: 'escape',
      dims: [2n],
      dataType: DataType.FLOAT,
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: '../../etc/passwd' }],
    });
    const error = razorErrorOf(() => readOnnx(modelWithInitializer(tensor), { baseDir: fixtures }));
    expect(error.code).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(error.message).toContain("'../../etc/passwd'");
  });
});

describe('bad input', () => {
  const features = readFileSync(join(fixtures, 'features.onnx'));
  const torchModel = readFileSync(join(torchModels, 'small-cnn-bn-fused.onnx'));

  function expectInvalid(bytes: Uint8Array, path = '/models/broken.onnx'): RazorError {
    const error = razorErrorOf(() => readOnnx(bytes, { path }));
    expect(error.code).toBe(ErrorCodes.INVALID_ONNX);
    expect(error.message).toContain(`'${path}'`);
    expect(error.message).toMatch(/is not a valid (or complete )?ONNX model/);
    return error;
  }

  it('a missing file is RAZOR_FILE_NOT_FOUND naming it', async () => {
    const missing = join(scratch, 'nowhere.onnx');
    const error = await razorErrorOfAsync(() => loadOnnx(missing));
    expect(error.code).toBe(ErrorCodes.FILE_NOT_FOUND);
    expect(error.message).toContain(missing);
    expect((await razorErrorOfAsync(() => loadOnnx(scratch))).code).toBe(ErrorCodes.FILE_NOT_FOUND);
  });

  it('an empty file is not a model', async () => {
    const empty = join(scratch, 'empty.onnx');
    writeFileSync(empty, new Uint8Array(0));
    const error = await razorErrorOfAsync(() => loadOnnx(empty));
    expect(error.code).toBe(ErrorCodes.INVALID_ONNX);
    expect(error.message).toContain(empty);
    expect(error.message).toContain('empty');
  });

  it('every truncation of a torch-exported model is rejected', () => {
    // torch writes opset_import after the graph, so any cut loses something required.
    for (let cut = 1; cut < torchModel.byteLength; cut += 7) expectInvalid(torchModel.subarray(0, cut));
    expectInvalid(torchModel.subarray(0, torchModel.byteLength - 1));
  });

  it('truncations inside the graph are rejected', () => {
    for (const cut of [1, 2, 10, 100, 500, 1000, 1500, 2000, 2500, 2800]) expectInvalid(features.subarray(0, cut));
  });

  it('corrupt bytes are rejected', () => {
    const overwritten = Uint8Array.from(torchModel);
    overwritten.fill(0xff, 0, 16);
    expectInvalid(overwritten);
    const zeroedTail = Uint8Array.from(torchModel);
    zeroedTail.fill(0, torchModel.byteLength / 2);
    expectInvalid(zeroedTail);
    const shuffled = Uint8Array.from(features).reverse();
    expectInvalid(shuffled);
    // A model that was compressed and not decompressed.
    expectInvalid(gzipSync(features));
  });

  it('files that are not ONNX are rejected', () => {
    expectInvalid(readFileSync(join(torchModels, 'manifest.json')));
    expectInvalid(readFileSync(join(torchModels, 'small-cnn-bn-fused.input_0.pb')));
    expectInvalid(new TextEncoder().encode('ir_version: 8\ngraph { name: "text format" }\n'));
    expectInvalid(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
  });

  it('random bytes are rejected, even when they happen to parse as protobuf', () => {
    const random = seededRandom(7);
    for (let sample = 0; sample < 300; sample++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 300));
      for (let index = 0; index < bytes.length; index++) bytes[index] = Math.floor(random() * 256);
      expectInvalid(bytes);
    }
    // Valid protobuf for ModelProto, but no graph.
    const noGraph = toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, opsetImport: [{ version: 17n }] }));
    expect(expectInvalid(noGraph).message).toContain('no graph');
  });

  it('tensor data that does not match the dims is rejected, naming the tensor', () => {
    const short = create(TensorProtoSchema, { name: 'w', dims: [2n, 3n], dataType: DataType.FLOAT, rawData: new Uint8Array(20) });
    const error = expectInvalid(modelWithInitializer(short));
    expect(error.message).toContain("initializer 'w'");
    expect(error.message).toContain('20 bytes of raw_data');
    const typed = create(TensorProtoSchema, { name: 'v', dims: [4n], dataType: DataType.INT64, int64Data: [1n, 2n] });
    expect(expectInvalid(modelWithInitializer(typed)).message).toContain("initializer 'v'");
  });

  it('unsupported element types are RAZOR_UNSUPPORTED_DTYPE naming the tensor', () => {
    const float8 = create(TensorProtoSchema, { name: 'w8', dims: [4n], dataType: DataType.FLOAT8E4M3FN, rawData: new Uint8Array(4) });
    const error = razorErrorOf(() => readOnnx(modelWithInitializer(float8), { path: 'quantized.onnx' }));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_DTYPE);
    expect(error.message).toContain("initializer 'w8'");
    expect(error.message).toContain("'quantized.onnx'");
    expect(error.message).toContain('FLOAT8E4M3FN');
  });
});

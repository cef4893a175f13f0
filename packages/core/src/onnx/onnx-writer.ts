import { create, isMessage, toBinary } from '@bufbuild/protobuf';
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { ErrorCodes, RazorError, errorMessage, fail } from '../errors.js';
import { toBytes, type TensorData } from '../ir/dtype.js';
import { describeNode, type AttributeValue, type Graph, type Node, type ValueInfo } from '../ir/graph.js';
import { passthrough, withResidual, type AttributePassthrough } from './onnx-passthrough.js';
import { tensorToProto } from './onnx-tensor.js';
import { sameTensorType, typeToProto } from './onnx-type.js';
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto/onnx_pb.js';

/** Options of {@link saveOnnx}. */
export interface SaveOnnxOptions {
  /**
   * Keep large numeric initializers of the main graph in a data file beside the model (ONNX
   * external data) instead of inside it. Needed for models over protobuf's 2 GiB limit.
   * `true` uses the defaults below.
   */
  externalData?: boolean | ExternalDataOptions;
}

/** Where and from which size initializers go to the external data file. */
export interface ExternalDataOptions {
  /** Initializers of at least this many bytes go to the data file (default 1024). */
  threshold?: number;
  /** The data file, relative to the model's directory (default `<model file name>.data`). */
  location?: string;
}

/** The most bytes one protobuf message may have (protobuf limits messages to 2 GiB). */
export const PROTOBUF_SIZE_LIMIT = 2 ** 31 - 1;

const DEFAULT_EXTERNAL_THRESHOLD = 1024;
/** Large tensors start on page boundaries so runtimes can map them; small ones on 64 bytes. */
const PAGE_ALIGNMENT = 4096;
const SMALL_ALIGNMENT = 64;
const PAGE_ALIGNMENT_FROM = 1 << 20;

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const utf8Encoder = new TextEncoder();

// Protobuf wire types.
const WIRE_LENGTH_DELIMITED = 2;
const GRAPH_FIELD = 7; // ModelProto.graph
const INITIALIZER_FIELD = 5; // GraphProto.initializer
const RAW_DATA_FIELD = 9; // TensorProto.raw_data

/**
 * An int64 attribute value from a JS number. int64 extremes read as ±2^63, one past the range:
 * they clamp back to the exact extremes so a read/write round trip keeps them.
 */
function int64FromNumber(value: number, where: string): bigint {
  if (!Number.isFinite(value)) fail(ErrorCodes.INVALID_ATTRIBUTE, `${where} is ${value}, not an integer`);
  if (value >= 2 ** 63) return INT64_MAX;
  if (value <= -(2 ** 63)) return INT64_MIN;
  return BigInt(Math.trunc(value));
}

function stringsToProto(values: readonly string[]): Uint8Array[] {
  return values.map((value) => utf8Encoder.encode(value));
}

function tensorResidualAt(attribute: AttributePassthrough | undefined, index: number): TensorProto | undefined {
  return attribute?.tensors?.[index];
}

function attributeToProto(name: string, value: AttributeValue, kept: AttributePassthrough | undefined, where: string): AttributeProto {
  const label = `attribute '${name}' of ${where}`;
  let fields: Record<string, unknown>;
  switch (value.type) {
    case 'float':
      fields = { type: AttributeType.FLOAT, f: value.value };
      break;
    case 'int':
      fields = { type: AttributeType.INT, i: int64FromNumber(value.value, label) };
      break;
    case 'string':
      fields = { type: AttributeType.STRING, s: utf8Encoder.encode(value.value) };
      break;
    case 'tensor':
      fields = { type: AttributeType.TENSOR, t: tensorToProto(value.value, undefined, tensorResidualAt(kept, 0)) };
      break;
    case 'graph':
      fields = { type: AttributeType.GRAPH, g: graphToProto(value.value, true) };
      break;
    case 'floats':
      fields = { type: AttributeType.FLOATS, floats: [...value.value] };
      break;
    case 'ints':
      fields = { type: AttributeType.INTS, ints: value.value.map((item) => int64FromNumber(item, label)) };
      break;
    case 'strings':
      fields = { type: AttributeType.STRINGS, strings: stringsToProto(value.value) };
      break;
    case 'tensors':
      fields = {
        type: AttributeType.TENSORS,
        tensors: value.value.map((tensor, index) => tensorToProto(tensor, undefined, tensorResidualAt(kept, index))),
      };
      break;
    case 'graphs':
      fields = { type: AttributeType.GRAPHS, graphs: value.value.map((graph) => graphToProto(graph, true)) };
      break;
    case 'opaque': {
      if (!isMessage(value.value, AttributeProtoSchema)) {
        fail(ErrorCodes.INVALID_ATTRIBUTE, `${label} is opaque but does not hold an ONNX AttributeProto; use a typed attribute value`);
      }
      return value.value.name === name ? value.value : withResidual(AttributeProtoSchema, value.value, { name });
    }
  }
  return withResidual(AttributeProtoSchema, kept?.attribute, { name, ...fields });
}

function nodeToProto(node: Node): NodeProto {
  const kept = passthrough.node(node.passthrough);
  const where = describeNode(node);
  return withResidual(NodeProtoSchema, kept?.node, {
    input: [...node.inputs],
    output: [...node.outputs],
    name: node.name === '' ? undefined : node.name,
    opType: node.opType,
    domain: node.domain === '' ? undefined : node.domain,
    attribute: [...node.attributes].map(([name, value]) => attributeToProto(name, value, kept?.attributes?.get(name), where)),
    docString: node.docString === undefined || node.docString === '' ? undefined : node.docString,
  });
}

function valueInfoToProto(info: ValueInfo): ValueInfoProto {
  const kept = passthrough.valueInfo(info.passthrough);
  const type =
    kept?.type !== undefined && sameTensorType(kept.type.tensorType, info.type)
      ? kept.type.proto
      : info.type === undefined
        ? undefined
        : typeToProto(info.type);
  return withResidual(ValueInfoProtoSchema, kept?.valueInfo, {
    name: info.name,
    type,
    docString: info.docString === undefined || info.docString === '' ? undefined : info.docString,
  });
}

function initializerResidual(graph: Graph, name: string): TensorProto | undefined {
  return passthrough.tensor(graph.initializerPassthrough.get(name))?.tensor;
}

/** A GraphProto; the main graph leaves its initializers to the streaming encoder. */
function graphToProto(graph: Graph, withInitializers: boolean): GraphProto {
  const kept = passthrough.graph(graph.passthrough);
  return withResidual(GraphProtoSchema, kept?.graph, {
    node: graph.nodes.map(nodeToProto),
    name: graph.name === '' ? undefined : graph.name,
    initializer: withInitializers
      ? [...graph.initializers].map(([name, tensor]) => tensorToProto(tensor, name, initializerResidual(graph, name)))
      : undefined,
    docString: graph.docString === '' ? undefined : graph.docString,
    input: graph.inputs.map(valueInfoToProto),
    output: graph.outputs.map(valueInfoToProto),
    valueInfo: [...graph.valueInfo.values()].map(valueInfoToProto),
  });
}

function modelHeader(graph: Graph): Uint8Array {
  const model = graph.model;
  const kept = passthrough.model(model.passthrough);
  const message = withResidual(ModelProtoSchema, kept?.model, {
    irVersion: BigInt(Math.trunc(model.irVersion)),
    opsetImport: [...graph.opsetImports].map(([domain, version]) =>
      create(OperatorSetIdProtoSchema, { domain: domain === '' ? undefined : domain, version: BigInt(Math.trunc(version)) }),
    ),
    producerName: model.producerName === '' ? undefined : model.producerName,
    producerVersion: model.producerVersion === '' ? undefined : model.producerVersion,
    domain: model.domain === '' ? undefined : model.domain,
    modelVersion: model.modelVersion === 0 ? undefined : BigInt(Math.trunc(model.modelVersion)),
    docString: model.docString === '' ? undefined : model.docString,
    metadataProps: [...model.metadata].map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return toBinary(ModelProtoSchema, message);
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** The tag and length prefix of a length-delimited field. */
function lengthPrefix(fieldNumber: number, length: number): Uint8Array {
  const tag = (fieldNumber << 3) | WIRE_LENGTH_DELIMITED;
  const bytes = new Uint8Array(varintSize(tag) + varintSize(length));
  let position = 0;
  for (let value = tag; ; ) {
    if (value < 0x80) {
      bytes[position++] = value;
      break;
    }
    bytes[position++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  for (let value = length; ; ) {
    if (value < 0x80) {
      bytes[position++] = value;
      break;
    }
    bytes[position++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  return bytes;
}

/** Bytes in order, without concatenating them. */
export interface ByteChunks {
  chunks: Uint8Array[];
  byteLength: number;
}

function push(target: ByteChunks, ...chunks: Uint8Array[]): void {
  for (const chunk of chunks) {
    target.chunks.push(chunk);
    target.byteLength += chunk.byteLength;
  }
}

/** Where large initializers go when saving with external data. */
export interface ExternalDataPlan {
  /** Data file name relative to the model, as written into `external_data`. */
  location: string;
  threshold: number;
}

/** A serialized model as chunks, and the external data file's chunks when there is one. */
export interface EncodedModel {
  model: ByteChunks;
  externalData: ByteChunks | undefined;
}

function tooLarge(size: number, limit: number, subject: string): never {
  fail(
    ErrorCodes.WRITE_FAILED,
    `${subject} would be ${size} bytes, over the ${limit}-byte limit of one protobuf message (2 GiB for ONNX files); ` +
      `save it with saveOnnx(graph, path, { externalData: true }) to keep the weights in a separate data file`,
  );
}

/**
 * Serializes the model as a list of chunks. Initializers of the main graph are not copied:
 * their raw_data chunks are views of the tensors' arrays, framed by hand-written field headers
 * (protobuf allows fields in any order). `limit` is the most bytes the model may have.
 */
export function encodeModel(graph: Graph, external?: ExternalDataPlan, limit = PROTOBUF_SIZE_LIMIT): EncodedModel {
  const graphBody: ByteChunks = { chunks: [], byteLength: 0 };
  push(graphBody, toBinary(GraphProtoSchema, graphToProto(graph, false)));
  const data: ByteChunks | undefined = external === undefined ? undefined : { chunks: [], byteLength: 0 };

  for (const [name, tensor] of graph.initializers) {
    if (graphBody.byteLength > limit) tooLarge(graphBody.byteLength, limit, `graph '${graph.name}'`);
    const residual = initializerResidual(graph, name);
    const array = tensor.data as TensorData;
    if (Array.isArray(array)) {
      const bytes = toBinary(TensorProtoSchema, tensorToProto(tensor, name, residual));
      push(graphBody, lengthPrefix(INITIALIZER_FIELD, bytes.byteLength), bytes);
      continue;
    }
    const raw = toBytes(array);
    if (data !== undefined && external !== undefined && raw.byteLength >= external.threshold) {
      const alignment = raw.byteLength >= PAGE_ALIGNMENT_FROM ? PAGE_ALIGNMENT : SMALL_ALIGNMENT;
      const offset = Math.ceil(data.byteLength / alignment) * alignment;
      if (offset > data.byteLength) push(data, new Uint8Array(offset - data.byteLength));
      push(data, raw);
      const proto = tensorToProto(tensor, name, residual, { kind: 'external', location: external.location, offset, length: raw.byteLength });
      const bytes = toBinary(TensorProtoSchema, proto);
      push(graphBody, lengthPrefix(INITIALIZER_FIELD, bytes.byteLength), bytes);
      continue;
    }
    const header = toBinary(TensorProtoSchema, tensorToProto(tensor, name, residual, { kind: 'omit' }));
    const rawPrefix = lengthPrefix(RAW_DATA_FIELD, raw.byteLength);
    const tensorLength = header.byteLength + rawPrefix.byteLength + raw.byteLength;
    if (tensorLength > limit) tooLarge(tensorLength, limit, `initializer '${name}'`);
    push(graphBody, lengthPrefix(INITIALIZER_FIELD, tensorLength), header, rawPrefix, raw);
  }
  if (graphBody.byteLength > limit) tooLarge(graphBody.byteLength, limit, `graph '${graph.name}'`);

  const model: ByteChunks = { chunks: [], byteLength: 0 };
  push(model, modelHeader(graph), lengthPrefix(GRAPH_FIELD, graphBody.byteLength));
  const total = model.byteLength + graphBody.byteLength;
  if (total > limit) tooLarge(total, limit, 'the ONNX model');
  model.chunks.push(...graphBody.chunks);
  model.byteLength = total;
  return { model, externalData: data };
}

function wrapWriteError(error: unknown, subject: string): never {
  if (RazorError.isInstance(error)) throw error;
  return fail(ErrorCodes.WRITE_FAILED, `cannot write ${subject}: ${errorMessage(error)}`, error);
}

/**
 * Serializes a Graph as an ONNX model (ModelProto bytes). Numeric tensors are written as
 * little-endian raw_data, strings as string_data; every passthrough field is written back.
 *
 * @throws RazorError `RAZOR_WRITE_FAILED` when the model would exceed protobuf's 2 GiB limit
 *   (use {@link saveOnnx} with `externalData`).
 */
export function writeOnnx(graph: Graph): Uint8Array {
  let encoded: EncodedModel;
  try {
    encoded = encodeModel(graph);
  } catch (error) {
    return wrapWriteError(error, `graph '${graph.name}' as ONNX`);
  }
  const bytes = new Uint8Array(encoded.model.byteLength);
  let position = 0;
  for (const chunk of encoded.model.chunks) {
    bytes.set(chunk, position);
    position += chunk.byteLength;
  }
  return bytes;
}

const STAGING_BYTES = 1 << 20;

/** Writes chunks in order; small ones are gathered so a model of many tiny tensors is not a syscall each. */
async function writeChunks(handle: FileHandle, content: ByteChunks): Promise<void> {
  const staging = new Uint8Array(STAGING_BYTES);
  let staged = 0;
  const writeFully = async (bytes: Uint8Array): Promise<void> => {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
      done += bytesWritten;
    }
  };
  for (const chunk of content.chunks) {
    if (chunk.byteLength >= STAGING_BYTES / 4) {
      if (staged > 0) await writeFully(staging.subarray(0, staged));
      staged = 0;
      await writeFully(chunk);
      continue;
    }
    if (staged + chunk.byteLength > STAGING_BYTES) {
      await writeFully(staging.subarray(0, staged));
      staged = 0;
    }
    staging.set(chunk, staged);
    staged += chunk.byteLength;
  }
  if (staged > 0) await writeFully(staging.subarray(0, staged));
}

async function writeTemporary(path: string, content: ByteChunks): Promise<string> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx');
  try {
    await writeChunks(handle, content);
    await handle.datasync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return temporary;
}

function externalDataPlan(path: string, option: SaveOnnxOptions['externalData']): ExternalDataPlan | undefined {
  if (option === undefined || option === false) return undefined;
  const settings = option === true ? {} : option;
  const threshold = settings.threshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < 0) {
    fail(ErrorCodes.INVALID_ARGUMENT, `externalData.threshold must be a non-negative number of bytes, not ${threshold}`);
  }
  const location = settings.location ?? `${basename(path)}.data`;
  const normalized = normalize(location);
  if (location === '' || isAbsolute(location) || normalized === '..' || normalized.startsWith(`..${sep}`) || normalized === '.') {
    fail(
      ErrorCodes.INVALID_ARGUMENT,
      `externalData.location '${location}' must be a file name relative to the model's directory, inside it`,
    );
  }
  return { location: location.split(sep).join('/'), threshold };
}

/**
 * Saves a Graph as an ONNX model file. The file (and the external data file, if any) is
 * written to a temporary file in the same directory and renamed into place, so a failed save
 * never leaves a half-written model.
 *
 * @throws RazorError `RAZOR_WRITE_FAILED` when writing fails or the model would exceed protobuf's
 *   2 GiB limit without `externalData`; `RAZOR_INVALID_ARGUMENT` for bad options.
 */
export async function saveOnnx(graph: Graph, path: string, options: SaveOnnxOptions = {}): Promise<void> {
  const plan = externalDataPlan(path, options.externalData);
  let encoded: EncodedModel;
  try {
    encoded = encodeModel(graph, plan);
  } catch (error) {
    return wrapWriteError(error, `ONNX model '${path}'`);
  }
  const temporaries: string[] = [];
  try {
    let dataTemporary: string | undefined;
    if (plan !== undefined && encoded.externalData !== undefined && encoded.externalData.byteLength > 0) {
      dataTemporary = await writeTemporary(join(dirname(path), plan.location), encoded.externalData);
      temporaries.push(dataTemporary);
    }
    const modelTemporary = await writeTemporary(path, encoded.model);
    temporaries.push(modelTemporary);
    // The data file first: a model file never points at data that is not there yet.
    if (dataTemporary !== undefined && plan !== undefined) await rename(dataTemporary, join(dirname(path), plan.location));
    await rename(modelTemporary, path);
  } catch (error) {
    await Promise.all(temporaries.map((temporary) => unlink(temporary).catch(() => undefined)));
    wrapWriteError(error, `ONNX model '${path}'`);
  }
}

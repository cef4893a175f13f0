import { createRegistry, equals, fromBinary, isFieldSet } from '@bufbuild/protobuf';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCodes, RazorError, errorMessage, fail } from '../errors.js';
import { dtypeFromOnnx } from '../ir/dtype.js';
import { Graph, type AttributeValue, type Dim, type ModelInfo, type Node, type TensorType, type ValueInfo } from '../ir/graph.js';
import { ExternalDataReader } from './onnx-external-data.js';
import {
  residualOf,
  type AttributePassthrough,
  type GraphPassthrough,
  type ModelPassthrough,
  type NodePassthrough,
  type TensorPassthrough,
  type ValueInfoPassthrough,
} from './onnx-passthrough.js';
import { tensorFromProto, tensorResidual, type TensorSource } from './onnx-tensor.js';
import { typeToProto } from './onnx-type.js';
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto/onnx_pb.js';

/** Options of {@link readOnnx}. */
export interface ReadOnnxOptions {
  /** The file the bytes came from: named in error messages; its directory holds external data. */
  path?: string;
  /** Where external data files are looked up (default: the directory of `path`). */
  baseDir?: string;
}

const modelFields = new Set([
  'irVersion',
  'opsetImport',
  'producerName',
  'producerVersion',
  'domain',
  'modelVersion',
  'docString',
  'graph',
  'metadataProps',
]);
const graphFields = new Set(['node', 'name', 'initializer', 'docString', 'input', 'output', 'valueInfo']);
const nodeFields = new Set(['input', 'output', 'name', 'opType', 'domain', 'attribute', 'docString']);
const valueInfoFields = new Set(['name', 'type', 'docString']);
/** Attribute fields read into AttributeValue; doc_string and unknown fields stay in the residual. */
const attributeFields = new Set(['name', 'type', 'f', 'i', 's', 't', 'g', 'floats', 'ints', 'strings', 'tensors', 'graphs']);

/** The newest IR version is 11 at the time of writing; far larger numbers mean garbage bytes. */
const MAX_IR_VERSION = 64;

/** For `equals`, which wants a registry for Any and extensions; ONNX uses neither. */
const emptyRegistry = createRegistry();

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

interface ReadContext {
  /** How messages name the model: "'model.onnx'" or "the ONNX bytes". */
  readonly model: string;
  readonly external: ExternalDataReader | undefined;
  readonly opsetImports: ReadonlyMap<string, number>;
}

function incomplete(context: { model: string }, detail: string): never {
  fail(
    ErrorCodes.INVALID_ONNX,
    `${context.model} is not a valid or complete ONNX model: ${detail}. Check that the file is an ONNX model and was written or copied completely.`,
  );
}

function tensorSource(context: ReadContext, where: string): TensorSource {
  return { where, model: context.model, external: context.external };
}

/** Tensor dims as the IR writes them: a size, a symbolic name, or null. */
function readShape(proto: TypeProto): TensorType['shape'] {
  if (proto.value.case !== 'tensorType') return undefined;
  const shape = proto.value.value.shape;
  if (shape === undefined) return undefined;
  return shape.dim.map((dim): Dim => {
    if (dim.value.case === 'dimValue') return Number(dim.value.value);
    if (dim.value.case === 'dimParam') return dim.value.value;
    return null;
  });
}

function readValueInfo(proto: ValueInfoProto, context: ReadContext, graphName: string): ValueInfo {
  const info: ValueInfo = { name: proto.name };
  if (proto.docString !== '') info.docString = proto.docString;
  let typePassthrough: ValueInfoPassthrough['type'];
  const typeProto = proto.type;
  if (typeProto !== undefined) {
    let tensorType: TensorType | undefined;
    if (typeProto.value.case === 'tensorType' && typeProto.value.value.elemType !== 0) {
      const dtype = dtypeFromOnnx(typeProto.value.value.elemType, `value '${proto.name}' in graph '${graphName}' of ${context.model}`);
      const shape = readShape(typeProto);
      tensorType = shape === undefined ? { dtype } : { dtype, shape };
      info.type = tensorType;
    }
    // Keep the original TypeProto when the IR type does not rebuild it exactly (non-tensor
    // types, denotations, unknown fields, a missing element type).
    const rebuilt = tensorType === undefined ? undefined : typeToProto(tensorType);
    if (rebuilt === undefined || !equals(TypeProtoSchema, rebuilt, typeProto, { registry: emptyRegistry, unknown: true })) {
      typePassthrough = { proto: typeProto, tensorType };
    }
  }
  const residual = residualOf(ValueInfoProtoSchema, proto, valueInfoFields);
  if (residual !== undefined || typePassthrough !== undefined) {
    const passthrough: ValueInfoPassthrough = {
      kind: 'onnx.value-info',
      ...(residual !== undefined ? { valueInfo: residual } : {}),
      ...(typePassthrough !== undefined ? { type: typePassthrough } : {}),
    };
    info.passthrough = passthrough;
  }
  return info;
}

/** The attribute type, inferred from the set field for IR version 1 models that did not record it. */
function attributeType(proto: AttributeProto): AttributeType {
  if (proto.type !== AttributeType.UNDEFINED) return proto.type;
  const field = AttributeProtoSchema.field;
  if (isFieldSet(proto, field.f)) return AttributeType.FLOAT;
  if (isFieldSet(proto, field.i)) return AttributeType.INT;
  if (isFieldSet(proto, field.s)) return AttributeType.STRING;
  if (proto.t !== undefined) return AttributeType.TENSOR;
  if (proto.g !== undefined) return AttributeType.GRAPH;
  if (proto.floats.length > 0) return AttributeType.FLOATS;
  if (proto.ints.length > 0) return AttributeType.INTS;
  if (proto.strings.length > 0) return AttributeType.STRINGS;
  if (proto.tensors.length > 0) return AttributeType.TENSORS;
  if (proto.graphs.length > 0) return AttributeType.GRAPHS;
  return AttributeType.UNDEFINED;
}

function decodeStrictly(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

interface AttributeRead {
  value: AttributeValue;
  passthrough?: AttributePassthrough;
}

function readAttribute(proto: AttributeProto, context: ReadContext, where: string): AttributeRead {
  const opaque = (): AttributeRead => ({ value: { type: 'opaque', value: proto } });
  // A reference to an attribute of an enclosing function has no value of its own.
  if (proto.refAttrName !== '') return opaque();
  const type = attributeType(proto);
  const tensorWhere = (index?: number): string =>
    `tensor of attribute '${proto.name}'${index === undefined ? '' : ` [${index}]`} of ${where}`;
  let value: AttributeValue;
  let tensors: (TensorProto | undefined)[] | undefined;
  switch (type) {
    case AttributeType.FLOAT:
      value = { type: 'float', value: proto.f };
      break;
    case AttributeType.INT:
      value = { type: 'int', value: Number(proto.i) };
      break;
    case AttributeType.STRING: {
      const text = decodeStrictly(proto.s);
      if (text === undefined) return opaque();
      value = { type: 'string', value: text };
      break;
    }
    case AttributeType.FLOATS:
      value = { type: 'floats', value: [...proto.floats] };
      break;
    case AttributeType.INTS:
      value = { type: 'ints', value: proto.ints.map((item) => Number(item)) };
      break;
    case AttributeType.STRINGS: {
      const texts = proto.strings.map(decodeStrictly);
      if (texts.some((text) => text === undefined)) return opaque();
      value = { type: 'strings', value: texts as string[] };
      break;
    }
    case AttributeType.TENSOR: {
      if (proto.t === undefined) incomplete(context, `attribute '${proto.name}' of ${where} is a TENSOR attribute with no tensor`);
      value = { type: 'tensor', value: tensorFromProto(proto.t, tensorSource(context, tensorWhere())) };
      tensors = [tensorResidual(proto.t, true)];
      break;
    }
    case AttributeType.TENSORS:
      value = {
        type: 'tensors',
        value: proto.tensors.map((tensor, index) => tensorFromProto(tensor, tensorSource(context, tensorWhere(index)))),
      };
      tensors = proto.tensors.map((tensor) => tensorResidual(tensor, true));
      break;
    case AttributeType.GRAPH: {
      if (proto.g === undefined) incomplete(context, `attribute '${proto.name}' of ${where} is a GRAPH attribute with no graph`);
      value = { type: 'graph', value: readGraph(proto.g, context) };
      break;
    }
    case AttributeType.GRAPHS:
      value = { type: 'graphs', value: proto.graphs.map((graph) => readGraph(graph, context)) };
      break;
    default:
      // Sparse tensors, type protos and attributes of types added after this reader.
      return opaque();
  }
  const attribute = residualOf(AttributeProtoSchema, proto, attributeFields);
  const keptTensors = tensors?.some((residual) => residual !== undefined) ? tensors : undefined;
  if (attribute === undefined && keptTensors === undefined) return { value };
  return {
    value,
    passthrough: { ...(attribute !== undefined ? { attribute } : {}), ...(keptTensors !== undefined ? { tensors: keptTensors } : {}) },
  };
}

function readNode(proto: NodeProto, context: ReadContext, graphName: string, index: number): Node {
  const where = `node '${proto.name === '' ? `#${index}` : proto.name}' (${proto.opType}) in graph '${graphName}' of ${context.model}`;
  if (proto.opType === '') incomplete(context, `node #${index} in graph '${graphName}' has no op_type`);
  const attributes = new Map<string, AttributeValue>();
  let attributePassthrough: Map<string, AttributePassthrough> | undefined;
  for (const attribute of proto.attribute) {
    if (attribute.name === '') incomplete(context, `an attribute of ${where} has no name`);
    if (attributes.has(attribute.name)) incomplete(context, `${where} has two attributes named '${attribute.name}'`);
    const read = readAttribute(attribute, context, where);
    attributes.set(attribute.name, read.value);
    if (read.passthrough !== undefined) (attributePassthrough ??= new Map()).set(attribute.name, read.passthrough);
  }
  const node: Node = {
    name: proto.name,
    opType: proto.opType,
    domain: proto.domain,
    inputs: [...proto.input],
    outputs: [...proto.output],
    attributes,
  };
  if (proto.docString !== '') node.docString = proto.docString;
  const residual = residualOf(NodeProtoSchema, proto, nodeFields);
  if (residual !== undefined || attributePassthrough !== undefined) {
    const passthrough: NodePassthrough = {
      kind: 'onnx.node',
      ...(residual !== undefined ? { node: residual } : {}),
      ...(attributePassthrough !== undefined ? { attributes: attributePassthrough } : {}),
    };
    node.passthrough = passthrough;
  }
  return node;
}

function readGraph(proto: GraphProto, context: ReadContext): Graph {
  const graph = new Graph(proto.name);
  graph.opsetImports = new Map(context.opsetImports);
  graph.docString = proto.docString;
  graph.inputs = proto.input.map((info) => readValueInfo(info, context, proto.name));
  graph.outputs = proto.output.map((info) => readValueInfo(info, context, proto.name));
  for (const info of proto.valueInfo) graph.valueInfo.set(info.name, readValueInfo(info, context, proto.name));
  for (const [index, tensor] of proto.initializer.entries()) {
    if (tensor.name === '') incomplete(context, `initializer #${index} of graph '${proto.name}' has no name`);
    if (graph.initializers.has(tensor.name)) incomplete(context, `graph '${proto.name}' has two initializers named '${tensor.name}'`);
    const where = `initializer '${tensor.name}' in graph '${proto.name}'`;
    graph.initializers.set(tensor.name, tensorFromProto(tensor, tensorSource(context, where)));
    const residual = tensorResidual(tensor);
    if (residual !== undefined) {
      const passthrough: TensorPassthrough = { kind: 'onnx.tensor', tensor: residual };
      graph.initializerPassthrough.set(tensor.name, passthrough);
    }
  }
  graph.nodes = proto.node.map((node, index) => readNode(node, context, proto.name, index));
  const residual = residualOf(GraphProtoSchema, proto, graphFields);
  if (residual !== undefined) {
    const passthrough: GraphPassthrough = { kind: 'onnx.graph', graph: residual };
    graph.passthrough = passthrough;
  }
  graph.invalidate();
  return graph;
}

/** Checks the parts every ONNX model has; random or cut bytes that happen to parse fail here. */
function checkModel(model: ModelProto, context: { model: string }): asserts model is ModelProto & { graph: GraphProto } {
  if (!isFieldSet(model, ModelProtoSchema.field.irVersion)) incomplete(context, 'it has no ir_version');
  if (model.irVersion < 1n || model.irVersion > BigInt(MAX_IR_VERSION)) {
    incomplete(context, `its ir_version ${model.irVersion} is not an ONNX IR version`);
  }
  if (model.graph === undefined) incomplete(context, 'it has no graph');
  // IR version 3 introduced opset imports; every model since must import the ONNX opset or another.
  if (model.irVersion >= 3n && model.opsetImport.length === 0) incomplete(context, 'it imports no operator set');
  for (const opset of model.opsetImport) {
    if (opset.version < 1n) incomplete(context, `it imports operator set '${opset.domain}' at version ${opset.version}`);
  }
}

function readModelInfo(model: ModelProto): ModelInfo {
  const metadata = new Map<string, string>();
  for (const entry of model.metadataProps) metadata.set(entry.key, entry.value);
  const info: ModelInfo = {
    irVersion: Number(model.irVersion),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: Number(model.modelVersion),
    docString: model.docString,
    metadata,
  };
  const residual = residualOf(ModelProtoSchema, model, modelFields);
  if (residual !== undefined) {
    const passthrough: ModelPassthrough = { kind: 'onnx.model', model: residual };
    info.passthrough = passthrough;
  }
  return info;
}

/**
 * Reads an ONNX model (serialized ModelProto) into razor's Graph IR.
 *
 * Everything the IR does not interpret (doc strings, metadata, FunctionProtos, training info,
 * sparse initializers, quantization annotations, non-tensor types, unknown fields) is kept in
 * the `passthrough` slots and written back by {@link writeOnnx}. Tensors stored as external
 * data are read from files in `options.baseDir` or beside `options.path`.
 *
 * @throws RazorError `RAZOR_INVALID_ONNX` when the bytes are not a valid, complete model;
 *   `RAZOR_UNSUPPORTED_DTYPE` for element types razor cannot hold; `RAZOR_EXTERNAL_DATA` when
 *   external data is missing, short, or cannot be located.
 */
export function readOnnx(bytes: Uint8Array, options: ReadOnnxOptions = {}): Graph {
  const modelName = options.path === undefined ? 'the ONNX bytes' : `'${options.path}'`;
  const context = { model: modelName };
  if (bytes.byteLength === 0) incomplete(context, 'it is empty (0 bytes)');
  let model: ModelProto;
  try {
    // A plain Uint8Array view (not a Buffer), so kept bytes fields compare and copy the same way.
    model = fromBinary(ModelProtoSchema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    return fail(
      ErrorCodes.INVALID_ONNX,
      `${modelName} is not a valid ONNX model: its protobuf data is corrupt or truncated (${errorMessage(error)}). Check that the file is an ONNX model and was written or copied completely.`,
      error,
    );
  }
  checkModel(model, context);

  const baseDir = options.baseDir ?? (options.path === undefined ? undefined : dirname(options.path));
  const external = baseDir === undefined ? undefined : new ExternalDataReader(baseDir, modelName);
  try {
    const opsetImports = new Map<string, number>();
    for (const opset of model.opsetImport) opsetImports.set(opset.domain, Number(opset.version));
    const graph = readGraph(model.graph, { model: modelName, external, opsetImports });
    graph.model = readModelInfo(model);
    return graph;
  } catch (error) {
    if (RazorError.isInstance(error)) throw error;
    return fail(ErrorCodes.INVALID_ONNX, `${modelName} is not a valid ONNX model: ${errorMessage(error)}`, error);
  } finally {
    external?.close();
  }
}

/**
 * Reads an ONNX model file (and its external data files) into razor's Graph IR.
 *
 * @throws RazorError `RAZOR_FILE_NOT_FOUND` when the file cannot be read; otherwise as {@link readOnnx}.
 */
export async function loadOnnx(path: string): Promise<Graph> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_FS_FILE_TOO_LARGE') {
      return fail(
        ErrorCodes.INVALID_ONNX,
        `'${path}' is larger than 2 GiB, over protobuf's limit for one ONNX file: a model that large must keep its weights as external data`,
        error,
      );
    }
    const reason = code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a directory' : errorMessage(error);
    return fail(ErrorCodes.FILE_NOT_FOUND, `cannot read ONNX model '${path}': ${reason}`, error);
  }
  return readOnnx(bytes, { path });
}

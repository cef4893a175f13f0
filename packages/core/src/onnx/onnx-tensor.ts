import { isFieldSet } from '@bufbuild/protobuf';
import { ErrorCodes, fail } from '../errors.js';
import { allocate, dtypeFromOnnx, dtypeSize, dtypeToOnnx, toBytes, type DType, type DTypeArrays, type TensorData } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { residualOf, withResidual } from './onnx-passthrough.js';
import { TensorProto_DataLocation, TensorProtoSchema, type TensorProto } from './proto/onnx_pb.js';
import type { ExternalDataReader } from './onnx-external-data.js';

/** TensorProto fields a Tensor (plus its name) represents; the rest goes to the residual. */
const tensorFields = new Set([
  'dims',
  'dataType',
  'floatData',
  'int32Data',
  'stringData',
  'int64Data',
  'name',
  'rawData',
  'externalData',
  'dataLocation',
  'doubleData',
  'uint64Data',
]);

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** Where a tensor sits, for messages: "initializer 'w' in 'model.onnx'". */
export interface TensorSource {
  /** How messages name the tensor. */
  readonly where: string;
  /** How messages name the model. */
  readonly model: string;
  readonly external: ExternalDataReader | undefined;
}

function invalid(source: TensorSource, detail: string): never {
  fail(ErrorCodes.INVALID_ONNX, `${source.model} is not a valid ONNX model: ${source.where} ${detail}. Re-export the model or check the file is complete.`);
}

/** The static shape of a TensorProto, checked. */
export function tensorDims(proto: TensorProto, source: TensorSource): number[] {
  return proto.dims.map((dim) => {
    const value = Number(dim);
    if (dim < 0n || !Number.isSafeInteger(value)) invalid(source, `has dimension ${dim}, which is not a valid size`);
    return value;
  });
}

function elementCount(dims: readonly number[], source: TensorSource): number {
  let count = 1;
  for (const dim of dims) count *= dim;
  if (!Number.isSafeInteger(count)) invalid(source, `has dims [${dims.join(', ')}], too many elements`);
  return count;
}

/** Copies `bytes` (little-endian elements) into a freshly allocated, aligned array: one copy. */
function copyBytes<D extends Exclude<DType, 'string'>>(dtype: D, count: number, bytes: Uint8Array): DTypeArrays[D] {
  const array = allocate(dtype, count);
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
  return array;
}

/** Converts the values of the type-specific repeated fields (float_data, int32_data, ...). */
function typedFieldData(dtype: DType, proto: TensorProto, source: TensorSource): { data: TensorData; field: string } {
  switch (dtype) {
    case 'float32':
      return { data: Float32Array.from(proto.floatData), field: 'float_data' };
    case 'float64':
      return { data: Float64Array.from(proto.doubleData), field: 'double_data' };
    case 'int32':
      return { data: Int32Array.from(proto.int32Data), field: 'int32_data' };
    case 'int16':
      return { data: Int16Array.from(proto.int32Data), field: 'int32_data' };
    case 'int8':
      return { data: Int8Array.from(proto.int32Data), field: 'int32_data' };
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      // float16/bfloat16 values are stored as their 16-bit patterns.
      return { data: Uint16Array.from(proto.int32Data), field: 'int32_data' };
    case 'uint8':
      return { data: Uint8Array.from(proto.int32Data), field: 'int32_data' };
    case 'bool':
      return { data: Uint8Array.from(proto.int32Data, (value) => (value !== 0 ? 1 : 0)), field: 'int32_data' };
    case 'int64':
      return { data: BigInt64Array.from(proto.int64Data), field: 'int64_data' };
    case 'uint64':
      return { data: BigUint64Array.from(proto.uint64Data), field: 'uint64_data' };
    case 'uint32':
      return { data: Uint32Array.from(proto.uint64Data, (value) => Number(value)), field: 'uint64_data' };
    case 'string':
      return { data: proto.stringData.map((bytes) => utf8Decoder.decode(bytes)), field: 'string_data' };
    default:
      return invalid(source, `has element type ${dtype} with no data field`);
  }
}

/**
 * A Tensor from a TensorProto. Numeric data is copied at most once into an aligned typed array;
 * external data is read straight into it.
 */
export function tensorFromProto(proto: TensorProto, source: TensorSource): Tensor {
  const dtype = dtypeFromOnnx(proto.dataType, `${source.where} of ${source.model}`);
  const dims = tensorDims(proto, source);
  const count = elementCount(dims, source);
  if (proto.segment !== undefined) invalid(source, 'is stored in segments, which razor does not read');
  const elementBytes = dtypeSize(dtype);

  if (proto.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    if (dtype === 'string') invalid(source, 'is a string tensor stored as external data, which ONNX does not allow');
    if (source.external === undefined) {
      fail(
        ErrorCodes.EXTERNAL_DATA,
        `${source.where} of ${source.model} keeps its data in an external file, but the model was read from bytes with no location: pass { path } or { baseDir } to readOnnx, or use loadOnnx`,
      );
    }
    const data = allocate(dtype, count) as Exclude<TensorData, string[]>;
    source.external.read(proto.externalData, toBytes(data), source.where);
    return new Tensor(dtype, dims, data as DTypeArrays[typeof dtype]);
  }

  if (isFieldSet(proto, TensorProtoSchema.field.rawData)) {
    if (dtype === 'string') invalid(source, 'is a string tensor with raw_data; strings must be in string_data');
    const expected = count * elementBytes;
    if (proto.rawData.byteLength !== expected) {
      invalid(source, `has ${proto.rawData.byteLength} bytes of raw_data but dims [${dims.join(', ')}] of ${dtype} need ${expected}`);
    }
    return new Tensor(dtype, dims, copyBytes(dtype, count, proto.rawData) as DTypeArrays[typeof dtype]);
  }

  const { data, field } = typedFieldData(dtype, proto, source);
  if (data.length !== count) invalid(source, `has ${data.length} values in ${field} but dims [${dims.join(', ')}] need ${count}`);
  return new Tensor(dtype, dims, data as DTypeArrays[typeof dtype]);
}

/** The same without the name: an attribute's tensor has no other place to keep its name. */
const attributeTensorFields = new Set([...tensorFields].filter((field) => field !== 'name'));

/**
 * TensorProto fields razor does not interpret (doc string, metadata, unknown fields), or
 * undefined. An initializer's name lives in the Graph; an attribute tensor's stays here.
 */
export function tensorResidual(proto: TensorProto, keepName = false): TensorProto | undefined {
  return residualOf(TensorProtoSchema, proto, keepName ? attributeTensorFields : tensorFields);
}

/** How a tensor's data goes into the TensorProto. */
export type TensorDataPlacement =
  /** raw_data in the message (strings: string_data). */
  | { kind: 'inline' }
  /** No data field: the caller appends raw_data itself (the writer streams large tensors). */
  | { kind: 'omit' }
  /** external_data entries; the bytes go to a side file. */
  | { kind: 'external'; location: string; offset: number; length: number };

/** The int64 dims of a shape. */
export function protoDims(shape: readonly number[]): bigint[] {
  return shape.map((dim) => BigInt(dim));
}

/**
 * A TensorProto for `tensor`: numeric data as little-endian raw_data (a view, no copy),
 * strings as string_data, on top of `residual`.
 */
export function tensorToProto(
  tensor: Tensor,
  name: string | undefined,
  residual: TensorProto | undefined,
  placement: TensorDataPlacement = { kind: 'inline' },
): TensorProto {
  const data = tensor.data as TensorData;
  const fields: Record<string, unknown> = {
    dims: protoDims(tensor.shape),
    dataType: dtypeToOnnx(tensor.dtype),
    name: name === undefined || name === '' ? undefined : name,
  };
  if (Array.isArray(data)) {
    fields.stringData = data.map((text) => utf8Encoder.encode(text));
  } else if (placement.kind === 'inline') {
    fields.rawData = toBytes(data);
  } else if (placement.kind === 'external') {
    fields.dataLocation = TensorProto_DataLocation.EXTERNAL;
    fields.externalData = [
      { key: 'location', value: placement.location },
      { key: 'offset', value: String(placement.offset) },
      { key: 'length', value: String(placement.length) },
    ];
  }
  return withResidual(TensorProtoSchema, residual, fields);
}

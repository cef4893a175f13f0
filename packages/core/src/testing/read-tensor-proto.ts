import { ErrorCodes, fail } from '../errors.js';
import { dtypeFromOnnx, fromBytes, isBigIntDType, type DTypeArrays, type NumericDType } from '../ir/dtype.js';
import { Tensor, shapeSize } from '../ir/tensor.js';

/** A tensor read from a serialized ONNX TensorProto, with the name it was stored under. */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

class WireReader {
  position = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly where: string,
  ) {}

  get done(): boolean {
    return this.position >= this.bytes.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.bytes[this.position++];
      if (byte === undefined) fail(ErrorCodes.INVALID_TENSOR_FILE, `${this.where}: truncated varint in TensorProto`);
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  lengthDelimited(): Uint8Array {
    const length = Number(this.varint());
    const end = this.position + length;
    if (end > this.bytes.length) fail(ErrorCodes.INVALID_TENSOR_FILE, `${this.where}: a field runs past the end of the TensorProto`);
    const slice = this.bytes.subarray(this.position, end);
    this.position = end;
    return slice;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.position += 8;
    else if (wireType === 2) this.lengthDelimited();
    else if (wireType === 5) this.position += 4;
    else fail(ErrorCodes.INVALID_TENSOR_FILE, `${this.where}: unsupported protobuf wire type ${wireType}`);
  }
}

/** Varints of a packed (or single unpacked) repeated integer field. */
function readVarints(reader: WireReader, wireType: number): bigint[] {
  if (wireType === 0) return [reader.varint()];
  const inner = new WireReader(reader.lengthDelimited(), reader.where);
  const values: bigint[] = [];
  while (!inner.done) values.push(inner.varint());
  return values;
}

/**
 * Decodes a serialized ONNX TensorProto (the `.pb` files of ONNX's backend test data,
 * as `onnx.numpy_helper.from_array` writes them): raw_data, or float/int32/int64/double data.
 * `where` names the file in errors.
 */
export function readTensorProto(bytes: Uint8Array, where: string): NamedTensor {
  const reader = new WireReader(bytes, where);
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  const floats: number[] = [];
  const integers: bigint[] = [];
  const doubles: number[] = [];
  while (!reader.done) {
    const key = Number(reader.varint());
    const field = key >>> 3;
    const wireType = key & 7;
    switch (field) {
      case 1:
        for (const dim of readVarints(reader, wireType)) dims.push(Number(BigInt.asIntN(64, dim)));
        break;
      case 2:
        dataType = Number(reader.varint());
        break;
      case 4: {
        const packed = wireType === 2 ? reader.lengthDelimited() : reader.bytes.subarray(reader.position, (reader.position += 4));
        const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
        for (let offset = 0; offset + 4 <= packed.byteLength; offset += 4) floats.push(view.getFloat32(offset, true));
        break;
      }
      case 5:
      case 7:
      case 11:
        integers.push(...readVarints(reader, wireType));
        break;
      case 8:
        name = new TextDecoder().decode(reader.lengthDelimited());
        break;
      case 9:
        raw = reader.lengthDelimited();
        break;
      case 10: {
        const packed = wireType === 2 ? reader.lengthDelimited() : reader.bytes.subarray(reader.position, (reader.position += 8));
        const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
        for (let offset = 0; offset + 8 <= packed.byteLength; offset += 8) doubles.push(view.getFloat64(offset, true));
        break;
      }
      default:
        reader.skip(wireType);
    }
  }
  const dtype = dtypeFromOnnx(dataType, `${where} (tensor '${name}')`);
  if (dtype === 'string') fail(ErrorCodes.INVALID_TENSOR_FILE, `${where}: string tensors are not supported here`);
  const numeric = dtype as NumericDType;
  if (raw !== undefined) {
    const copy = raw.slice();
    return { name, tensor: new Tensor(numeric, dims, fromBytes(numeric, copy)) };
  }
  const values: ArrayLike<number | bigint> = floats.length > 0 ? floats : doubles.length > 0 ? doubles : integers;
  if (values.length !== shapeSize(dims)) {
    fail(ErrorCodes.INVALID_TENSOR_FILE, `${where}: tensor '${name}' of shape [${dims.join(', ')}] holds ${values.length} values`);
  }
  if (dtype === 'float16' || dtype === 'bfloat16') {
    // ONNX stores half values' bits in int32_data.
    return { name, tensor: new Tensor(numeric, dims, Uint16Array.from(values as bigint[], Number) as DTypeArrays[typeof numeric]) };
  }
  if (isBigIntDType(dtype)) return { name, tensor: Tensor.from(dtype, dims, values) };
  return { name, tensor: Tensor.from(numeric, dims, Array.from(values, Number)) };
}

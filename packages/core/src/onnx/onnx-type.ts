import { create } from '@bufbuild/protobuf';
import { dtypeToOnnx } from '../ir/dtype.js';
import type { Dim, TensorType } from '../ir/graph.js';
import { TensorShapeProto_DimensionSchema, TensorShapeProtoSchema, TypeProto_TensorSchema, TypeProtoSchema, type TypeProto } from './proto/onnx_pb.js';

function dimensionToProto(dim: Dim) {
  if (typeof dim === 'number') return create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(dim) } });
  if (typeof dim === 'string') return create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: dim } });
  return create(TensorShapeProto_DimensionSchema);
}

/** The TypeProto of an IR tensor type: elem_type, and a shape when the rank is known. */
export function typeToProto(type: TensorType): TypeProto {
  const tensorType = create(TypeProto_TensorSchema, {
    elemType: dtypeToOnnx(type.dtype),
    shape: type.shape === undefined ? undefined : create(TensorShapeProtoSchema, { dim: type.shape.map(dimensionToProto) }),
  });
  return create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } });
}

/** True when two IR tensor types say the same thing. */
export function sameTensorType(left: TensorType | undefined, right: TensorType | undefined): boolean {
  if (left === undefined || right === undefined) return left === right;
  if (left.dtype !== right.dtype) return false;
  if (left.shape === undefined || right.shape === undefined) return left.shape === right.shape;
  return left.shape.length === right.shape.length && left.shape.every((dim, index) => dim === right.shape![index]);
}

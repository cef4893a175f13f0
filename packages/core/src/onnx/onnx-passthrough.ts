import { create, isFieldSet, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { AttributeProto, ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto, GraphProto } from './proto/onnx_pb.js';
import type { TensorType } from '../ir/graph.js';

/**
 * What razor keeps of a protobuf message it does not interpret: the same message type with
 * only the fields the IR has no place for (doc strings of tensors, metadata_props, overloads,
 * sparse initializers, FunctionProtos, training_info, unknown fields...). The writer starts
 * from the residual and sets the fields the IR holds, so nothing is lost in a round trip.
 */
export type Residual<M> = M;

/** `ModelInfo.passthrough`: ModelProto fields outside ModelInfo (functions, training_info, unknown fields). */
export interface ModelPassthrough {
  readonly kind: 'onnx.model';
  readonly model: Residual<ModelProto>;
}

/** `Graph.passthrough`: GraphProto fields outside the Graph IR (sparse initializers, annotations, unknown fields). */
export interface GraphPassthrough {
  readonly kind: 'onnx.graph';
  readonly graph: Residual<GraphProto>;
}

/** `ValueInfo.passthrough`: metadata and unknown fields, and a type the IR cannot express exactly. */
export interface ValueInfoPassthrough {
  readonly kind: 'onnx.value-info';
  readonly valueInfo?: Residual<ValueInfoProto>;
  /**
   * The TypeProto as read when the IR's tensor type does not say everything (a sequence, map or
   * optional type, denotations, unknown fields). `tensorType` is the IR type it was read as:
   * while the value's type still equals it, the original TypeProto is written back.
   */
  readonly type?: { readonly proto: TypeProto; readonly tensorType: TensorType | undefined };
}

/** Per-attribute leftovers: the attribute's doc string and unknown fields, and its tensors' residuals. */
export interface AttributePassthrough {
  readonly attribute?: Residual<AttributeProto>;
  readonly tensors?: readonly (Residual<TensorProto> | undefined)[];
}

/** `Node.passthrough`: NodeProto fields outside the Node IR, and attribute leftovers by name. */
export interface NodePassthrough {
  readonly kind: 'onnx.node';
  readonly node?: Residual<NodeProto>;
  readonly attributes?: ReadonlyMap<string, AttributePassthrough>;
}

/** `Graph.initializerPassthrough` values: TensorProto fields outside a Tensor (name and data excluded). */
export interface TensorPassthrough {
  readonly kind: 'onnx.tensor';
  readonly tensor: Residual<TensorProto>;
}

function passthroughOf<T extends { kind: string }>(value: unknown, kind: T['kind']): T | undefined {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === kind ? (value as T) : undefined;
}

export const passthrough = {
  model: (value: unknown) => passthroughOf<ModelPassthrough>(value, 'onnx.model'),
  graph: (value: unknown) => passthroughOf<GraphPassthrough>(value, 'onnx.graph'),
  valueInfo: (value: unknown) => passthroughOf<ValueInfoPassthrough>(value, 'onnx.value-info'),
  node: (value: unknown) => passthroughOf<NodePassthrough>(value, 'onnx.node'),
  tensor: (value: unknown) => passthroughOf<TensorPassthrough>(value, 'onnx.tensor'),
};

/**
 * A message of the same type holding only the set fields of `message` not named in
 * `interpreted`, plus its unknown fields; undefined when nothing is left. Values are shared,
 * not copied.
 */
export function residualOf<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  interpreted: ReadonlySet<string>,
): MessageShape<Desc> | undefined {
  const init: Record<string, unknown> = {};
  let kept = false;
  for (const field of schema.fields) {
    if (interpreted.has(field.localName) || field.oneof !== undefined) continue;
    if (!isFieldSet(message, field)) continue;
    init[field.localName] = (message as unknown as Record<string, unknown>)[field.localName];
    kept = true;
  }
  const unknown = message.$unknown;
  if (!kept && (unknown === undefined || unknown.length === 0)) return undefined;
  const result = create(schema, init as MessageInitShape<Desc>);
  if (unknown !== undefined && unknown.length > 0) result.$unknown = unknown;
  return result;
}

/**
 * A message built from `fields` (entries that are undefined stay unset) on top of the set fields
 * and unknown fields of `residual`.
 */
export function withResidual<Desc extends DescMessage>(
  schema: Desc,
  residual: MessageShape<Desc> | undefined,
  fields: Record<string, unknown>,
): MessageShape<Desc> {
  const init: Record<string, unknown> = {};
  if (residual !== undefined) {
    for (const field of schema.fields) {
      if (field.oneof === undefined && isFieldSet(residual, field)) {
        init[field.localName] = (residual as unknown as Record<string, unknown>)[field.localName];
      }
    }
  }
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) init[key] = value;
  const message = create(schema, init as MessageInitShape<Desc>);
  const unknown = residual?.$unknown;
  if (unknown !== undefined && unknown.length > 0) message.$unknown = unknown;
  return message;
}

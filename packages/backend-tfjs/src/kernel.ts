import { ErrorCodes, describeNode, fail, getFloat, getInt, getInts, getString, getFloats, getTensorAttribute, type DType, type Node, type Tensor, type TensorType } from '@razor/core';
import type { Tf, TfTensor, TfValue } from './values.js';

/**
 * What a kernel sees of the node it runs: the tfjs namespace, the node and its attributes, its
 * inputs as tfjs values (undefined where an optional input is omitted), and the types shape
 * inference gave its outputs.
 *
 * Kernels are synchronous and run inside `tf.tidy`: every tensor they create and do not return
 * is freed when they return. Inputs belong to the executor; a kernel may return one of its inputs
 * unchanged (Identity, a no-op Reshape).
 */
export interface KernelContext {
  readonly tf: Tf;
  readonly node: Node;
  /** The default-domain opset of the graph. */
  readonly opset: number;
  readonly inputs: readonly (TfValue | undefined)[];
  /** Output types from shape inference (undefined where it could not tell). */
  readonly outputTypes: readonly (TensorType | undefined)[];
  /** Input `index`; fails naming the node when it is omitted. */
  input(index: number): TfValue;
  /** Whether optional input `index` is given. */
  has(index: number): boolean;
  /** The values of a small integer input (shapes, axes, pads), read on the host. */
  ints(index: number): number[];
  /** The values of a small numeric input, read on the host. */
  numbers(index: number): number[];
  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  intList(name: string, fallback: number[]): number[];
  intList(name: string): number[] | undefined;
  floatList(name: string): number[] | undefined;
  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  tensorAttribute(name: string): Tensor | undefined;
  /**
   * `compute()`, a tensor derived from `source` alone (a transposed filter, a reshaped bias) or
   * from several sources (the first one keys the cache; include what identifies the others, such
   * as the node's name, in `key`), computed once per session when every source is an initializer
   * and kept until the session is released; computed afresh otherwise. Never return it as an
   * output. Engines such as wasm also cache work per tensor (XNNPACK
   * packs a filter once per filter tensor), so a stable derived tensor saves that too.
   */
  derived(source: TfTensor | readonly TfTensor[], key: string, compute: () => TfTensor): TfTensor;
  /** Fails with RAZOR_UNSUPPORTED_OP naming the node: `reason` says what this backend cannot do. */
  unsupported(reason: string): never;
  /** Fails with RAZOR_INVALID_GRAPH naming the node. */
  invalid(reason: string): never;
}

/** A kernel returns one value per output (or a single value for single-output ops). */
export type KernelResult = TfValue | readonly (TfValue | undefined)[];

export type Kernel = (ctx: KernelContext) => KernelResult;

/** Kernels of one op group, by op type ('com.microsoft:QGemm' for other domains). */
export type KernelTable = Readonly<Record<string, Kernel>>;

/** The key of a node's kernel. */
export function kernelKey(node: Node): string {
  const domain = node.domain === 'ai.onnx' ? '' : node.domain;
  return domain === '' ? node.opType : `${domain}:${node.opType}`;
}

/** A value of `dtype` (the ONNX type) holding `tensor`. */
export function value(tensor: TfTensor, dtype: DType): TfValue {
  return { tensor, dtype };
}

/** A KernelContext for one node; `inputs` are the executor's values. */
export function createKernelContext(
  tf: Tf,
  node: Node,
  opset: number,
  inputs: readonly (TfValue | undefined)[],
  outputTypes: readonly (TensorType | undefined)[],
  derived: KernelContext['derived'] = (_source, _key, compute) => compute(),
): KernelContext {
  const where = describeNode(node);
  const readHost = (index: number): number[] => {
    const input = inputs[index];
    if (input === undefined) fail(ErrorCodes.INVALID_GRAPH, `${where}: input ${index} is required`);
    return Array.from(input.tensor.dataSync() as ArrayLike<number>);
  };
  return {
    tf,
    node,
    opset,
    inputs,
    outputTypes,
    input(index) {
      const input = inputs[index];
      if (input === undefined) fail(ErrorCodes.INVALID_GRAPH, `${where}: input ${index} is required`);
      return input;
    },
    has: (index) => inputs[index] !== undefined,
    ints: (index) => readHost(index).map((entry) => Math.trunc(entry)),
    numbers: readHost,
    int: ((name: string, fallback?: number) => getInt(node, name, fallback as number)) as KernelContext['int'],
    float: ((name: string, fallback?: number) => getFloat(node, name, fallback as number)) as KernelContext['float'],
    intList: ((name: string, fallback?: number[]) => getInts(node, name, fallback as number[])) as KernelContext['intList'],
    floatList: (name) => getFloats(node, name),
    string: ((name: string, fallback?: string) => getString(node, name, fallback as string)) as KernelContext['string'],
    tensorAttribute: (name) => getTensorAttribute(node, name),
    derived,
    unsupported(reason) {
      return fail(ErrorCodes.UNSUPPORTED_OP, `${where}: the TensorFlow.js backend ${reason}; run this model on the onnxruntime backend`);
    },
    invalid(reason) {
      return fail(ErrorCodes.INVALID_GRAPH, `${where}: ${reason}`);
    },
  };
}

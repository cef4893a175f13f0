// Build a zoo model (or load an ONNX file), inspect it, fold BatchNorm into the
// convolutions, check on onnxruntime that the outputs did not change, and save it.
//
//   pnpm --filter @razor-examples/inspect-and-fold start [model.onnx | zoo-name] [out.onnx]
import {
  Tensor,
  eliminateDeadCode,
  estimateResources,
  foldBatchNorm,
  foldConstants,
  inferShapes,
  loadOnnx,
  randomInputs,
  saveOnnx,
  type Graph,
} from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { createModel, toGraph } from '@razor/ops';

export async function inspectAndFold(source: string, out: string): Promise<{ before: Graph; after: Graph; maxDifference: number }> {
  const before = source.endsWith('.onnx') ? await loadOnnx(source) : toGraph(createModel(source));
  inferShapes(before);
  const after = before.clone();
  const folded = foldBatchNorm(after);
  foldConstants(after);
  eliminateDeadCode(after);

  const backend = createOnnxruntimeBackend();
  const feeds = randomInputs(before, { seed: 0 });
  let maxDifference = 0;
  const outputs: Record<string, Tensor>[] = [];
  for (const graph of [before, after]) {
    const session = await backend.createSession(graph, { threads: 2 });
    outputs.push(await session.run(feeds));
    await session.release();
  }
  for (const [name, tensor] of Object.entries(outputs[0]!)) {
    const reference = tensor.toFloat32();
    const values = outputs[1]![name]!.toFloat32();
    for (let index = 0; index < reference.length; index++) maxDifference = Math.max(maxDifference, Math.abs(reference[index]! - values[index]!));
  }
  await saveOnnx(after, out);

  const describe = (graph: Graph): string => {
    const estimate = estimateResources(graph);
    return `${graph.nodes.length} nodes, ${(estimate.params / 1e6).toFixed(3)}M parameters, ${(estimate.macs / 1e6).toFixed(1)}M MACs`;
  };
  console.log(`${source}: ${describe(before)}`);
  console.log(`folded ${folded} BatchNorm nodes: ${describe(after)}`);
  console.log(`largest output difference on onnxruntime: ${maxDifference.toExponential(2)}; saved ${out}`);
  return { before, after, maxDifference };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await inspectAndFold(process.argv[2] ?? 'resnet20', process.argv[3] ?? 'folded.onnx');
}

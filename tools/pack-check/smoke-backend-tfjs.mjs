// @razor/backend-tfjs installed with @razor/core only: run a graph on tfjs's cpu and wasm engines
// (the wasm binaries must ship inside @tensorflow/tfjs-backend-wasm).
import { Graph, Tensor, resolveBackend } from '@razor/core';
import { createTfjsBackend } from '@razor/backend-tfjs';
import '@razor/backend-tfjs/register';

const graph = new Graph('smoke');
graph.opsetImports = new Map([['', 17]]);
graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [1, 1, 3, 3] } });
graph.addInitializer('w', Tensor.float32([1, 1, 2, 2], [1, 2, 3, 4]));
graph.addNode({ opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'] });
graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [1, 1, 2, 2] } });
const x = Tensor.float32([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
const lines = [];
for (const backend of [await resolveBackend('tfjs'), createTfjsBackend({ engine: 'wasm' })]) {
  const session = await backend.createSession(graph);
  const { y } = await session.run({ x });
  await session.release();
  if (Array.from(y.data).join(',') !== '37,47,67,77') throw new Error(`unexpected output ${Array.from(y.data)}`);
  lines.push(`ran Conv on ${(await backend.capabilities()).engine}: [${Array.from(y.data)}]`);
}
console.log(lines.join('\n'));

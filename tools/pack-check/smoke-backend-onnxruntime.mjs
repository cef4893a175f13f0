// @razor/backend-onnxruntime installed with @razor/core only: run a graph on onnxruntime.
import { Graph, Tensor, resolveBackend } from '@razor/core';
import '@razor/backend-onnxruntime/register';

const graph = new Graph('smoke');
graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: [2, 2] } });
graph.addInitializer('w', Tensor.float32([2, 2], [1, 2, 3, 4]));
graph.addNode({ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] });
graph.outputs.push({ name: 'y', type: { dtype: 'float32', shape: [2, 2] } });
const backend = await resolveBackend('onnxruntime');
const session = await backend.createSession(graph, { threads: 1 });
const { y } = await session.run({ x: Tensor.float32([2, 2], [1, 0, 0, 1]) });
if (Array.from(y.data).join(',') !== '1,2,3,4') throw new Error(`unexpected output ${Array.from(y.data)}`);
await session.release();
console.log(`ran MatMul on ${backend.name}: [${Array.from(y.data)}]`);

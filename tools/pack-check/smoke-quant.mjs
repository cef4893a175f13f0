// @razor/quant installed with @razor/core and @razor/backend-onnxruntime: calibrate and quantize a
// small Conv graph, run the int8 model on onnxruntime and compare with the float one.
import { Graph, Tensor, createRandom } from '@razor/core';
import { createOnnxruntimeBackend } from '@razor/backend-onnxruntime';
import { quantizeStatic } from '@razor/quant';

const random = createRandom(1);
const values = (size) => Float32Array.from({ length: size }, () => random() * 2 - 1);
const graph = new Graph('smoke');
graph.opsetImports.set('', 17);
graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['N', 3, 8, 8] } });
graph.addInitializer('w', new Tensor('float32', [4, 3, 3, 3], values(108)));
graph.addInitializer('b', new Tensor('float32', [4], values(4)));
graph.addNode({ opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { pads: [1, 1, 1, 1] } });
graph.addNode({ opType: 'Relu', inputs: ['y'], outputs: ['z'] });
graph.outputs.push({ name: 'z', type: { dtype: 'float32', shape: ['N', 4, 8, 8] } });
const backend = createOnnxruntimeBackend();
const batches = [0, 1, 2].map(() => ({ x: new Tensor('float32', [4, 3, 8, 8], values(768)) }));
const result = await quantizeStatic(graph, { backend, calibration: batches });
const run = async (model) => {
  const session = await backend.createSession(model, { threads: 1 });
  const { z } = await session.run(batches[0]);
  await session.release();
  return z.data;
};
const [float, int8] = [await run(graph), await run(result.graph)];
let error = 0;
let norm = 0;
for (let index = 0; index < float.length; index++) {
  error += (float[index] - int8[index]) ** 2;
  norm += float[index] ** 2;
}
const relative = Math.sqrt(error / norm);
if (!(relative < 0.05)) throw new Error(`int8 output is ${relative} away from float`);
console.log(`quantized ${result.summary.quantizedNodes} node(s); relative error ${relative.toFixed(4)}`);

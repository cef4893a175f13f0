// @razor/core installed alone: build a graph, write ONNX, read it back, infer shapes, estimate.
import { Graph, Tensor, writeOnnx, readOnnx, inferShapes, estimateResources, foldConstants, RazorError } from '@razor/core';

const graph = new Graph('smoke');
graph.inputs.push({ name: 'x', type: { dtype: 'float32', shape: ['N', 4] } });
graph.addInitializer('w', Tensor.float32([4, 3], Array.from({ length: 12 }, (_, index) => index / 10)));
graph.addInitializer('b', Tensor.float32([3], [1, 2, 3]));
graph.addNode({ opType: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'] });
graph.addNode({ opType: 'Relu', inputs: ['y'], outputs: ['z'] });
graph.outputs.push({ name: 'z' });
const copy = readOnnx(writeOnnx(graph));
inferShapes(copy);
foldConstants(copy);
const type = copy.typeOf('z');
if (type?.dtype !== 'float32' || JSON.stringify(type.shape) !== '["N",3]') throw new Error(`unexpected type ${JSON.stringify(type)}`);
const { params, macs } = estimateResources(copy);
if (params !== 15 || macs !== 12) throw new Error(`unexpected estimate ${params} params, ${macs} MACs`);
try {
  readOnnx(new Uint8Array([1, 2, 3, 4, 5]));
  throw new Error('corrupt bytes were accepted');
} catch (error) {
  if (!RazorError.isInstance(error) || error.code !== 'RAZOR_INVALID_ONNX') throw error;
}
console.log(`round trip, shapes [${type.shape}], ${params} params, ${macs} MACs`);

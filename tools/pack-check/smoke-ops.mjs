// @razor/ops installed with @razor/core only: build zoo models and count them.
import { createModel, listModels, toGraph } from '@razor/ops';
import { estimateResources, inferShapes } from '@razor/core';

const graph = toGraph(createModel('resnet20'));
inferShapes(graph);
const { params, macs } = estimateResources(graph);
if (params !== 269722) throw new Error(`resnet20 has ${params} parameters, expected 269722`);
console.log(`${listModels().length} zoo models; resnet20 ${params} params, ${(macs / 1e6).toFixed(1)}M MACs`);

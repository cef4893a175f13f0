import { estimateResources, inferShapes } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { createModel } from './registry.js';
import { toGraph } from '../to-graph.js';

// Published parameter and MAC counts at each model's default input (batch 1), with razor's
// MAC convention (packages/core/src/estimator/README.md). Sources: torchvision's model
// tables and papers (ResNet-18 1.82G, ResNet-50 4.09G, MobileNetV2 300M, ShuffleNetV2 1.0x
// 146M), He et al. 2016 for the CIFAR ResNets (ResNet-20 0.27M / 41M, ResNet-56 0.85M /
// 125M), LeCun et al. 1998 for LeNet-5.
const published: [name: string, params: string, macs: string][] = [
  ['resnet18', '11.69M', '1.82G'],
  ['resnet50', '25.56M', '4.09G'],
  ['mobilenet_v2', '3.50M', '0.30G'],
  ['shufflenet_v2', '2.28M', '146M'],
  ['resnet20', '0.27M', '41M'],
  ['resnet56', '0.85M', '125M'],
  ['lenet5', '0.06M', '0.42M'],
];

/** `value` in the unit and with the decimals of the published figure, e.g. '1.82G', '41M'. */
function asPublished(value: number, figure: string): string {
  const unit = figure.slice(-1);
  const decimals = figure.includes('.') ? figure.length - figure.indexOf('.') - 2 : 0;
  return `${(value / { M: 1e6, G: 1e9 }[unit]!).toFixed(decimals)}${unit}`;
}

describe('zoo models have the published sizes', () => {
  it.each(published)('%s: %s parameters, %s MACs', (name, params, macs) => {
    const graph = toGraph(createModel(name));
    inferShapes(graph);
    const estimate = estimateResources(graph);
    expect(asPublished(estimate.params, params)).toBe(params);
    expect(asPublished(estimate.macs, macs)).toBe(macs);
  });
});

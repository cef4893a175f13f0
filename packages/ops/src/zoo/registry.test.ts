import { ErrorCodes, RazorError } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { toGraph } from '../to-graph.js';
import reference from './__fixtures__/torchvision-state-dicts.json' with { type: 'json' };
import { createModel, listModels } from './registry.js';

const models = reference.models as unknown as Record<string, { parameters: number; stateDict: [string, number[]][] }>;
const counts = reference.parameterCounts as Record<string, number>;

function stateDictShapes(name: string, options = {}): [string, number[]][] {
  return [...createModel(name, options).stateDict()].map(([key, tensor]) => [key, [...tensor.shape]]);
}

describe('zoo parameter counts match torchvision and the papers', () => {
  it.each([
    ['resnet18', {}, 11_689_512],
    ['resnet34', {}, counts['resnet34']!],
    ['resnet50', {}, 25_557_032],
    ['mobilenet_v2', {}, 3_504_872],
    ['mobilenet_v2', { widthMultiplier: 0.5 }, counts['mobilenet_v2_w0.5']!],
    ['mobilenet_v2', { widthMultiplier: 0.75 }, counts['mobilenet_v2_w0.75']!],
    ['mobilenet_v2', { widthMultiplier: 1.4 }, counts['mobilenet_v2_w1.4']!],
    ['shufflenet_v2_x0_5', {}, counts['shufflenet_v2_x0_5']!],
    ['shufflenet_v2_x1_0', {}, 2_278_604],
    ['shufflenet_v2', { widthMultiplier: 1.5 }, counts['shufflenet_v2_x1_5']!],
    ['shufflenet_v2_x2_0', {}, counts['shufflenet_v2_x2_0']!],
    ['resnet18', { numClasses: 10 }, counts['resnet18_c10']!],
    ['resnet20', {}, 269_722],
    ['resnet56', {}, 853_018],
    ['resnet20', { shortcut: 'B' as const }, counts['resnet20_B']!],
    ['lenet5', {}, 61_706],
    ['lenet5', { inputSize: 32 }, 61_706],
  ])('%s %j has %d parameters', (name, options, expected) => {
    expect(createModel(name, options).numParameters()).toBe(expected);
  });

  it('the fixture agrees with the published figures', () => {
    expect(models['resnet18']!.parameters).toBe(11_689_512);
    expect(models['resnet50']!.parameters).toBe(25_557_032);
    expect(models['mobilenet_v2']!.parameters).toBe(3_504_872);
    expect(models['shufflenet_v2_x1_0']!.parameters).toBe(2_278_604);
    expect(counts['resnet20_A']).toBe(269_722);
    expect(counts['resnet56_A']).toBe(853_018);
  });
});

describe('zoo state-dict names match torchvision', () => {
  it.each(['resnet18', 'resnet50', 'mobilenet_v2', 'shufflenet_v2_x1_0'])('%s: same keys, order and shapes', (name) => {
    expect(stateDictShapes(name)).toEqual(models[name]!.stateDict);
  });
});

describe('createModel', () => {
  it('lists the models', () => {
    expect(listModels()).toEqual(expect.arrayContaining(['lenet5', 'resnet20', 'resnet56', 'resnet18', 'resnet50', 'mobilenet_v2', 'shufflenet_v2_x1_0']));
  });

  it('rejects an unknown name with the valid ones', () => {
    try {
      createModel('resnet19');
      expect.unreachable();
    } catch (error) {
      expect(RazorError.isInstance(error)).toBe(true);
      expect((error as RazorError).code).toBe(ErrorCodes.UNKNOWN_MODEL);
      expect((error as RazorError).message).toContain("'resnet19'");
      expect((error as RazorError).message).toContain('mobilenet_v2');
    }
  });

  it.each([
    ['shufflenet_v2', { widthMultiplier: 0.75 }],
    ['lenet5', { inputSize: 30 }],
    ['lenet5', { widthMultiplier: 2 }],
    ['resnet18', { numClasses: 0 }],
    ['resnet18', { seed: 1.5 }],
  ])('rejects %s with %j', (name, options) => {
    expect(() => createModel(name, options)).toThrow(expect.objectContaining({ code: ErrorCodes.UNKNOWN_MODEL }));
  });

  it('is deterministic in the seed', () => {
    const first = createModel('resnet20', { seed: 7 }).stateDict().get('layer2.0.conv1.weight')!;
    const again = createModel('resnet20', { seed: 7 }).stateDict().get('layer2.0.conv1.weight')!;
    const other = createModel('resnet20', { seed: 8 }).stateDict().get('layer2.0.conv1.weight')!;
    expect(again.data).toEqual(first.data);
    expect(other.data).not.toEqual(first.data);
  });

  it('takes inputChannels and numClasses', () => {
    const model = createModel('resnet18', { inputChannels: 1, numClasses: 7, inputSize: 64 });
    expect(model.inputShape).toEqual([1, 64, 64]);
    expect(model.stateDict().get('conv1.weight')!.shape).toEqual([64, 1, 7, 7]);
    const graph = toGraph(model, { inputShape: model.inputShape, batch: 'N' });
    expect(graph.outputs[0]!.type!.shape).toEqual(['N', 7]);
  });

  it('scales ResNet widths', () => {
    const model = createModel('resnet18', { widthMultiplier: 0.25, numClasses: 10 });
    expect(model.stateDict().get('layer4.1.conv2.weight')!.shape).toEqual([128, 128, 3, 3]);
    expect(model.stateDict().get('fc.weight')!.shape).toEqual([10, 128]);
  });
});

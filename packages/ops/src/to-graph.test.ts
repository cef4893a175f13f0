import { ErrorCodes, getInt, getInts } from '@razor/core';
import { describe, expect, it } from 'vitest';
import type { GraphBuilder } from './graph-builder.js';
import { ReLU } from './layers/activations.js';
import { Conv2d } from './layers/conv2d.js';
import { Identity } from './layers/identity.js';
import { AdaptiveAvgPool2d } from './layers/pooling.js';
import { Sequential } from './layers/sequential.js';
import { Module } from './module.js';
import { toGraph } from './to-graph.js';
import { createModel } from './zoo/registry.js';

describe('toGraph', () => {
  it('builds ResNet-18 with torchvision names, a symbolic batch and typed output', () => {
    const model = createModel('resnet18', { numClasses: 10, inputSize: 32 });
    const graph = toGraph(model, { inputShape: [3, 32, 32], batch: 'N' });
    expect(graph.inputs).toEqual([{ name: 'input', type: { dtype: 'float32', shape: ['N', 3, 32, 32] } }]);
    expect(graph.outputs).toEqual([{ name: 'output', type: { dtype: 'float32', shape: ['N', 10] } }]);
    expect(graph.opset()).toBe(17);
    // Every parameter and BN running statistic, under its state-dict name.
    const expected = [...model.stateDict().keys()].filter((name) => !name.endsWith('num_batches_tracked'));
    expect([...graph.initializers.keys()].sort()).toEqual(expected.sort());
    expect(graph.node('layer1.0.conv1/Conv')!.inputs).toEqual(['maxpool/MaxPool_output', 'layer1.0.conv1.weight']);
    expect(graph.node('layer2.0.downsample.0/Conv')).toBeDefined();
    expect(graph.nodes.filter((node) => node.opType === 'Conv')).toHaveLength(20);
    expect(graph.typeOf('layer4.1.bn2/BatchNormalization_output')!.shape).toEqual(['N', 512, 1, 1]);
    expect(graph.typeOf('layer2.0.conv1/Conv_output')!.shape).toEqual(['N', 128, 4, 4]);
    expect(graph.producer('output')!.name).toBe('fc/Gemm');
    // Eval: BatchNormalization in inference form.
    const bn = graph.node('bn1/BatchNormalization')!;
    expect(bn.outputs).toHaveLength(1);
    expect(bn.attributes.has('training_mode')).toBe(false);
  });

  it('emits nothing for Dropout in eval and an active Dropout and training BatchNorm in training', () => {
    const model = createModel('mobilenet_v2', { widthMultiplier: 0.25, numClasses: 4, inputSize: 32 });
    const inference = toGraph(model, { inputShape: [3, 32, 32] });
    expect(inference.nodes.some((node) => node.opType === 'Dropout')).toBe(false);
    expect(inference.inputs[0]!.type!.shape).toEqual([1, 3, 32, 32]);

    const training = toGraph(model, { inputShape: [3, 32, 32], training: true });
    const dropout = training.nodes.find((node) => node.opType === 'Dropout')!;
    expect(training.initializers.get(dropout.inputs[1]!)!.numberAt(0)).toBeCloseTo(0.2);
    expect(training.initializers.get(dropout.inputs[2]!)!.dtype).toBe('bool');
    const bn = training.node('features.0.1/BatchNormalization')!;
    expect(getInt(bn, 'training_mode')).toBe(1);
    expect(bn.outputs).toHaveLength(3);
    expect(bn.attributes.get('momentum')).toEqual({ type: 'float', value: 0.9 });
    // The module's own flags are left as they were.
    expect(model.training).toBe(true);
    model.eval();
    toGraph(model, { inputShape: [3, 32, 32], training: true });
    expect(model.training).toBe(false);
  });

  it("pads 'same' like PyTorch: the odd extra at the end", () => {
    const graph = toGraph(new Conv2d(2, 2, 4, { padding: 'same' }), { inputShape: [2, 7, 7] });
    const conv = graph.nodes[0]!;
    expect(getInts(conv, 'pads')).toEqual([1, 1, 2, 2]);
    expect(graph.outputs[0]!.type!.shape).toEqual([1, 2, 7, 7]);
    expect(() => new Conv2d(2, 2, 3, { padding: 'same', stride: 2 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
  });

  it('builds depthwise and dilated convolutions with the right shapes', () => {
    const graph = toGraph(new Conv2d(6, 12, 3, { groups: 6, dilation: 2, stride: 2, padding: 1 }), { inputShape: [6, 9, 9], batch: 2 });
    expect(graph.initializers.get('weight')!.shape).toEqual([12, 1, 3, 3]);
    expect(getInt(graph.nodes[0]!, 'group')).toBe(6);
    // floor((9 + 2 - 2·2 - 1) / 2) + 1 = 4
    expect(graph.outputs[0]!.type!.shape).toEqual([2, 12, 4, 4]);
  });

  it('turns adaptive pooling to 1×1 into GlobalAveragePool and to a divisor into AveragePool', () => {
    expect(toGraph(new AdaptiveAvgPool2d(1), { inputShape: [3, 5, 5] }).nodes[0]!.opType).toBe('GlobalAveragePool');
    const graph = toGraph(new AdaptiveAvgPool2d(2), { inputShape: [3, 8, 8] });
    expect(graph.nodes[0]!.opType).toBe('AveragePool');
    expect(getInts(graph.nodes[0]!, 'kernel_shape')).toEqual([4, 4]);
    expect(() => toGraph(new AdaptiveAvgPool2d(3), { inputShape: [3, 8, 8] })).toThrow(expect.objectContaining({ code: ErrorCodes.SHAPE_MISMATCH }));
  });

  it('gives a pass-through module an Identity output', () => {
    const graph = toGraph(new Sequential(new Identity()), { inputShape: [4], inputName: 'x', outputName: 'y' });
    expect(graph.nodes.map((node) => [node.opType, node.inputs, node.outputs])).toEqual([['Identity', ['x'], ['y']]]);
    expect(graph.outputs[0]).toEqual({ name: 'y', type: { dtype: 'float32', shape: [1, 4] } });
  });

  it('names a reused child by its path, once per call', () => {
    class Twice extends Module {
      readonly act = this.addModule('act', new ReLU());
      forward(builder: GraphBuilder, input: string): string {
        return builder.call(this.act, builder.call(this.act, input));
      }
    }
    const graph = toGraph(new Twice(), { inputShape: [3] });
    expect(graph.nodes.map((node) => node.name)).toEqual(['act/Relu', 'act/Relu_1']);
  });

  it('rejects bad options and unregistered children', () => {
    const conv = new Conv2d(3, 3, 1);
    expect(() => toGraph(conv, { inputShape: [3, 4, 4], opset: 13 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => toGraph(conv, { inputShape: [3, 0, 4] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => toGraph(conv, { inputShape: [4, 4, 4] })).toThrow(expect.objectContaining({ code: ErrorCodes.SHAPE_MISMATCH, message: expect.stringContaining('3 input channels') }));
    class Stray extends Module {
      readonly stray = new ReLU();
      forward(builder: GraphBuilder, input: string): string {
        return builder.call(this.stray, input);
      }
    }
    expect(() => toGraph(new Stray(), { inputShape: [3] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringContaining('addModule') }));
  });

  it('builds every zoo model at its default input', () => {
    for (const name of ['lenet5', 'resnet20', 'resnet56', 'mobilenet_v2', 'shufflenet_v2_x1_0', 'resnet50']) {
      const model = createModel(name, { numClasses: 10 });
      const graph = toGraph(model, { inputShape: model.inputShape, batch: 'N' });
      expect(graph.outputs[0]!.type!.shape, name).toEqual(['N', 10]);
    }
  });
});

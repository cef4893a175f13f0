import { Tensor, attr } from '@razor/core';
import type { GraphBuilder } from '../graph-builder.js';
import { Module } from '../module.js';

/** An elementwise activation with no parameters: one node, shape unchanged. */
abstract class Activation extends Module {
  protected abstract emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string;

  forward(builder: GraphBuilder, input: string): string {
    return this.emitActivation(builder, input, builder.shape(input));
  }
}

/** max(x, 0): ONNX Relu. */
export class ReLU extends Activation {
  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    return builder.emit1('Relu', [input], { outputShapes: [shape] });
  }
}

/** min(max(x, 0), 6): ONNX Clip with constant bounds 0 and 6 (MobileNetV2). */
export class ReLU6 extends Activation {
  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    const minimum = builder.constant(Tensor.scalar('float32', 0), 'clip_min_0');
    const maximum = builder.constant(Tensor.scalar('float32', 6), 'clip_max_6');
    return builder.emit1('Clip', [input, minimum, maximum], { outputShapes: [shape] });
  }
}

/** x for x ≥ 0, slope·x otherwise: ONNX LeakyRelu (PyTorch's default slope 0.01). */
export class LeakyReLU extends Activation {
  readonly negativeSlope: number;

  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = negativeSlope;
  }

  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    return builder.emit1('LeakyRelu', [input], { attributes: { alpha: attr.float(this.negativeSlope) }, outputShapes: [shape] });
  }
}

/** 1 / (1 + e^-x): ONNX Sigmoid. */
export class Sigmoid extends Activation {
  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    return builder.emit1('Sigmoid', [input], { outputShapes: [shape] });
  }
}

/** ONNX Tanh. */
export class Tanh extends Activation {
  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    return builder.emit1('Tanh', [input], { outputShapes: [shape] });
  }
}

/** x·relu6(x + 3)/6: ONNX HardSwish (opset 14), identical to PyTorch's. */
export class HardSwish extends Activation {
  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    return builder.emit1('HardSwish', [input], { outputShapes: [shape] });
  }
}

/** relu6(x + 3)/6: ONNX HardSigmoid with alpha 1/6 and beta 0.5 (ONNX's default alpha is 0.2). */
export class HardSigmoid extends Activation {
  protected emitActivation(builder: GraphBuilder, input: string, shape: ReturnType<GraphBuilder['shape']>): string {
    return builder.emit1('HardSigmoid', [input], { attributes: { alpha: attr.float(1 / 6), beta: attr.float(0.5) }, outputShapes: [shape] });
  }
}

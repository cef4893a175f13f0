// Scales, zero points and quantized values against onnxruntime's quant_utils (re-implemented in numpy) and PyTorch.
// Reference values: packages/quant/src/__fixtures__/observers/make-observer-reference.py.
import { Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { dequantizeTensor, quantParamsFromRange, quantRange, quantizeTensor } from '../quant-params.js';
import type { QuantType } from '../types.js';
import { loadObserverReference } from '../__fixtures__/observers/observer-reference.js';

const reference = loadObserverReference();

describe('quantParamsFromRange', () => {
  it('gives onnxruntime compute_scale_zp scales and zero points for every type, symmetry and reduce_range', () => {
    expect(reference.quantParams.length).toBeGreaterThan(400);
    const mismatches: string[] = [];
    for (const entry of reference.quantParams) {
      const scheme = { type: entry.type, symmetric: entry.symmetric, reduceRange: entry.reduceRange };
      const params = quantParamsFromRange({ min: Float32Array.of(entry.min), max: Float32Array.of(entry.max) }, scheme);
      if (params.scale[0] !== Math.fround(entry.scale) || params.zeroPoint[0] !== entry.zeroPoint) {
        mismatches.push(`${JSON.stringify(entry)} → scale ${params.scale[0]}, zero point ${params.zeroPoint[0]}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('puts the zero point inside the integer range and represents 0 exactly', () => {
    for (const entry of reference.quantParams) {
      const scheme = { type: entry.type, symmetric: entry.symmetric, reduceRange: entry.reduceRange };
      const [qmin, qmax] = quantRange(scheme);
      const params = quantParamsFromRange({ min: Float32Array.of(entry.min), max: Float32Array.of(entry.max) }, scheme);
      expect(params.zeroPoint[0]).toBeGreaterThanOrEqual(qmin);
      expect(params.zeroPoint[0]).toBeLessThanOrEqual(qmax);
    }
  });

  it('matches PyTorch MinMaxObserver qparams for affine uint8', () => {
    const torch = reference.torchQParams.affineUint8;
    const params = quantParamsFromRange({ min: Float32Array.of(torch.min), max: Float32Array.of(torch.max) }, { type: 'uint8', symmetric: false });
    expect(params.scale[0]).toBeCloseTo(torch.scale, 6);
    expect(Math.abs(params.scale[0]! - torch.scale) / torch.scale).toBeLessThan(1e-6);
    expect(params.zeroPoint[0]).toBe(torch.zeroPoint);
  });

  it('differs from PyTorch per_tensor_symmetric qint8 only by its integer range ([-127, 127] against [-128, 127])', () => {
    const torch = reference.torchQParams.symmetricInt8;
    const params = quantParamsFromRange({ min: Float32Array.of(torch.min), max: Float32Array.of(torch.max) }, { type: 'int8', symmetric: true });
    const magnitude = Math.max(-torch.min, torch.max);
    // PyTorch: scale = max|x| / ((quant_max − quant_min) / 2) = max|x| / 127.5; onnxruntime and razor: max|x| / 127.
    expect(torch.scale).toBeCloseTo(magnitude / ((torch.quantMax - torch.quantMin) / 2), 6);
    expect(params.scale[0]).toBeCloseTo(magnitude / 127, 6);
    expect((params.scale[0]! * 127) / (torch.scale * 127.5)).toBeCloseTo(1, 6);
    expect(params.zeroPoint[0]).toBe(torch.zeroPoint);
  });
});

describe('quantizeTensor', () => {
  for (const entry of reference.quantize) {
    const title = `${entry.type} ${entry.symmetric ? 'symmetric' : 'asymmetric'} ${entry.axis === undefined ? 'per tensor' : `per channel (axis ${entry.axis})`}`;
    it(`rounds half to even and saturates as onnxruntime quantize_nparray: ${title}`, () => {
      const tensor = new Tensor('float32', entry.shape, Float32Array.from(entry.values));
      const params = {
        scale: Float32Array.from(entry.scale),
        zeroPoint: Int32Array.from(entry.zeroPoint),
        type: entry.type as QuantType,
        ...(entry.axis === undefined ? {} : { axis: entry.axis }),
      };
      const quantized = quantizeTensor(tensor, params);
      expect(quantized.dtype).toBe(entry.type);
      expect(Array.from(quantized.data as ArrayLike<number>)).toEqual(entry.expected);
      if (entry.torch !== undefined) {
        // PyTorch multiplies by 1/scale; the listed elements (exact half-way points here) round the other way.
        const differs = new Set(entry.torchDiffers);
        const ours = quantized.data as ArrayLike<number>;
        for (let index = 0; index < entry.torch.length; index++) {
          if (differs.has(index)) expect(Math.abs(ours[index]! - entry.torch[index]!)).toBe(1);
          else expect(ours[index]).toBe(entry.torch[index]);
        }
        expect(differs.size).toBeLessThan(entry.torch.length / 10);
      }
      // Dequantized values lie within half a step of the originals wherever they are not clipped.
      const restored = dequantizeTensor(quantized, params).data as Float32Array;
      const channels = entry.axis === undefined ? 1 : entry.shape[entry.axis]!;
      const inner = entry.axis === undefined ? entry.values.length : entry.shape.slice(entry.axis + 1).reduce((a, b) => a * b, 1);
      const [low, high] = quantRange({ type: entry.type as QuantType, symmetric: false });
      for (let index = 0; index < entry.values.length; index++) {
        const channel = Math.floor(index / inner) % channels;
        const q = (quantized.data as ArrayLike<number>)[index]!;
        if (q === low || q === high) continue;
        expect(Math.abs(restored[index]! - entry.values[index]!)).toBeLessThanOrEqual(entry.scale[channel]! / 2 + 1e-7);
      }
    });
  }
});

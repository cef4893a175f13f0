import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ErrorCodes } from '../errors.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { applyTransform, compose, normalize, pad, randomCrop, randomHorizontalFlip, resize, type RandomSource } from './transforms.js';

// torch.nn.functional.interpolate outputs, from tools/fixtures/data-reference.py.
const reference = JSON.parse(readFileSync(new URL('./__fixtures__/data-reference.json', import.meta.url), 'utf8')) as {
  resize: { input: number[]; inputShape: number[]; bilinear5x7: number[]; bilinear2x3: number[]; nearest5x7: number[]; nearest2x3: number[] };
};

/** A random source that replays fixed values. */
function replay(...values: number[]): RandomSource {
  let index = 0;
  return () => {
    const value = values[index++];
    if (value === undefined) throw new Error('the transform drew more random numbers than expected');
    return value;
  };
}

const never: RandomSource = () => {
  throw new Error('a deterministic transform drew a random number');
};

describe('transforms', () => {
  it('normalize subtracts the mean and divides by the std of each channel', () => {
    const { image, shape } = applyTransform(normalize([0.5, 0.2], [0.25, 0.1]), Float32Array.from([0.5, 1, 0, 0.75, 0.2, 0.4, 0, 0.3]), [2, 2, 2], never);
    expect(shape).toEqual([2, 2, 2]);
    expect(Array.from(image).map((value) => Number(value.toFixed(5)))).toEqual([0, 2, -2, 1, 0, 2, -2, 1]);
    expect(catchRazorError(() => normalize([0.1, 0.2, 0.3], 1).outputShape([1, 4, 4])).code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(catchRazorError(() => normalize(0, 0)).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });

  it('pad adds fill around the image, by padding or up to a size', () => {
    const input = Float32Array.from([1, 2, 3, 4]);
    const padded = applyTransform(pad({ padding: 1, fill: -1 }), input, [1, 2, 2], never);
    expect(padded.shape).toEqual([1, 4, 4]);
    expect(Array.from(padded.image)).toEqual([-1, -1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1, -1, -1, -1]);
    const sized = applyTransform(pad({ size: [3, 5] }), Float32Array.from([1, 2]), [1, 1, 2], never);
    expect(sized.shape).toEqual([1, 3, 5]);
    // Centred: one row above, one column left, the odd extra column on the right.
    expect(Array.from(sized.image)).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0]);
    const uneven = applyTransform(pad({ padding: [0, 1, 1, 0] }), input, [1, 2, 2], never);
    expect(Array.from(uneven.image)).toEqual([1, 2, 0, 3, 4, 0, 0, 0, 0]);
    expect(catchRazorError(() => pad({ size: 2 }).outputShape([1, 3, 3])).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });

  it('randomCrop pads, then crops at the drawn position', () => {
    const input = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const crop = randomCrop({ padding: 2 });
    // Padded to 7x7: top = floor(0 × 5) = 0, left = floor(0.99 × 5) = 4, so the window holds input column 2 of row 0 only.
    const corner = applyTransform(crop, input, [1, 3, 3], replay(0, 0.99));
    expect(Array.from(corner.image)).toEqual([0, 0, 0, 0, 0, 0, 3, 0, 0]);
    // top = floor(0.5 × 5) = 2, left = floor(0.3 × 5) = 1: one column of padding then input columns 0–1.
    const shifted = applyTransform(crop, input, [1, 3, 3], replay(0.5, 0.3));
    expect(Array.from(shifted.image)).toEqual([0, 1, 2, 0, 4, 5, 0, 7, 8]);
    const smaller = applyTransform(randomCrop({ size: 2 }), input, [1, 3, 3], replay(0.9, 0.1));
    expect(Array.from(smaller.image)).toEqual([4, 5, 7, 8]);
    expect(catchRazorError(() => randomCrop({ size: 8, padding: 2 }).outputShape([1, 3, 3])).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });

  it('randomHorizontalFlip mirrors each row when the draw is below the probability', () => {
    const input = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const flip = randomHorizontalFlip(0.5);
    expect(Array.from(applyTransform(flip, input, [2, 2, 3], replay(0.2)).image)).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
    expect(Array.from(applyTransform(flip, input, [2, 2, 3], replay(0.7)).image)).toEqual(Array.from(input));
  });

  for (const mode of ['bilinear', 'nearest'] as const) {
    it(`resize (${mode}) matches torch's interpolate, up and down`, () => {
      const input = Float32Array.from(reference.resize.input);
      const up = applyTransform(resize([5, 7], mode), input, reference.resize.inputShape, never);
      expect(up.shape).toEqual([1, 5, 7]);
      const expectedUp = mode === 'bilinear' ? reference.resize.bilinear5x7 : reference.resize.nearest5x7;
      up.image.forEach((value, index) => expect(value).toBeCloseTo(expectedUp[index]!, 5));
      const down = applyTransform(resize([2, 3], mode), input, reference.resize.inputShape, never);
      const expectedDown = mode === 'bilinear' ? reference.resize.bilinear2x3 : reference.resize.nearest2x3;
      down.image.forEach((value, index) => expect(value).toBeCloseTo(expectedDown[index]!, 5));
    });
  }

  it('compose applies the transforms in order, drawing from one random source', () => {
    const input = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const pipeline = compose([randomCrop({ padding: 1 }), randomHorizontalFlip(), normalize(1, 2)]);
    expect(pipeline.outputShape([1, 3, 3])).toEqual([1, 3, 3]);
    // top = floor(0 × 3) = 0, left = floor(0.99 × 3) = 2, then flipped (0.1 < 0.5), then (x − 1) / 2.
    const result = applyTransform(pipeline, input, [1, 3, 3], replay(0, 0.99, 0.1));
    // Cropped [[0,0,0],[2,3,0],[5,6,0]] → flipped [[0,0,0],[0,3,2],[0,6,5]] → normalized.
    expect(Array.from(result.image)).toEqual([-0.5, -0.5, -0.5, -0.5, 1, 0.5, -0.5, 2.5, 2]);
    expect(compose([resize(4), pad({ padding: 2 })]).outputShape([3, 9, 9])).toEqual([3, 8, 8]);
  });

  it('rejects images that are not [C, H, W]', () => {
    expect(catchRazorError(() => resize(4).outputShape([28, 28])).code).toBe(ErrorCodes.SHAPE_MISMATCH);
    expect(catchRazorError(() => resize(4, 'cubic' as never)).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(catchRazorError(() => applyTransform(normalize(0, 1), new Float32Array(3), [1, 2, 2], never)).code).toBe(ErrorCodes.SHAPE_MISMATCH);
  });
});

import { Tensor } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { tensorChecksum } from './checksum.js';

describe('tensorChecksum', () => {
  it('hashes the raw bytes with 32-bit FNV-1a (published test vectors)', () => {
    const bytes = new TextEncoder().encode('foobar');
    expect(tensorChecksum(new Tensor('uint8', [6], bytes)).hash).toBe('bf9cf968');
    expect(tensorChecksum(new Tensor('uint8', [1], Uint8Array.of(0x61))).hash).toBe('e40c292c');
    expect(tensorChecksum(new Tensor('uint8', [0])).hash).toBe('811c9dc5');
  });

  it('sums in float64 and averages absolute values, skipping NaN', () => {
    const checksum = tensorChecksum(Tensor.float32([2, 2], [1.5, -2.5, 3, Number.NaN]));
    expect(checksum).toMatchObject({ sum: 2, meanAbs: 7 / 4, nanCount: 1 });
    const big = tensorChecksum(Tensor.from('int64', [2], [2n ** 40n, -3n]));
    expect(big.sum).toBe(2 ** 40 - 3);
    expect(tensorChecksum(Tensor.from('float16', [2], [0.5, -1.25])).sum).toBe(-0.75);
  });

  it('changes its hash when one bit changes, not its sum beyond rounding', () => {
    const values = Float32Array.from({ length: 1000 }, (_, index) => Math.sin(index));
    const first = tensorChecksum(Tensor.float32([1000], values));
    const changed = values.slice();
    changed[500] = Math.fround(changed[500]! + 1e-7);
    const second = tensorChecksum(Tensor.float32([1000], changed));
    expect(second.hash).not.toBe(first.hash);
    expect(second.sum).toBeCloseTo(first.sum, 5);
  });
});

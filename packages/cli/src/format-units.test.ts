import { describe, expect, it } from 'vitest';
import { formatBytes, formatClock, formatCount, formatMilliseconds, formatPercent, formatShape } from './format-units.js';

describe('format-units', () => {
  it('writes counts with SI suffixes, as model cards quote them', () => {
    expect(formatCount(11_689_512)).toBe('11.69M');
    expect(formatCount(1_814_083_944)).toBe('1.81G');
    expect(formatCount(272_474)).toBe('272.47K');
    expect(formatCount(999_999)).toBe('1.00M');
    expect(formatCount(512)).toBe('512');
    expect(formatCount(0)).toBe('0');
    expect(formatCount(3.2e12)).toBe('3.20T');
  });

  it('writes bytes in decimal units', () => {
    expect(formatBytes(44_600_000)).toBe('44.6 MB');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1_500)).toBe('1.5 kB');
    expect(formatBytes(999_960)).toBe('1.0 MB');
    expect(formatBytes(2.5e9)).toBe('2.5 GB');
  });

  it('writes durations, clocks, shares and shapes', () => {
    expect(formatMilliseconds(0.0423)).toBe('0.042 ms');
    expect(formatMilliseconds(3.614)).toBe('3.61 ms');
    expect(formatMilliseconds(152.34)).toBe('152.3 ms');
    expect(formatMilliseconds(2414)).toBe('2.41 s');
    expect(formatClock(65)).toBe('1:05');
    expect(formatClock(3725)).toBe('1:02:05');
    expect(formatClock(Number.NaN)).toBe('--:--');
    expect(formatPercent(0.1234)).toBe('12.3%');
    expect(formatShape([1, 'batch', null, 224])).toBe('[1, batch, ?, 224]');
    expect(formatShape(undefined)).toBe('?');
    expect(formatShape([])).toBe('[]');
  });
});

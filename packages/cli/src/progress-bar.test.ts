import { describe, expect, it } from 'vitest';
import { ProgressBar } from './progress-bar.js';

function collector(isTTY: boolean): { write(text: string): void; isTTY: boolean; text: string } {
  return {
    isTTY,
    text: '',
    write(text: string) {
      this.text += text;
    },
  };
}

describe('ProgressBar', () => {
  it('shows percentage, rate and ETA from the clock', () => {
    let now = 0;
    const bar = new ProgressBar(collector(false), { total: 200, label: 'epoch 1/3', unit: 'batch', now: () => now });
    now = 2000;
    bar.update(50);
    // 50 batches in 2 s: 25 batch/s; 150 left: 6 s.
    expect(bar.render()).toBe('epoch 1/3  [#####...............]   25%  50/200  25.0 batch/s  ETA 0:06');
  });

  it('writes a few plain lines off a TTY and the final line at the end', () => {
    let now = 0;
    const stream = collector(false);
    const bar = new ProgressBar(stream, { total: 100, now: () => now });
    for (let step = 0; step < 100; step++) {
      now += 10;
      bar.tick();
    }
    bar.finish();
    const lines = stream.text.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain('25/100');
    expect(lines[3]).toBe('[####################]  100%  100/100  100 it/s  in 0:01');
  });

  it('redraws one line in place on a TTY, throttled', () => {
    let now = 0;
    const stream = collector(true);
    const bar = new ProgressBar(stream, { total: 10, redrawIntervalMs: 100, now: () => now });
    for (let step = 0; step < 10; step++) {
      now += 30;
      bar.tick();
    }
    bar.finish();
    const redraws = stream.text.split('\r').length - 1;
    // Ticks at 30..300 ms with a 100 ms interval: 3 redraws, plus the final one.
    expect(redraws).toBe(4);
    expect(stream.text.endsWith('\x1b[K\n')).toBe(true);
    expect(stream.text.split('\n')).toHaveLength(2);
  });

  it('counts without a bar when the total is unknown', () => {
    let now = 0;
    const bar = new ProgressBar(collector(false), { unit: 'sample', now: () => now });
    now = 500;
    bar.update(40);
    expect(bar.render()).toBe('40  80.0 sample/s  in 0:01');
  });
});

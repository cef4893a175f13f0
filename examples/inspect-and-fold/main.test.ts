import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOnnx } from '@razor/core';
import { describe, expect, it } from 'vitest';
import { inspectAndFold } from './main.js';

describe('the inspect-and-fold example', () => {
  it('folds every BatchNorm of ResNet-20 without changing its outputs', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'razor-example-'));
    try {
      const out = join(directory, 'resnet20.folded.onnx');
      const { before, after, maxDifference } = await inspectAndFold('resnet20', out);
      expect(before.nodes.filter((node) => node.opType === 'BatchNormalization')).toHaveLength(19);
      expect(after.nodes.filter((node) => node.opType === 'BatchNormalization')).toHaveLength(0);
      expect(maxDifference).toBeLessThan(1e-4);
      const saved = await loadOnnx(out);
      expect(saved.nodes.length).toBe(after.nodes.length);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

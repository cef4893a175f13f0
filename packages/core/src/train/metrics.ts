import type { Tensor } from '../ir/tensor.js';

/** Running sums of a classification metric over batches: cross-entropy, top-1 and top-5 hits. */
export class ClassificationMetrics {
  private lossSum = 0;
  private top1Hits = 0;
  private top5Hits = 0;
  private count = 0;

  /**
   * Adds the first `rows` rows of [N, C] float32 `logits` against `labels` (int64 [≥ rows]):
   * cross-entropy computed in float64 with log-sum-exp, and whether the label is the
   * highest logit (top-1) or among the five highest (top-5; top-C when C < 5). Ties count
   * against the label: a label is in the top k only when fewer than k logits exceed it.
   */
  add(logits: Tensor, labels: Tensor, rows = logits.shape[0]!): void {
    const classes = logits.shape[1]!;
    const values = logits.data as Float32Array;
    const targets = labels.data as BigInt64Array;
    for (let row = 0; row < rows; row++) {
      const base = row * classes;
      const label = Number(targets[row]!);
      let maximum = -Infinity;
      for (let index = 0; index < classes; index++) maximum = Math.max(maximum, values[base + index]!);
      let sum = 0;
      for (let index = 0; index < classes; index++) sum += Math.exp(values[base + index]! - maximum);
      const target = values[base + label]!;
      this.lossSum += maximum + Math.log(sum) - target;
      let above = 0;
      for (let index = 0; index < classes; index++) if (values[base + index]! > target || (values[base + index] === target && index < label)) above++;
      if (above < 1) this.top1Hits++;
      if (above < 5) this.top5Hits++;
    }
    this.count += rows;
  }

  /** Samples added so far. */
  get samples(): number {
    return this.count;
  }

  /** Mean loss and accuracies (fractions in [0, 1]) over the samples added. */
  result(): { loss: number; top1: number; top5: number; samples: number } {
    const count = Math.max(this.count, 1);
    return { loss: this.lossSum / count, top1: this.top1Hits / count, top5: this.top5Hits / count, samples: this.count };
  }
}

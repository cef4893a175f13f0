import type { BackendSession } from '../backend/backend.js';
import type { Batch } from '../data/data-loader.js';
import { ErrorCodes, fail } from '../errors.js';
import { Tensor } from '../ir/tensor.js';
import { ClassificationMetrics } from './metrics.js';

/** Loss (cross-entropy), top-1 and top-5 (fractions in [0, 1]) over the samples evaluated. */
export interface Evaluation {
  loss: number;
  top1: number;
  top5: number;
  samples: number;
}

/** Options of `evaluateClassifier`. */
export interface EvaluateClassifierOptions {
  /** The graph input the images go to. */
  input: string;
  /** The graph output holding the logits [N, classes]. */
  output: string;
  /** Feeds given with every batch (weights the graph takes as inputs, ...). */
  extraFeeds?: Readonly<Record<string, Tensor>>;
  /**
   * The graph's fixed batch size, when it has one: a shorter last batch is padded with zeros
   * to it (the padding rows are not counted); a longer batch is an error.
   */
  fixedBatch?: number;
  /** Called after each batch with the samples evaluated so far. */
  onBatch?: (samples: number) => void;
}

/**
 * Runs a classifier's session over labelled batches (a DataLoader epoch, or any iterable of
 * batches) and returns its loss, top-1 and top-5, one backend run per batch.
 */
export async function evaluateClassifier(session: BackendSession, batches: AsyncIterable<Pick<Batch, 'images' | 'labels'>>, options: EvaluateClassifierOptions): Promise<Evaluation> {
  const metrics = new ClassificationMetrics();
  for await (const batch of batches) {
    let images = batch.images as Tensor;
    const rows = images.shape[0]!;
    const fixed = options.fixedBatch;
    if (fixed !== undefined && rows !== fixed) {
      if (rows > fixed) fail(ErrorCodes.SHAPE_MISMATCH, `batches of ${rows} do not fit the graph's fixed batch ${fixed}; evaluate with batchSize ${fixed}`);
      const padded = new Float32Array((fixed * images.size) / rows);
      padded.set(images.data as Float32Array);
      images = new Tensor('float32', [fixed, ...images.shape.slice(1)], padded);
    }
    const result = await session.run({ ...options.extraFeeds, [options.input]: images }, [options.output]);
    const logits = result[options.output];
    if (logits === undefined || logits.shape.length !== 2) {
      fail(ErrorCodes.SHAPE_MISMATCH, `output '${options.output}' should be logits [batch, classes], got ${logits ? `[${logits.shape.join(', ')}]` : 'nothing'}`);
    }
    metrics.add(logits, batch.labels, rows);
    options.onBatch?.(metrics.samples);
  }
  return metrics.result();
}

import type { Backend } from '../backend/backend.js';
import { resolveBackend } from '../backend/backend-registry.js';
import { ErrorCodes, fail } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { randomInputs, type RandomInputsOptions } from './random-inputs.js';

/** Options of `measureLatency`. */
export interface LatencyOptions extends Pick<RandomInputsOptions, 'inputShapes' | 'dims' | 'seed'> {
  /** Timed runs (default 20). */
  runs?: number;
  /** Untimed runs first, to warm caches and lazy allocations (default 3). */
  warmup?: number;
  /** Intra-op threads of the session (default: the engine's). */
  threads?: number;
  /** Feeds to use instead of seeded random inputs. */
  feeds?: Record<string, Tensor>;
}

/** Wall-clock latency of one run, in milliseconds. */
export interface LatencyResult {
  meanMs: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  /** Number of timed runs. */
  runs: number;
}

function percentile(sorted: readonly number[], fraction: number): number {
  const position = (sorted.length - 1) * fraction;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}

/**
 * Measures how long one run of `graph` takes on a backend (an object, or a registered
 * name): compiles a session, feeds seeded random inputs of the declared dtypes and
 * resolved shapes (symbolic dims 1 unless `dims`/`inputShapes` say otherwise), runs
 * `warmup` untimed and `runs` timed runs, and releases the session.
 */
export async function measureLatency(graph: Graph, backend: Backend | string, options: LatencyOptions = {}): Promise<LatencyResult> {
  const runs = options.runs ?? 20;
  const warmup = options.warmup ?? 3;
  if (!Number.isInteger(runs) || runs < 1) fail(ErrorCodes.INVALID_ARGUMENT, `runs must be a positive integer, not ${runs}`);
  if (!Number.isInteger(warmup) || warmup < 0) fail(ErrorCodes.INVALID_ARGUMENT, `warmup must be a non-negative integer, not ${warmup}`);
  const feeds = options.feeds ?? randomInputs(graph, options);
  const engine = await resolveBackend(backend);
  const session = await engine.createSession(graph, options.threads === undefined ? {} : { threads: options.threads });
  const times: number[] = [];
  try {
    for (let run = 0; run < warmup; run++) await session.run(feeds);
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      await session.run(feeds);
      times.push(performance.now() - start);
    }
  } finally {
    await session.release();
  }
  const sorted = [...times].sort((left, right) => left - right);
  return {
    meanMs: times.reduce((sum, time) => sum + time, 0) / times.length,
    medianMs: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    minMs: sorted[0]!,
    runs,
  };
}

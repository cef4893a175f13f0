import type { Backend, BackendSession } from '../backend/backend.js';
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

/** Options of `compareLatency`. */
export interface CompareLatencyOptions extends Omit<LatencyOptions, 'runs'> {
  /** Rounds; in each, every graph runs `runsPerRound` timed runs in turn (default 10). */
  rounds?: number;
  /** Timed runs of one graph in a row within a round (default 5). */
  runsPerRound?: number;
}

/**
 * Measures how long one run of `graph` takes on a backend (an object, or a registered
 * name): compiles a session, feeds seeded random inputs of the declared dtypes and
 * resolved shapes (symbolic dims 1 unless `dims`/`inputShapes` say otherwise), runs
 * `warmup` untimed and `runs` timed runs, and releases the session.
 */
export async function measureLatency(graph: Graph, backend: Backend | string, options: LatencyOptions = {}): Promise<LatencyResult> {
  const runs = options.runs ?? 20;
  if (!Number.isInteger(runs) || runs < 1) fail(ErrorCodes.INVALID_ARGUMENT, `runs must be a positive integer, not ${runs}`);
  const [result] = await compareLatency([graph], backend, { ...options, rounds: 1, runsPerRound: runs });
  return result!;
}

/**
 * Latency of several graphs that take the same inputs (a float model and its quantized
 * versions, say), measured interleaved so that each sees the same machine: every round runs
 * each graph `runsPerRound` times in turn, the graph that starts rotating from round to round.
 * On a shared or throttling machine, speed drifts over seconds; measuring one graph after the
 * other would put that drift into their ratio. All sessions stay open while measuring. The
 * feeds are the first graph's (seeded random inputs unless `feeds` is given). One result per
 * graph, in order.
 */
export async function compareLatency(graphs: readonly Graph[], backend: Backend | string, options: CompareLatencyOptions = {}): Promise<LatencyResult[]> {
  const rounds = options.rounds ?? 10;
  const runsPerRound = options.runsPerRound ?? 5;
  const warmup = options.warmup ?? 3;
  for (const [name, value] of [['rounds', rounds], ['runsPerRound', runsPerRound]] as const) {
    if (!Number.isInteger(value) || value < 1) fail(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer, not ${value}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) fail(ErrorCodes.INVALID_ARGUMENT, `warmup must be a non-negative integer, not ${warmup}`);
  if (graphs.length === 0) fail(ErrorCodes.INVALID_ARGUMENT, 'compareLatency needs at least one graph');
  const feeds = options.feeds ?? randomInputs(graphs[0]!, options);
  const engine = await resolveBackend(backend);
  const sessions: BackendSession[] = [];
  const times: number[][] = graphs.map(() => []);
  try {
    for (const graph of graphs) sessions.push(await engine.createSession(graph, options.threads === undefined ? {} : { threads: options.threads }));
    for (const session of sessions) for (let run = 0; run < warmup; run++) await session.run(feeds);
    for (let round = 0; round < rounds; round++) {
      for (let turn = 0; turn < sessions.length; turn++) {
        const index = (round + turn) % sessions.length;
        for (let run = 0; run < runsPerRound; run++) {
          const start = performance.now();
          await sessions[index]!.run(feeds);
          times[index]!.push(performance.now() - start);
        }
      }
    }
  } finally {
    for (const session of sessions) await session.release();
  }
  return times.map((values) => {
    const sorted = [...values].sort((left, right) => left - right);
    return {
      meanMs: values.reduce((sum, time) => sum + time, 0) / values.length,
      medianMs: percentile(sorted, 0.5),
      p90Ms: percentile(sorted, 0.9),
      minMs: sorted[0]!,
      runs: values.length,
    };
  });
}

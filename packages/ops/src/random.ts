import { ErrorCodes, fail } from '@razor/core';

/**
 * A small seeded pseudo-random generator (mulberry32: 32-bit state, period 2^32).
 * Deterministic across platforms, so a model built with the same seed has the same
 * weights everywhere. Not for cryptography.
 */
export class SeededRandom {
  #state: number;

  constructor(seed = 0) {
    if (!Number.isInteger(seed)) fail(ErrorCodes.INVALID_ARGUMENT, `seed ${seed} is not an integer; pass an integer seed`);
    this.#state = seed >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let value = this.#state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform number in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A standard normal sample (Box-Muller). */
  normal(mean = 0, std = 1): number {
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    return mean + std * radius * Math.cos(2 * Math.PI * this.next());
  }

  /** Fills `target` with uniform values in [low, high), in one pass. */
  fillUniform(target: Float32Array, low: number, high: number): Float32Array {
    const range = high - low;
    for (let index = 0; index < target.length; index++) target[index] = low + range * (this.nextUint32() / 4294967296);
    return target;
  }

  /** Fills `target` with normal samples. */
  fillNormal(target: Float32Array, mean: number, std: number): Float32Array {
    for (let index = 0; index < target.length; index++) target[index] = this.normal(mean, std);
    return target;
  }
}

let current = new SeededRandom(0);

/**
 * The generator layers use when none is passed: seeded with 0 at start-up and by
 * `manualSeed`, and replaced for the duration of `withRandom`.
 */
export function currentRandom(): SeededRandom {
  return current;
}

/** Re-seeds the default generator (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  current = new SeededRandom(seed);
}

/**
 * Runs `build` with `random` as the default generator, so every layer it constructs
 * draws its initial weights from it in construction order; restores the previous one after.
 */
export function withRandom<T>(random: SeededRandom, build: () => T): T {
  const previous = current;
  current = random;
  try {
    return build();
  } finally {
    current = previous;
  }
}

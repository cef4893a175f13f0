import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { BACKEND_SPECIFICATION_VERSION, type Backend } from './backend.js';
import { clearBackendsForTesting, listBackends, registerBackend, resolveBackend } from './backend-registry.js';
import { rejectionOf as rejection } from '../testing/razor-errors.js';

/** A backend that records how often it was made and initialised, and can fail either step. */
function countingBackend(name: string, behaviour: { factoryError?: string; initError?: string } = {}) {
  const counts = { factory: 0, init: 0 };
  const backend: Backend = {
    specificationVersion: BACKEND_SPECIFICATION_VERSION,
    name,
    async init() {
      counts.init++;
      if (behaviour.initError) throw new Error(behaviour.initError);
    },
    async createSession() {
      throw new Error('not used here');
    },
  };
  const factory = () => {
    counts.factory++;
    if (behaviour.factoryError) throw new Error(behaviour.factoryError);
    return backend;
  };
  return { backend, factory, counts };
}

afterEach(() => clearBackendsForTesting());

describe('backend registry', () => {
  it('creates and initialises a backend lazily, once, even under concurrent resolution', async () => {
    const cpu = countingBackend('cpu');
    registerBackend('cpu', cpu.factory, 1);
    expect(cpu.counts).toEqual({ factory: 0, init: 0 });
    const resolved = await Promise.all([resolveBackend(), resolveBackend('cpu'), resolveBackend(['cpu'])]);
    expect(resolved.every((backend) => backend === cpu.backend)).toBe(true);
    await resolveBackend('cpu');
    expect(cpu.counts).toEqual({ factory: 1, init: 1 });
  });

  it('orders backends by priority and falls back past one that fails', async () => {
    const fast = countingBackend('fast', { initError: 'native library missing' });
    const slow = countingBackend('slow');
    registerBackend('slow', slow.factory, 10);
    registerBackend('fast', fast.factory, 100);
    expect(listBackends()).toEqual(['fast', 'slow']);
    expect(await resolveBackend()).toBe(slow.backend);
    expect(fast.counts).toEqual({ factory: 1, init: 1 });
  });

  it('remembers a failure instead of initialising again', async () => {
    const broken = countingBackend('broken', { factoryError: 'no GPU' });
    const fallback = countingBackend('fallback');
    registerBackend('broken', broken.factory, 5);
    registerBackend('fallback', fallback.factory, 1);
    await resolveBackend();
    await resolveBackend();
    const error = await rejection(resolveBackend('broken'));
    expect(error.message).toMatch(/broken: no GPU/);
    expect(broken.counts.factory).toBe(1);
    expect(fallback.counts).toEqual({ factory: 1, init: 1 });
  });

  it('names every backend tried, and why, in one combined error', async () => {
    registerBackend('gpu', countingBackend('gpu', { initError: 'CUDA driver not found' }).factory, 50);
    registerBackend('wasm', countingBackend('wasm', { factoryError: 'WebAssembly disabled' }).factory, 20);
    const error = await rejection(resolveBackend());
    expect(error.code).toBe(ErrorCodes.BACKEND_UNAVAILABLE);
    expect(error.message).toBe('no backend could be initialised:\n  gpu: CUDA driver not found\n  wasm: WebAssembly disabled');
    const named = await rejection(resolveBackend(['missing', 'gpu']));
    expect(named.message).toBe(
      'no backend could be initialised:\n  missing: not registered (registered: gpu, wasm)\n  gpu: CUDA driver not found',
    );
  });

  it('refuses a backend of another specification version', async () => {
    registerBackend('old', () => ({ ...countingBackend('old').backend, specificationVersion: 'v0' as never }), 1);
    const error = await rejection(resolveBackend('old'));
    expect(error.message).toMatch(/old: backend 'old' implements specification v0, but this @razor\/core expects v1/);
  });

  it('explains what to do when nothing is registered, and passes a Backend object through', async () => {
    const error = await rejection(resolveBackend());
    expect(error.code).toBe(ErrorCodes.BACKEND_UNAVAILABLE);
    expect(error.message).toMatch(/no backend is registered; install one/);
    const explicit = countingBackend('explicit');
    expect(await resolveBackend(explicit.backend)).toBe(explicit.backend);
    expect(explicit.counts.init).toBe(0);
  });

  it('keeps the higher-priority registration of a name', async () => {
    const first = countingBackend('first');
    const second = countingBackend('second');
    registerBackend('shared', first.factory, 10);
    registerBackend('shared', second.factory, 5);
    expect(await resolveBackend('shared')).toBe(first.backend);
  });
});

import { ErrorCodes, fail } from '../errors.js';

/**
 * A learning-rate schedule: the rate for a 0-based optimizer step. Schedules are plain
 * functions of the step, so a resumed run gets exactly the rates of an uninterrupted one.
 */
export type LearningRateSchedule = (step: number) => number;

function requireNonNegativeInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) fail(ErrorCodes.INVALID_ARGUMENT, `${name} must be a non-negative integer, got ${value}`);
}

function requirePositiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) fail(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer, got ${value}`);
}

function requireRate(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0) fail(ErrorCodes.INVALID_ARGUMENT, `${name} must be a finite, non-negative learning rate, got ${value}`);
}

function checkStep(step: number): void {
  requireNonNegativeInteger(step, 'step');
}

/** The same rate at every step. */
export function constantSchedule(rate: number): LearningRateSchedule {
  requireRate(rate, 'rate');
  return (step) => {
    checkStep(step);
    return rate;
  };
}

/** PyTorch's StepLR: `rate × gamma^floor(step / stepSize)`. */
export function stepSchedule(rate: number, options: { stepSize: number; gamma?: number }): LearningRateSchedule {
  requireRate(rate, 'rate');
  requirePositiveInteger(options.stepSize, 'stepSize');
  const gamma = options.gamma ?? 0.1;
  return (step) => {
    checkStep(step);
    return rate * gamma ** Math.floor(step / options.stepSize);
  };
}

/** PyTorch's MultiStepLR: multiply by `gamma` at each milestone step. */
export function multiStepSchedule(rate: number, options: { milestones: readonly number[]; gamma?: number }): LearningRateSchedule {
  requireRate(rate, 'rate');
  const milestones = [...options.milestones].sort((left, right) => left - right);
  milestones.forEach((milestone) => requireNonNegativeInteger(milestone, 'a milestone'));
  const gamma = options.gamma ?? 0.1;
  return (step) => {
    checkStep(step);
    let passed = 0;
    while (passed < milestones.length && milestones[passed]! <= step) passed++;
    return rate * gamma ** passed;
  };
}

/**
 * PyTorch's CosineAnnealingLR (closed form): from `rate` at step 0 to `minimum` at
 * `totalSteps`, staying at `minimum` afterwards.
 */
export function cosineSchedule(rate: number, options: { totalSteps: number; minimum?: number }): LearningRateSchedule {
  requireRate(rate, 'rate');
  requirePositiveInteger(options.totalSteps, 'totalSteps');
  const minimum = options.minimum ?? 0;
  requireRate(minimum, 'minimum');
  return (step) => {
    checkStep(step);
    const progress = Math.min(step, options.totalSteps) / options.totalSteps;
    return minimum + ((rate - minimum) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}

/**
 * Linear warm-up in front of another schedule: the rate rises linearly from
 * `startFactor × after(0)` at step 0 to `after(0)` at step `warmupSteps`; then `after`
 * continues, counted from the end of the warm-up.
 */
export function linearWarmup(after: LearningRateSchedule, options: { warmupSteps: number; startFactor?: number }): LearningRateSchedule {
  requireNonNegativeInteger(options.warmupSteps, 'warmupSteps');
  const startFactor = options.startFactor ?? 0;
  if (!(startFactor >= 0 && startFactor <= 1)) fail(ErrorCodes.INVALID_ARGUMENT, `startFactor must be between 0 and 1, got ${startFactor}`);
  return (step) => {
    checkStep(step);
    if (step >= options.warmupSteps) return after(step - options.warmupSteps);
    const fraction = startFactor + ((1 - startFactor) * step) / options.warmupSteps;
    return after(0) * fraction;
  };
}

/**
 * PyTorch's OneCycleLR with cosine annealing (three_phase false): from
 * `maxRate / divFactor` up to `maxRate` over `pctStart` of the steps, then down to
 * `maxRate / (divFactor × finalDivFactor)` at the last step.
 */
export function oneCycleSchedule(
  maxRate: number,
  options: { totalSteps: number; pctStart?: number; divFactor?: number; finalDivFactor?: number },
): LearningRateSchedule {
  requireRate(maxRate, 'maxRate');
  requirePositiveInteger(options.totalSteps, 'totalSteps');
  const pctStart = options.pctStart ?? 0.3;
  if (!(pctStart > 0 && pctStart < 1)) fail(ErrorCodes.INVALID_ARGUMENT, `pctStart must be between 0 and 1 (exclusive), got ${pctStart}`);
  const initial = maxRate / (options.divFactor ?? 25);
  const final = initial / (options.finalDivFactor ?? 1e4);
  // PyTorch's phase ends: step pctStart × total − 1, then total − 1.
  const peakStep = pctStart * options.totalSteps - 1;
  const lastStep = options.totalSteps - 1;
  const anneal = (start: number, end: number, fraction: number): number => end + ((start - end) * (1 + Math.cos(Math.PI * fraction))) / 2;
  return (step) => {
    checkStep(step);
    if (step <= peakStep) return anneal(initial, maxRate, peakStep <= 0 ? 1 : step / peakStep);
    const fraction = Math.min(1, (step - peakStep) / (lastStep - peakStep));
    return anneal(maxRate, final, fraction);
  };
}

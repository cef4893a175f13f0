import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { catchRazorError } from '../testing/razor-errors.js';
import { constantSchedule, cosineSchedule, linearWarmup, multiStepSchedule, oneCycleSchedule, stepSchedule, type LearningRateSchedule } from './schedules.js';

// Rates PyTorch 1.13's schedulers give at each step (torch.optim.lr_scheduler, base rate 0.1),
// computed with /usr/bin/python3 and inlined here.
const pytorch = {"step": [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125], "multistep": [0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.00010000000000000003, 0.00010000000000000003, 0.00010000000000000003], "cosine": [0.1, 0.0965745789630079, 0.08681980515339463, 0.07222075445642905, 0.055, 0.03777924554357096, 0.023180194846605363, 0.013425421036992097], "onecycle": [0.0040000000000000036, 0.013167184270002533, 0.037167184270002526, 0.06683281572999747, 0.09083281572999748, 0.1, 0.09874640062350874, 0.09504846320134738, 0.089091617757105, 0.0811745653949763, 0.07169430017913009, 0.06112620219362893, 0.0500002, 0.03887419780637107, 0.028306099820869922, 0.0188258346050237, 0.010908782242895003, 0.004951936798652629, 0.0012539993764912555, 4e-07], "warmup": [0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002]};

function rates(schedule: LearningRateSchedule, steps: number): number[] {
  return Array.from({ length: steps }, (_, step) => schedule(step));
}

function expectClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, index) => expect(value, `step ${index}`).toBeCloseTo(expected[index]!, 10));
}

describe('learning-rate schedules match PyTorch', () => {
  it('StepLR', () => expectClose(rates(stepSchedule(0.1, { stepSize: 3, gamma: 0.5 }), 10), pytorch.step));
  it('MultiStepLR', () => expectClose(rates(multiStepSchedule(0.1, { milestones: [5, 2, 7] }), 10), pytorch.multistep));
  it('CosineAnnealingLR', () => expectClose(rates(cosineSchedule(0.1, { totalSteps: 8, minimum: 0.01 }), 8), pytorch.cosine));
  it('OneCycleLR (cosine)', () => expectClose(rates(oneCycleSchedule(0.1, { totalSteps: 20 }), 20), pytorch.onecycle));
  it('LinearLR warm-up into a constant rate', () =>
    expectClose(rates(linearWarmup(constantSchedule(0.1), { warmupSteps: 4, startFactor: 0.25 }), 8), pytorch.warmup));
});

describe('schedule arguments', () => {
  it('warm-up hands over to the schedule counted from its end', () => {
    const schedule = linearWarmup(stepSchedule(0.1, { stepSize: 2, gamma: 0.5 }), { warmupSteps: 3 });
    expectClose(rates(schedule, 7), [0, 0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.05, 0.05]);
  });

  it('cosine stays at its minimum after the last step', () => {
    expect(cosineSchedule(0.1, { totalSteps: 4, minimum: 0.002 })(10)).toBeCloseTo(0.002, 12);
  });

  it.each([
    ['a negative rate', () => constantSchedule(-1)],
    ['a zero step size', () => stepSchedule(0.1, { stepSize: 0 })],
    ['a fractional milestone', () => multiStepSchedule(0.1, { milestones: [1.5] })],
    ['zero total steps', () => cosineSchedule(0.1, { totalSteps: 0 })],
    ['pctStart of 1', () => oneCycleSchedule(0.1, { totalSteps: 10, pctStart: 1 })],
    ['a negative step', () => constantSchedule(0.1)(-1)],
  ])('rejects %s with RAZOR_INVALID_ARGUMENT', (_what, action) => {
    expect(catchRazorError(action).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});

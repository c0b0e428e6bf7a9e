/**
 * Schedules beyond the Keras runs (those check every schedule's values and config): the
 * options the runs do not use, against the formulas evaluated in float64, and validation.
 */
import { describe, expect, it } from 'vitest';
import { schedules, LearningRateSchedule } from '../../dist/src/index.js';

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.abs(b) + 1e-9;

describe('schedule formulas (float64 reference, float32 result)', () => {
  it('PolynomialDecay with cycle restarts at multiples of decaySteps', () => {
    const s = new schedules.PolynomialDecay({
      initialLearningRate: 0.1,
      decaySteps: 4,
      endLearningRate: 0.01,
      power: 0.5,
      cycle: true,
    });
    for (const step of [0, 1, 4, 5, 9, 12]) {
      const steps = 4 * (step === 0 ? 1 : Math.ceil(step / 4));
      const want = (0.1 - 0.01) * Math.pow(1 - step / steps, 0.5) + 0.01;
      expect(close(s(step), want), `step ${step}: ${s(step)} vs ${want}`).toBe(true);
      expect(s(step)).toBe(Math.fround(s(step)));
    }
  });
  it('CosineDecay without warmup holds at alpha * initial after decaySteps', () => {
    const s = new schedules.CosineDecay({ initialLearningRate: 0.2, decaySteps: 10, alpha: 0.1 });
    for (const step of [0, 3, 10, 25]) {
      const t = Math.min(step, 10) / 10;
      const want = 0.2 * ((1 - 0.1) * 0.5 * (1 + Math.cos(Math.PI * t)) + 0.1);
      expect(close(s(step), want), `step ${step}`).toBe(true);
    }
  });
  it('CosineDecayRestarts with tMul = 1 restarts every period, peaks scaled by mMul', () => {
    const s = new schedules.CosineDecayRestarts({ initialLearningRate: 1, firstDecaySteps: 5, tMul: 1, mMul: 0.5 });
    for (const step of [0, 2, 5, 7, 10, 13]) {
      const restart = Math.floor(step / 5);
      const fraction = step / 5 - restart;
      const want = Math.pow(0.5, restart) * 0.5 * (1 + Math.cos(Math.PI * fraction));
      expect(close(s(step), want), `step ${step}: ${s(step)} vs ${want}`).toBe(true);
    }
  });
  it('InverseTimeDecay with staircase decays in whole periods', () => {
    const s = new schedules.InverseTimeDecay({
      initialLearningRate: 0.1,
      decaySteps: 3,
      decayRate: 1,
      staircase: true,
    });
    expect([0, 2, 3, 5, 6].map((step) => s(step))).toEqual([0.1, 0.1, 0.05, 0.05, 0.1 / 3].map(Math.fround));
  });
  it('PiecewiseConstantDecay: boundaries belong to the interval they close', () => {
    const s = new schedules.PiecewiseConstantDecay({ boundaries: [10, 20], values: [1, 0.5, 0.25] });
    expect([0, 10, 11, 20, 21].map((step) => s(step))).toEqual([1, 1, 0.5, 0.5, 0.25]);
  });
});

describe('schedule objects', () => {
  it('are functions with a name and a Keras config', () => {
    const s = new schedules.ExponentialDecay({
      initialLearningRate: 0.1,
      decaySteps: 10,
      decayRate: 0.9,
      name: 'decay',
    });
    expect(typeof s).toBe('function');
    expect(s).toBeInstanceOf(LearningRateSchedule);
    expect(s).toBeInstanceOf(schedules.ExponentialDecay);
    expect(s.name).toBe('decay');
    expect(Object.keys(s.getConfig())).toEqual([
      'initial_learning_rate',
      'decay_steps',
      'decay_rate',
      'staircase',
      'name',
    ]);
  });
  it('round-trip through serialize / deserialize', () => {
    const s = new schedules.CosineDecayRestarts({ initialLearningRate: 0.1, firstDecaySteps: 3, mMul: 0.9 });
    const copy = schedules.deserializeSchedule(schedules.serializeSchedule(s));
    expect(copy.getConfig()).toEqual(s.getConfig());
    expect([1, 4, 9].map((x) => copy(x))).toEqual([1, 4, 9].map((x) => s(x)));
  });
  it('refuse bad arguments, naming them', () => {
    expect(() => new schedules.ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 0, decayRate: 0.5 })).toThrow(
      /`decaySteps` must be > 0/,
    );
    expect(() => new schedules.PiecewiseConstantDecay({ boundaries: [1, 2], values: [1, 2] })).toThrow(
      /`boundaries` should be 1 less/,
    );
    expect(() => new schedules.PolynomialDecay({ decaySteps: 3 } as never)).toThrow(
      /`initialLearningRate` is required/,
    );
    expect(() => new schedules.CosineDecay({ initialLearningRate: 1, decaySteps: 2, warmupSteps: -1 })).toThrow(
      /`warmupSteps` must be >= 0/,
    );
    // RMSprop's kinds: a config cannot hold an infinity (JSON has none)
    expect(
      () => new schedules.ExponentialDecay({ initialLearningRate: Infinity, decaySteps: 2, decayRate: 1 }),
    ).toThrow('ExponentialDecay: `initialLearningRate` must be a finite number, got Infinity (number)');
    expect(() => new schedules.PiecewiseConstantDecay({ boundaries: [1], values: [1, NaN] })).toThrow(
      '`values` must be an array of finite numbers',
    );
    expect(
      () =>
        new schedules.InverseTimeDecay({ initialLearningRate: 1, decaySteps: 2, decayRate: 1, stairs: true } as never),
    ).toThrow(/unknown option\(s\) 'stairs'; it takes initialLearningRate, decaySteps, decayRate, staircase, name/);
    // Keras's snake_case spelling: the hint names the camelCase option
    expect(
      () => new schedules.ExponentialDecay({ initial_learning_rate: 1, decaySteps: 2, decayRate: 1 } as never),
    ).toThrow(
      "ExponentialDecay: unknown option(s) 'initial_learning_rate'; options are camelCase ('initialLearningRate')",
    );
    const s = new schedules.PiecewiseConstantDecay({ boundaries: [1], values: [1, 2] });
    expect(() => s(NaN)).toThrow(/step must be a number/);
  });
});

/**
 * The step planner, pure: what Keras's `apply` does on the call after `steps` calls. Expected
 * values are written by hand from Keras's rules (keras/src/optimizers/base_optimizer.py):
 * with accumulation, a call updates when `(_iterations + 1) % k == 0` and only accumulates
 * otherwise; `iterations` is `_iterations // k`; EMA's momentum is 0 while `iterations == 0`;
 * the variables are overwritten when `(iterations + 1) % ema_overwrite_frequency == 0`;
 * `_clip_gradients` takes the first of clipnorm, global_clipnorm, clipvalue that is set and > 0.
 */
import { describe, expect, it } from 'vitest';
import { AccumulationMode, ClipMode, STEP_WORDS } from '../../dist/src/kernels/rmsprop-words.js';
import {
  appliedIterations,
  planStep,
  stepBlocks,
  writeClipping,
  writeConstants,
  writeStep,
  type StepOptions,
} from '../../dist/src/optimizer/step-plan.js';
import { DTYPES } from '../../dist/src/memory/dtype.js';

const { Off, Accumulate, ApplyAccumulated } = AccumulationMode;

function options(overrides: Partial<StepOptions> = {}): StepOptions {
  return {
    gradientAccumulationSteps: null,
    useEma: false,
    emaMomentum: 0.99,
    emaOverwriteFrequency: null,
    clipnorm: null,
    globalClipnorm: null,
    clipvalue: null,
    ...overrides,
  };
}

describe('planStep', () => {
  it('without accumulation every call updates, with the learning rate it is given', () => {
    for (const steps of [0, 1, 7]) {
      const plan = planStep(options(), steps, 0.25);
      expect(plan.learningRate).toBe(0.25);
      expect(plan.accumulation).toBe(Off);
      expect(plan.clipMode).toBe(ClipMode.Off);
      expect(plan.norm).toBeNull();
      expect(plan.overwrite).toBe(0);
    }
  });

  it('with gradientAccumulationSteps 3, calls 3, 6, ... apply the accumulated gradients and the others accumulate', () => {
    const o = options({ gradientAccumulationSteps: 3 });
    const modes = [0, 1, 2, 3, 4, 5, 6].map((steps) => planStep(o, steps, 0.001).accumulation);
    expect(modes).toEqual([
      Accumulate,
      Accumulate,
      ApplyAccumulated,
      Accumulate,
      Accumulate,
      ApplyAccumulated,
      Accumulate,
    ]);
  });

  it('counts iterations as applied updates', () => {
    expect(appliedIterations(0, 3)).toBe(0);
    expect(appliedIterations(2, 3)).toBe(0);
    expect(appliedIterations(3, 3)).toBe(1);
    expect(appliedIterations(8, 3)).toBe(2);
    expect(appliedIterations(8, null)).toBe(8);
  });

  it("EMA's momentum is 0 on the first iteration, then emaMomentum (each dtype's words cast it)", () => {
    const o = options({ useEma: true, emaMomentum: 0.99 });
    expect(planStep(o, 0, 0.001)).toMatchObject({ emaMomentum: 0 });
    expect(planStep(o, 1, 0.001)).toMatchObject({ emaMomentum: 0.99 });
  });

  it("EMA's first iteration spans the first gradientAccumulationSteps calls", () => {
    const o = options({ useEma: true, emaMomentum: 0.99, gradientAccumulationSteps: 2 });
    expect([0, 1, 2, 3].map((steps) => planStep(o, steps, 0.001).emaMomentum)).toEqual([0, 0, 0.99, 0.99]);
  });

  it('overwrites the variables with their averages every emaOverwriteFrequency iterations', () => {
    const o = options({ useEma: true, emaOverwriteFrequency: 3 });
    expect([0, 1, 2, 3, 4, 5, 6].map((steps) => planStep(o, steps, 0.001).overwrite)).toEqual([0, 0, 1, 0, 0, 1, 0]);
    // iterations, not calls: with accumulation the whole iteration's calls see the same value
    const accumulating = options({ useEma: true, emaOverwriteFrequency: 2, gradientAccumulationSteps: 2 });
    expect([0, 1, 2, 3, 4, 5].map((steps) => planStep(accumulating, steps, 0.001).overwrite)).toEqual([
      0, 0, 1, 1, 0, 0,
    ]);
    // no EMA, no overwrite
    expect(planStep(options({ emaOverwriteFrequency: 1 }), 0, 0.001).overwrite).toBe(0);
  });

  it('clipnorm runs a norm phase per variable against clipnorm', () => {
    const plan = planStep(options({ clipnorm: 1.5 }), 0, 0.001);
    expect(plan.clipMode).toBe(ClipMode.Norm);
    expect(plan.norm).toEqual({ mode: ClipMode.Norm, limit: 1.5 });
  });

  it('globalClipnorm runs a norm phase over all variables against globalClipnorm', () => {
    const plan = planStep(options({ globalClipnorm: 2 }), 0, 0.001);
    expect(plan.clipMode).toBe(ClipMode.GlobalNorm);
    expect(plan.norm).toEqual({ mode: ClipMode.GlobalNorm, limit: 2 });
  });

  it('clipvalue clips in the update phase, with no norm phase', () => {
    const plan = planStep(options({ clipvalue: 0.5 }), 0, 0.001);
    expect(plan.clipMode).toBe(ClipMode.Value);
    expect(plan.norm).toBeNull();
  });

  it('a clip of 0 clips nothing (Keras clips only when the value is > 0)', () => {
    for (const clip of [{ clipnorm: 0 }, { globalClipnorm: 0 }, { clipvalue: 0 }]) {
      const plan = planStep(options(clip), 0, 0.001);
      expect(plan.clipMode).toBe(ClipMode.Off);
      expect(plan.norm).toBeNull();
    }
  });

  it('clips only on the calls that update, not on those that only accumulate', () => {
    const o = options({ clipnorm: 1, gradientAccumulationSteps: 2 });
    expect(planStep(o, 0, 0.001)).toMatchObject({ accumulation: Accumulate, clipMode: ClipMode.Off, norm: null });
    expect(planStep(o, 1, 0.001)).toMatchObject({
      accumulation: ApplyAccumulated,
      clipMode: ClipMode.Norm,
      norm: { mode: ClipMode.Norm, limit: 1 },
    });
  });
});

describe('writing a plan', () => {
  it('puts the plan into the named words, the clip mode only once writeClipping runs', () => {
    const blocks = stepBlocks(new Float64Array(STEP_WORDS.length * DTYPES.length));
    const words = blocks[DTYPES.indexOf('float32')]!.words;
    const plan = planStep(options({ useEma: true, emaOverwriteFrequency: 2, clipvalue: 0.5 }), 1, 0.125);
    writeStep(blocks, plan);
    expect(words.learningRate).toBe(0.125);
    expect(words.accumulation).toBe(Off);
    expect(words.emaMomentum).toBe(0.9900000095367432);
    expect(words.emaOneMinusMomentum).toBe(0.009999990463256836);
    expect(words.overwrite).toBe(1);
    expect(words.clipMode).toBe(ClipMode.Off); // the norm phase, if any, sums unclipped gradients
    writeClipping(blocks, plan);
    expect(words.clipMode).toBe(ClipMode.Value);
  });

  it("casts each dtype's words as Keras casts a Python float: float32 for float32 and float64, straight to float16", () => {
    const blocks = stepBlocks(new Float64Array(STEP_WORDS.length * DTYPES.length));
    const o = options({ useEma: true, emaMomentum: 0.99 });
    const constants = { ...o, rho: 0.9, epsilon: 1e-7, momentum: 0, lossScaleFactor: null, weightDecay: null };
    writeConstants(blocks, constants as Parameters<typeof writeConstants>[1]);
    writeStep(blocks, planStep(o, 1, Math.fround(0.01)));
    const of = (dtype: string) => blocks[DTYPES.indexOf(dtype as never)]!.words;
    expect(of('float64').rho).toBe(Math.fround(0.9));
    expect(of('float16').rho).toBe(0.89990234375);
    expect(of('float16').oneMinusRho).toBe(0.0999755859375); // 1 - 0.9 in Python, then float16
    expect(of('float16').epsilon).toBe(2 * 2 ** -24); // 1e-7: a float16 subnormal
    expect(of('float16').learningRate).toBe(0.01000213623046875);
    // the EMA's 1 - momentum is computed in float16 from the float16 momentum, not cast from 0.01
    expect(of('float16').emaMomentum).toBe(0.990234375);
    expect(of('float16').emaOneMinusMomentum).toBe(0.009765625);
    expect(of('bfloat16').emaOneMinusMomentum).toBe(0.01171875);
  });
});

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
  stepWords,
  StepWordsWriter,
  writeStepWords,
  type StepOptions,
  type StepWordsInput,
} from '../../dist/src/optimizer/step-plan.js';
import { DTYPES, type DType } from '../../dist/src/memory/dtype.js';
import { resolveOptions } from '../../dist/src/optimizer/options.js';

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

describe('stepWords: every word of a step, as Keras computes it for a dtype', () => {
  /** Rounding of a normal double to `bits` significant bits, half to even, by hand (float16: 11, bfloat16: 8). */
  const round = (bits: number) => (x: number) => {
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(x))) - (bits - 1));
    const q = x / ulp;
    const r = Math.round(q);
    return (Math.abs(q - Math.trunc(q)) === 0.5 && r % 2 !== 0 ? r - 1 : r) * ulp;
  };
  /** The words of one dtype's block for a step. */
  function words(dtype: DType, input: Partial<StepWordsInput> & { options: StepWordsInput['options'] }) {
    const into = {} as Record<string, number>;
    const plan = input.plan ?? planStep(input.options, 1, Math.fround(0.01));
    stepWords(into as never, dtype, { lossScale: null, phase: 'update', globalScale: 0, ...input, plan });
    return into;
  }

  it('sets every word of the block and reads none', () => {
    const written: Record<string, number> = {};
    const into = new Proxy(written, {
      get: (_t, name) => expect.unreachable(`read ${String(name)}`),
      set: (t, name, value: number) => ((t[name as string] = value), true),
    });
    const options = resolveOptions({ momentum: 0.9, centered: true, useEma: true, clipnorm: 1, weightDecay: 0.1 });
    stepWords(into as never, 'float32', {
      options,
      plan: planStep(options, 3, 0.001),
      lossScale: null,
      phase: 'update',
      globalScale: 0,
    });
    expect(Object.keys(written).sort()).toEqual([...STEP_WORDS.names].sort());
  });

  it('the constants: each hyperparameter cast to float32 for float32 and float64, straight to float16 or bfloat16', () => {
    const options = resolveOptions({ useEma: true, emaMomentum: 0.99, epsilon: 1e-7 });
    expect(words('float64', { options }).rho).toBe(Math.fround(0.9));
    const half = words('float16', { options });
    expect(half.rho).toBe(0.89990234375);
    expect(half.oneMinusRho).toBe(0.0999755859375); // 1 - 0.9 in Python, then float16
    expect(half.epsilon).toBe(2 * 2 ** -24); // 1e-7: a float16 subnormal
    expect(half.learningRate).toBe(0.01000213623046875);
    // the EMA's 1 - momentum is computed in float16 from the float16 momentum, not cast from 0.01
    expect(half.emaMomentum).toBe(0.990234375);
    expect(half.emaOneMinusMomentum).toBe(0.009765625);
    expect(words('bfloat16', { options }).emaOneMinusMomentum).toBe(0.01171875);
    expect(half.momentum).toBe(0); // no momentum slot
    expect([half.weightDecayOn, half.weightDecay, half.unscale, half.lossScale]).toEqual([0, 0, 0, 0]);
  });

  it('the plan: learning rate, accumulation, EMA and its overwrite', () => {
    const options = resolveOptions({ useEma: true, emaOverwriteFrequency: 2, clipvalue: 0.5 });
    const w = words('float32', { options, plan: planStep(options, 1, 0.125) });
    expect(w).toMatchObject({ learningRate: 0.125, accumulation: Off, ema: 1, overwrite: 1 });
    expect(w.emaMomentum).toBe(0.9900000095367432);
    expect(w.emaOneMinusMomentum).toBe(0.009999990463256836);
    const accumulating = resolveOptions({ gradientAccumulationSteps: 3 });
    const first = words('float32', { options: accumulating, plan: planStep(accumulating, 0, 0.1) });
    expect(first).toMatchObject({ accumulation: Accumulate, accumulationSteps: 3 });
    expect(words('float32', { options: accumulating, plan: planStep(accumulating, 2, 0.1) }).accumulation).toBe(
      ApplyAccumulated,
    );
  });

  // option x dtype x loss scale x phase: the clip mode, the clip word, the gradient stage's precision
  const clippings = [
    ['clipnorm', { clipnorm: 0.3 }, ClipMode.Norm],
    ['clipvalue', { clipvalue: 0.3 }, ClipMode.Value],
    ['globalClipnorm', { globalClipnorm: 0.3 }, ClipMode.GlobalNorm],
    ['no clipping', {}, ClipMode.Off],
  ] as const;
  const table = clippings.flatMap(([name, clip, mode]) =>
    DTYPES.flatMap((dtype) =>
      [null, 1024].flatMap((lossScale) =>
        (['norm', 'update'] as const).map((phase) => [name, dtype, lossScale, phase, clip, mode] as const),
      ),
    ),
  );
  it.each(table)('%s, %s, loss scale %s, %s phase', (_name, dtype, lossScale, phase, clip, mode) => {
    const options = resolveOptions(clip);
    const globalScale = 0.1234567890123;
    const w = words(dtype, { options, lossScale, phase, globalScale });
    const half = dtype === 'float16' || dtype === 'bfloat16';
    const wide = lossScale !== null && (half || dtype === 'float64');
    // Keras's float32 loss scale makes a half or float64 gradient float32: clipped in float32, with float32 limits
    const cast = wide || !half ? Math.fround : round(dtype === 'float16' ? 11 : 8);
    expect(w.clipMode).toBe(phase === 'norm' ? ClipMode.Off : mode); // the norm phase sums unclipped gradients
    expect(w.wideGradient).toBe(wide ? 1 : 0);
    expect([w.unscale, w.lossScale]).toEqual(lossScale === null ? [0, 0] : [1, 1024]);
    const expected =
      mode === ClipMode.GlobalNorm
        ? phase === 'norm'
          ? 0
          : dtype === 'float64' && !wide
            ? globalScale // numpy's double scale, not rounded for a float64 gradient
            : cast(globalScale)
        : mode === ClipMode.Off
          ? 0
          : cast(0.3);
    expect(w.clip).toBe(expected);
    if (half && !wide && mode !== ClipMode.Off && !(mode === ClipMode.GlobalNorm && phase === 'norm')) {
      expect(w.clip).not.toBe(Math.fround(mode === ClipMode.GlobalNorm ? globalScale : 0.3)); // not float32's cast
    }
  });

  it('a float64 gradient a loss scale made float32 is float64 again once accumulation meets its accumulator', () => {
    const options = resolveOptions({ globalClipnorm: 0.3, gradientAccumulationSteps: 2 });
    const globalScale = 0.1234567890123;
    const at = (steps: number) =>
      words('float64', { options, lossScale: 1024, globalScale, plan: planStep(options, steps, 0.01) });
    expect(at(1).accumulation).toBe(AccumulationMode.ApplyAccumulated);
    expect(at(1).clip).toBe(globalScale); // `(g + acc) / steps` is float64: numpy keeps the double scale
    const plain = resolveOptions({ globalClipnorm: 0.3 });
    expect(words('float64', { options: plain, lossScale: 1024, globalScale }).clip).toBe(Math.fround(globalScale));
  });

  it('StepWordsWriter: the words of writeStepWords, its one input record refilled at each call', () => {
    const options = resolveOptions({ globalClipnorm: 1, useEma: true });
    const [mine, reference] = [0, 1].map(() => new Float64Array(STEP_WORDS.length * DTYPES.length));
    const [ours, theirs] = [stepBlocks(mine!), stepBlocks(reference!)];
    const writer = new StepWordsWriter(ours, options);
    for (const [steps, phase, globalScale] of [
      [0, 'norm', 0],
      [0, 'update', 0.25],
      [1, 'update', 0.5],
    ] as const) {
      const plan = planStep(options, steps, 0.01);
      writer.write(plan, null, phase, globalScale);
      writeStepWords(theirs, { options, plan, lossScale: null, phase, globalScale });
      expect(mine).toEqual(reference);
      expect(ours[0]!.words.clipMode).toBe(phase === 'norm' ? ClipMode.Off : ClipMode.GlobalNorm);
    }
  });

  it('writeStepWords: each dtype block gets its own words', () => {
    const blocks = stepBlocks(new Float64Array(STEP_WORDS.length * DTYPES.length));
    const options = resolveOptions({ rho: 0.9 });
    writeStepWords(blocks, {
      options,
      plan: planStep(options, 0, 0.01),
      lossScale: null,
      phase: 'update',
      globalScale: 0,
    });
    const of = (dtype: DType) => blocks[DTYPES.indexOf(dtype)]!.words;
    expect(of('float32').rho).toBe(Math.fround(0.9));
    expect(of('float16').rho).toBe(0.89990234375);
    expect(of('bfloat16').rho).toBe(0.8984375);
  });
});

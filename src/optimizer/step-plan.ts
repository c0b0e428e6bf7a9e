/**
 * What one step does, decided as Keras's `apply` decides it: from the options, the calls counted
 * so far and the learning rate, the values the step writes into its shared words and the phases
 * it runs. `planStep` is pure; the writers put a plan (or the words fixed for the optimizer's
 * life) into the words through their typed view, so no word is addressed by index here.
 */
import { AccumulationMode, ClipMode, STEP_WORDS, type StepWord } from '../kernels/rmsprop-words.js';
import type { WordView } from '../kernels/words.js';
import { DTYPES, hyperparameterCast, type DType } from '../memory/dtype.js';
import type { ResolvedOptions } from './options.js';

/** The step's scalar words, by name (`STEP_WORDS.view(...)`, made once at build). */
export type StepWords = WordView<StepWord>;

/**
 * One dtype's step words: each dtype's kernels read their own block, because Keras casts a
 * hyperparameter to each variable's dtype (`cast`: float32 for float32 and float64 variables,
 * straight from the double for half precision), and derived values (the EMA's `1 - momentum`)
 * are computed in that dtype.
 */
export interface StepBlock {
  readonly dtype: DType;
  readonly words: StepWords;
  readonly cast: (x: number) => number;
}

/** The step blocks over `scalars` (DTYPES.length blocks of STEP_WORDS, in DTYPES order). */
export function stepBlocks(scalars: Float64Array): StepBlock[] {
  return DTYPES.map((dtype, i) => ({
    dtype,
    words: STEP_WORDS.view(scalars, i * STEP_WORDS.length),
    cast: hyperparameterCast(dtype),
  }));
}

export type AccumulationModeValue = (typeof AccumulationMode)[keyof typeof AccumulationMode];
export type ClipModeValue = (typeof ClipMode)[keyof typeof ClipMode];

/** The options a step's plan depends on. */
export type StepOptions = Pick<
  ResolvedOptions,
  | 'gradientAccumulationSteps'
  | 'useEma'
  | 'emaMomentum'
  | 'emaOverwriteFrequency'
  | 'clipnorm'
  | 'globalClipnorm'
  | 'clipvalue'
>;

/** Norm clipping: a norm phase, then the reduction of its sums against `limit`. */
export interface NormPlan {
  readonly mode: typeof ClipMode.Norm | typeof ClipMode.GlobalNorm;
  /** clipnorm or globalClipnorm. */
  readonly limit: number;
}

export interface StepPlan {
  /** float32, taken at the raw call count (Keras's `_iterations`). */
  readonly learningRate: number;
  readonly accumulation: AccumulationModeValue;
  /** 0 on the first applied iteration (Keras's average starts as the variable), else `emaMomentum` as given. */
  readonly emaMomentum: number;
  /** 1 when the variables take their moving averages after this step. */
  readonly overwrite: 0 | 1;
  /** The clipping the update phase applies: none when the step only accumulates. */
  readonly clipMode: ClipModeValue;
  /** The norm phase that runs before the update, or null. */
  readonly norm: NormPlan | null;
}

/** Keras's `iterations`: applied updates, counting `gradientAccumulationSteps` calls as one. */
export function appliedIterations(steps: number, accumulationSteps: number | null): number {
  return accumulationSteps ? Math.floor(steps / accumulationSteps) : steps;
}

/** Keras's `_clip_gradients`: the first of clipnorm, globalClipnorm and clipvalue that is set and positive. */
export function clipModeOf(o: Pick<ResolvedOptions, 'clipnorm' | 'globalClipnorm' | 'clipvalue'>): ClipModeValue {
  if (o.clipnorm && o.clipnorm > 0) return ClipMode.Norm;
  if (o.globalClipnorm && o.globalClipnorm > 0) return ClipMode.GlobalNorm;
  if (o.clipvalue && o.clipvalue > 0) return ClipMode.Value;
  return ClipMode.Off;
}

/**
 * The plan of the step after `steps` calls (Keras's `_iterations` before it counts this one):
 * with accumulation, every `k`-th call applies the accumulated gradients and the others only
 * accumulate; EMA and its overwrite follow the applied iterations; clipping only on steps that update.
 */
export function planStep(options: StepOptions, steps: number, learningRate: number): StepPlan {
  const k = options.gradientAccumulationSteps ?? 0;
  const accumulation =
    k === 0
      ? AccumulationMode.Off
      : (steps + 1) % k === 0
        ? AccumulationMode.ApplyAccumulated
        : AccumulationMode.Accumulate;
  const iterations = appliedIterations(steps, options.gradientAccumulationSteps);
  const emaMomentum = iterations === 0 ? 0 : options.emaMomentum;
  const frequency = options.emaOverwriteFrequency;
  const clipMode = accumulation === AccumulationMode.Accumulate ? ClipMode.Off : clipModeOf(options);
  return {
    learningRate,
    accumulation,
    emaMomentum,
    overwrite: options.useEma && frequency && (iterations + 1) % frequency === 0 ? 1 : 0,
    clipMode,
    norm:
      clipMode === ClipMode.Norm
        ? { mode: clipMode, limit: options.clipnorm! }
        : clipMode === ClipMode.GlobalNorm
          ? { mode: clipMode, limit: options.globalClipnorm! }
          : null,
  };
}

/**
 * Writes a plan into each dtype's step words. The clip mode stays Off: the norm phase sums the
 * unclipped gradients, and `writeClipping` sets it before the update phase.
 */
export function writeStep(blocks: readonly StepBlock[], plan: StepPlan): void {
  for (const { words, cast } of blocks) {
    words.learningRate = cast(plan.learningRate);
    words.accumulation = plan.accumulation;
    const momentum = cast(plan.emaMomentum);
    words.emaMomentum = momentum;
    words.emaOneMinusMomentum = cast(1 - momentum); // Keras: `1 - momentum` in the variable's dtype
    words.overwrite = plan.overwrite;
    words.clipMode = ClipMode.Off;
  }
}

/** The update phase clips as planned (after the norms, if any, are reduced). */
export function writeClipping(blocks: readonly StepBlock[], plan: StepPlan): void {
  for (const { words } of blocks) words.clipMode = plan.clipMode;
}

/** Writes the words fixed for the optimizer's life, as Keras casts them to each dtype. */
export function writeConstants(blocks: readonly StepBlock[], o: ResolvedOptions): void {
  for (const block of blocks) writeConstantsOf(block, o);
}

function writeConstantsOf({ words, cast: f }: StepBlock, o: ResolvedOptions): void {
  words.rho = f(o.rho);
  words.oneMinusRho = f(1 - o.rho);
  words.epsilon = f(o.epsilon);
  words.momentum = o.momentum > 0 ? f(o.momentum) : 0;
  words.lossScale = o.lossScaleFactor === null ? 0 : f(o.lossScaleFactor);
  words.unscale = o.lossScaleFactor === null ? 0 : 1;
  words.accumulationSteps = f(o.gradientAccumulationSteps ?? 0);
  const clip = clipModeOf(o);
  // global norm clipping writes its scale here each step (norms.ts)
  words.clip = clip === ClipMode.Norm ? f(o.clipnorm!) : clip === ClipMode.Value ? f(o.clipvalue!) : 0;
  words.weightDecay = o.weightDecay === null ? 0 : f(o.weightDecay);
  words.weightDecayOn = o.weightDecay === null ? 0 : 1;
  words.ema = o.useEma ? 1 : 0;
}

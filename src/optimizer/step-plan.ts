/**
 * What one step does, decided as Keras's `apply` decides it: from the options, the calls counted
 * so far and the learning rate, the values the step writes into its shared words and the phases
 * it runs. `planStep` and `stepWords` are pure; `writeStepWords` is the one writer of the step's
 * words, through their typed view, so no word is addressed by index here.
 */
import { AccumulationMode, ClipMode, STEP_WORDS, type StepWord } from '../kernels/rmsprop-words.js';
import type { WordView } from '../kernels/words.js';
import { DTYPES, hyperparameterCast, isHalf, type DType } from '../memory/dtype.js';
import type { ResolvedOptions } from './options.js';

/** The step's scalar words, by name (`STEP_WORDS.view(...)`, made once at build). */
export type StepWords = WordView<StepWord>;

/**
 * One dtype's step words: each dtype's kernels read their own block, because Keras casts a
 * hyperparameter to each variable's dtype (see `stepWords`).
 */
export interface StepBlock {
  readonly dtype: DType;
  readonly words: StepWords;
}

/** The step blocks over `scalars` (DTYPES.length blocks of STEP_WORDS, in DTYPES order). */
export function stepBlocks(scalars: Float64Array): StepBlock[] {
  return DTYPES.map((dtype, i) => ({ dtype, words: STEP_WORDS.view(scalars, i * STEP_WORDS.length) }));
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

/** What a step's words depend on: the options, the plan, a loss scale, the phase and the norms' outcome. */
export interface StepWordsInput {
  /** The words fixed for the optimizer's life come from them. */
  readonly options: ResolvedOptions;
  readonly plan: StepPlan;
  /** A LossScaleOptimizer's current scale, or null without one. */
  readonly lossScale: number | null;
  /** 'norm': the norm phase, which sums the unclipped gradients; 'update': the update phase. */
  readonly phase: 'norm' | 'update';
  /** The global norm's clip scale (`reduceNorms`'s result), read by a global-norm update only. */
  readonly globalScale: number;
}

/**
 * Every step word of one dtype's block, as Keras computes it for a variable of that dtype: a pure
 * function of its inputs, stored into `into` (each word set, none read), so a step allocates
 * nothing. Keras casts a hyperparameter to the variable's dtype (`cast`), and computes derived
 * values (`1 - rho`, the EMA's `1 - momentum`) in it. A LossScaleOptimizer divides by a float32
 * variable, which makes a half or float64 gradient float32 (`wideGradient`): a half gradient's
 * unscaling, accumulation and clipping run in float32, with float32 limits, and only
 * `update_step` casts it back; a float64 gradient is float32 until accumulation's numpy operators
 * meet its float64 accumulator.
 */
export function stepWords(into: StepWords, dtype: DType, input: StepWordsInput): void {
  const { options: o, plan, lossScale, phase, globalScale } = input;
  const cast = hyperparameterCast(dtype);
  // a LossScaleOptimizer's float32 scale makes a half or float64 gradient float32
  const wide = lossScale !== null && (isHalf(dtype) || dtype === 'float64');
  const gradientCast = wide ? Math.fround : cast;
  into.learningRate = cast(plan.learningRate);
  into.rho = cast(o.rho);
  into.oneMinusRho = cast(1 - o.rho);
  into.epsilon = cast(o.epsilon);
  into.momentum = o.momentum > 0 ? cast(o.momentum) : 0;
  // Keras divides by a LossScaleOptimizer's float32 scale, and by `loss_scale_factor` with numpy's
  // operator, which casts the Python float to the array's dtype (float64 keeps it whole)
  into.lossScale =
    lossScale !== null
      ? Math.fround(lossScale)
      : o.lossScaleFactor === null
        ? 0
        : dtype === 'float64'
          ? o.lossScaleFactor
          : cast(o.lossScaleFactor);
  into.unscale = lossScale !== null || o.lossScaleFactor !== null ? 1 : 0;
  into.wideGradient = wide ? 1 : 0;
  into.accumulationSteps = cast(o.gradientAccumulationSteps ?? 0);
  into.accumulation = plan.accumulation;
  // numpy's `v * scale` keeps the double scale for a float64 array: not for one a float32 loss scale made
  const float64Gradient = dtype === 'float64' && !(wide && plan.accumulation !== AccumulationMode.ApplyAccumulated);
  into.clip = clipWord(o, float64Gradient, gradientCast, phase === 'update' ? globalScale : 0);
  // the norm phase, if any, sums the unclipped gradients
  into.clipMode = phase === 'norm' ? ClipMode.Off : plan.clipMode;
  into.weightDecay = o.weightDecay === null ? 0 : cast(o.weightDecay);
  into.weightDecayOn = o.weightDecay === null ? 0 : 1;
  into.ema = o.useEma ? 1 : 0;
  const emaMomentum = cast(plan.emaMomentum);
  into.emaMomentum = emaMomentum;
  into.emaOneMinusMomentum = cast(1 - emaMomentum);
  into.overwrite = plan.overwrite;
}

/**
 * The `clip` word: clipnorm, clipvalue, or the global scale. numpy 1.24 makes the global scale a
 * double (`1.0 / use_norm` of a numpy scalar), which `g * scale` casts to the gradient's dtype.
 */
function clipWord(
  o: ResolvedOptions,
  float64Gradient: boolean,
  gradientCast: (x: number) => number,
  globalScale: number,
): number {
  switch (clipModeOf(o)) {
    case ClipMode.Norm:
      return gradientCast(o.clipnorm!);
    case ClipMode.Value:
      return gradientCast(o.clipvalue!);
    case ClipMode.GlobalNorm:
      return float64Gradient ? globalScale : gradientCast(globalScale);
    default:
      return 0;
  }
}

/** The one writer of the step's words: `stepWords` into each dtype's block. */
export function writeStepWords(blocks: readonly StepBlock[], input: StepWordsInput): void {
  for (const { dtype, words } of blocks) stepWords(words, dtype, input);
}

/** `writeStepWords` for one optimizer's blocks, from one input record refilled each call: a step allocates none. */
export class StepWordsWriter {
  readonly #input: { -readonly [K in keyof StepWordsInput]: StepWordsInput[K] };
  constructor(
    readonly blocks: readonly StepBlock[],
    options: ResolvedOptions,
  ) {
    this.#input = { options, plan: null!, lossScale: null, phase: 'norm', globalScale: 0 };
  }

  write(plan: StepPlan, lossScale: number | null, phase: 'norm' | 'update', globalScale: number): void {
    const input = this.#input;
    input.plan = plan;
    input.lossScale = lossScale;
    input.phase = phase;
    input.globalScale = globalScale;
    writeStepWords(this.blocks, input);
  }
}

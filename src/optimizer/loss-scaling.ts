/**
 * Dynamic loss scaling inside the RMSprop pipeline (Keras's `LossScaleOptimizer.apply`): each
 * step divides the gradients by the current scale, and a step with a non-finite gradient is
 * skipped. The finiteness test rides on the norm phase, the pass that already reads every
 * gradient: a sum of squares is finite exactly when every term is.
 */
import { ClipMode } from '../kernels/rmsprop-words.js';
import type { GroupDescriptor } from '../memory/arena.js';
import { isHalf } from '../memory/dtype.js';
import type { ResolvedOptions } from './options.js';
import type { Persisted } from './persistence.js';
import { clipModeOf, type StepBlock } from './step-plan.js';

/** What the pipeline asks of a loss scaler at each step. */
export interface LossScaling {
  /** The current scale (float32): the gradients are divided by it. */
  readonly scale: number;
  /** A gradient was not finite: nothing was applied. */
  skipped(): void;
  /** The step was applied. */
  applied(): void;
  /** The inner optimizer's checkpoint as the loss scaler's: its config, with its counters. */
  persisted(inner: Persisted): Persisted;
}

/**
 * The gradients are divided by `scale` in every dtype's words. Keras divides by a float32
 * variable, which makes a half-precision gradient float32: its clipping (and accumulation) is
 * done in float32 and only `update_step` casts it to the variable's dtype. So a half dtype's
 * gradient stage runs in float32 (`wideGradient`), with float32 clip limits.
 */
export function writeLossScale(
  blocks: readonly StepBlock[],
  scale: number,
  o: Pick<ResolvedOptions, 'clipnorm' | 'globalClipnorm' | 'clipvalue'>,
): void {
  const mode = clipModeOf(o);
  for (const { dtype, words } of blocks) {
    words.lossScale = Math.fround(scale);
    words.unscale = 1;
    if (!isHalf(dtype)) continue;
    words.wideGradient = 1;
    if (mode === ClipMode.Norm) words.clip = Math.fround(o.clipnorm!);
    if (mode === ClipMode.Value) words.clip = Math.fround(o.clipvalue!);
  }
}

/** Whether every gradient the norm phase read was finite (its partial sums all are). */
export function gradientsFinite(groups: readonly GroupDescriptor[]): boolean {
  let total = 0;
  for (const { partials } of groups) for (let c = 0; c < partials.length; c++) total += partials[c]!;
  return Number.isFinite(total);
}

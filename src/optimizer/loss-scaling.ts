/**
 * Dynamic loss scaling inside the RMSprop pipeline (Keras's `LossScaleOptimizer.apply`): each
 * step divides the gradients by the current scale, and a step with a non-finite gradient is
 * skipped. The finiteness test rides on the norm phase, the pass that already reads every
 * gradient: a sum of squares is finite exactly when every term is.
 */
import type { GroupDescriptor } from '../memory/arena.js';
import type { StepBlock } from './step-plan.js';

/** What the pipeline asks of a loss scaler at each step. */
export interface LossScaling {
  /** The current scale (float32): the gradients are divided by it. */
  readonly scale: number;
  /** A gradient was not finite: nothing was applied. */
  skipped(): void;
  /** The step was applied. */
  applied(): void;
}

/**
 * The gradients are divided by `scale` in every dtype's words. Keras divides by a float32
 * variable, so half-precision gradients are divided in float32 and the quotient rounded once to
 * their dtype: the word holds the float32 scale for every dtype.
 */
export function writeLossScale(blocks: readonly StepBlock[], scale: number): void {
  for (const { words } of blocks) {
    words.lossScale = Math.fround(scale);
    words.unscale = 1;
  }
}

/** Whether every gradient the norm phase read was finite (its partial sums all are). */
export function gradientsFinite(groups: readonly GroupDescriptor[]): boolean {
  let total = 0;
  for (const { partials } of groups) for (let c = 0; c < partials.length; c++) total += partials[c]!;
  return Number.isFinite(total);
}

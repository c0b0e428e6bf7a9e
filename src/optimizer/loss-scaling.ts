/**
 * Dynamic loss scaling inside the RMSprop pipeline (Keras's `LossScaleOptimizer.apply`): each
 * step divides the gradients by the current scale, and a step with a non-finite gradient is
 * skipped. The finiteness test rides on the norm phase, the pass that already reads every
 * gradient: a sum of squares is finite exactly when every term is.
 */
import type { GroupDescriptor } from '../memory/arena.js';
import type { Persisted } from './persistence.js';

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

/** Whether every gradient the norm phase read was finite (its partial sums all are). */
export function gradientsFinite(groups: readonly GroupDescriptor[]): boolean {
  let total = 0;
  for (const { partials } of groups) for (let c = 0; c < partials.length; c++) total += partials[c]!;
  return Number.isFinite(total);
}

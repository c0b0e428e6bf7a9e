/**
 * Dynamic loss scaling inside the RMSprop pipeline (Keras's `LossScaleOptimizer.apply`): each
 * step divides the gradients by the current scale, and a step with a non-finite gradient is
 * skipped. The finiteness test rides on the norm phase, the pass that already reads every
 * gradient: a sum of squares is finite when every term is.
 */
import type { GroupViews } from '../memory/arena.js';
import { isHalf, roundingFor } from '../memory/dtype.js';
import { widenTable } from '../memory/half.js';
import { Chunk, CHUNK_STRIDE } from '../memory/layout.js';
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

/**
 * Whether every gradient the norm phase read was finite, as Keras's `check_finite` tests the
 * gradients themselves. The sums answer at once when they are all finite. A buffer whose float32
 * sum of squares is not may still hold only finite gradients (squares summed past float32's
 * range), so its gradients, the micro-batches' mean as the kernels take it, are tested one by one.
 */
export function gradientsFinite(views: readonly GroupViews[]): boolean {
  for (const view of views) {
    const { chunks, partials } = view;
    for (let c = 0; c < partials.length; c++) {
      if (Number.isFinite(partials[c]!)) continue;
      const start = chunks[c * CHUNK_STRIDE + Chunk.Start]!;
      if (!bufferFinite(view, start, start + chunks[c * CHUNK_STRIDE + Chunk.SumLength]!)) return false;
    }
  }
  return true;
}

/** Whether the gradients of elements [from, to) are finite: their shards' mean, rounded as the kernels round it. */
function bufferFinite({ dtype, gradShards, shardCount, shardStride }: GroupViews, from: number, to: number): boolean {
  const round = roundingFor(dtype);
  const table = isHalf(dtype) ? widenTable(dtype) : null;
  const at = (i: number): number => (table === null ? gradShards[i]! : table[gradShards[i]!]!);
  for (let i = from; i < to; i++) {
    let sum = at(i);
    for (let k = 1; k < shardCount; k++) sum = round(sum + at(i + k * shardStride));
    if (!Number.isFinite(shardCount > 1 ? round(sum / shardCount) : sum)) return false;
  }
  return true;
}

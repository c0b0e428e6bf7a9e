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
import { SHARD_TREE_LEVELS, shardTreeSum } from '../memory/shard-tree.js';
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
    const { chunks, partials, normLaneRanges } = view;
    // this rank's slice: the norm phase wrote the partials of its chunks
    for (let c = normLaneRanges[0]!; c < normLaneRanges[normLaneRanges.length - 1]!; c++) {
      if (Number.isFinite(partials[c]!)) continue;
      const start = chunks[c * CHUNK_STRIDE + Chunk.Start]!;
      if (!bufferFinite(view, start, start + chunks[c * CHUNK_STRIDE + Chunk.SumLength]!)) return false;
    }
  }
  return true;
}

const subtrees = new Float64Array(SHARD_TREE_LEVELS);

/** Whether the gradients of elements [from, to) are finite: their shards' mean, summed and rounded as the kernels do. */
function bufferFinite(
  { dtype, gradShards, shardCount, shardStride, shardDivisor }: GroupViews,
  from: number,
  to: number,
): boolean {
  const round = roundingFor(dtype);
  const table = isHalf(dtype) ? widenTable(dtype) : null;
  const at = (i: number): number => (table === null ? gradShards[i]! : table[gradShards[i]!]!);
  const add = (a: number, b: number): number => round(a + b);
  for (let i = from; i < to; i++) {
    const mean =
      shardCount > 1
        ? round(shardTreeSum(shardCount, (k) => at(i + k * shardStride), add, subtrees) / shardDivisor)
        : at(i);
    if (!Number.isFinite(mean)) return false;
  }
  return true;
}

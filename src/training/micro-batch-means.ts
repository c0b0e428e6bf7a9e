/**
 * A step's micro-batches put together: the gradient shards weighed when the micro-batches are
 * uneven, and the step's loss and metrics as the micro-batches' means weighted by their rows,
 * summed in micro-batch order (the same for any number of replicas).
 */
import type { Variable } from '../optimizer/variable.js';
import type { RowPart } from './shared-rows.js';

/**
 * Uneven micro-batches: shard j times rows_j · M / rows, so the optimizer's mean of the M shards
 * is the gradient of the whole batch's mean loss (each shard holds its micro-batch's mean). This
 * process's shards hold micro-batches `first`, `first + 1`, ... (a rank of a world: its block).
 */
export function weighShards(variables: readonly Variable[], parts: readonly RowPart[], rows: number, first = 0): void {
  parts.forEach((part, j) => {
    const weight = (part.rows * parts.length) / rows;
    const own = j - first;
    if (part.rows === 0 || weight === 1 || own < 0 || own >= variables[0]!.gradShards.length) return;
    for (const v of variables) {
      const shard = v.gradShards[own]!;
      for (let i = 0; i < shard.length; i++) shard[i] = shard[i]! * weight;
    }
  });
}

/**
 * The step's loss (returned) and metrics (into `metrics`) from each micro-batch's
 * `[loss, ...metrics]` (`values`, one row of `1 + metrics.length` per micro-batch): their plain
 * mean when the micro-batches are even, else their mean weighted by rows.
 */
export function meanOverParts(
  values: Float64Array,
  metrics: Float64Array,
  parts: readonly RowPart[],
  rows: number,
  even: boolean,
): number {
  const width = 1 + metrics.length;
  const mean = (k: number) => {
    let sum = 0;
    parts.forEach((part, j) => (sum += even ? values[j * width + k]! : part.rows * values[j * width + k]!));
    return even ? sum / parts.length : sum / rows;
  };
  for (let k = 1; k < width; k++) metrics[k - 1] = mean(k);
  return mean(0);
}

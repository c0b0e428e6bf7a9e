/**
 * An evaluation across the ranks of a world: rank r evaluates its contiguous share of the chunks
 * (`chunkShare`), then the ranks say whether their share went well (one integer reduction: the
 * lowest failed rank) and gather every chunk's values (one all-gather of float64s), so each rank
 * returns what one process would: a chunk's values depend on its rows and the weights alone.
 */
import { bounded } from '../common/bounded.js';
import type { RanksWord } from '../distributed/ranks-word.js';
import type { World } from '../distributed/world.js';
import { StepError } from '../pool/step-error.js';
import { waitedTooLong } from './same-batch.js';

/** The chunks `[first, end)` rank `rank` of `size` evaluates of `chunks`. */
export function chunkShare(chunks: number, rank: number, size: number): readonly [number, number] {
  return [Math.floor((rank * chunks) / size), Math.floor(((rank + 1) * chunks) / size)];
}

/**
 * `evaluated` (this rank's share of `values`) settled, then, on a rank of several (`word` not
 * null), the ranks' word on their shares and every share to every rank: a share's failure thrown
 * on its rank, a StepError naming that rank on the others. Every wait is bounded by `timeoutMs`.
 */
export async function settleEvaluation(
  world: World | null,
  word: RanksWord | null,
  evaluated: Promise<void>,
  values: Array<readonly number[]>,
  width: number,
  timeoutMs: number,
): Promise<void> {
  if (world === null || word === null) return await evaluated;
  const failure = await evaluated.then(
    () => null,
    (error: unknown) => ({ error }),
  );
  const { rank, size } = world;
  const waited = (what: string) => () => waitedTooLong(rank, 'evaluate()', what, timeoutMs);
  word.digest.fill(0);
  await bounded(word.exchange(failure !== null), timeoutMs, waited("the other ranks' word"));
  if (failure !== null) throw failure.error;
  if (word.failedRank < size) {
    throw new StepError(
      `evaluate(): rank ${word.failedRank} of the world failed its chunks (see that rank's error); nothing was changed`,
      { stateCorrupted: false, rank: word.failedRank },
    );
  }
  const chunks = values.length;
  const shares = Array.from({ length: size }, (_, r) => chunkShare(chunks, r, size));
  const counts = Int32Array.from(shares, ([first, end]) => (end - first) * width);
  const at = Int32Array.from(shares, ([first]) => first * width);
  const all = new Float64Array(chunks * width);
  const [first, end] = shares[rank]!;
  for (let k = first; k < end; k++) all.set(values[k]!, k * width);
  await bounded(world.allgatherv(null, all, counts, at, 8), timeoutMs, waited("the other ranks' chunks"));
  for (let k = 0; k < chunks; k++) values[k] = Array.from(all.subarray(k * width, (k + 1) * width));
}

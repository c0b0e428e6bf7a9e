/**
 * An evaluation across the ranks of a world: rank r evaluates its contiguous share of the chunks
 * (`chunkShare`), then the ranks say whether their share went well (one integer reduction: the
 * lowest failed rank) and gather every chunk's values (one all-gather of float64s), so each rank
 * returns what one process would: a chunk's values depend on its rows and the weights alone.
 */
import { bounded } from '../common/bounded.js';
import { IntReduction, type World } from '../distributed/world.js';
import { StepError } from '../pool/step-error.js';

/** The chunks `[first, end)` rank `rank` of `size` evaluates of `chunks`. */
export function chunkShare(chunks: number, rank: number, size: number): readonly [number, number] {
  return [Math.floor((rank * chunks) / size), Math.floor(((rank + 1) * chunks) / size)];
}

/**
 * `evaluated` (this rank's share of `values`) settled, then, on a rank of several, every rank's
 * share to every rank; the failure of a share thrown on its rank, a StepError naming it on the others.
 */
export async function settleEvaluation(
  world: World | null,
  evaluated: Promise<void>,
  values: Array<readonly number[]>,
  width: number,
  timeoutMs: number,
): Promise<void> {
  if (world === null || world.size === 1) return await evaluated;
  const failure = await evaluated.then(
    () => null,
    (error: unknown) => ({ error }),
  );
  await shareEvaluation(world, values, width, failure !== null, timeoutMs);
  if (failure !== null) throw failure.error;
}

/**
 * Every rank's share of `values` (one array of `width` numbers per chunk) into every rank's, after
 * the ranks' word: a rank whose share failed (`failed`) returns, to throw its own error; the others
 * throw a StepError naming it. Every wait is bounded by `timeoutMs`.
 */
async function shareEvaluation(
  world: World,
  values: Array<readonly number[]>,
  width: number,
  failed: boolean,
  timeoutMs: number,
): Promise<void> {
  const { rank, size } = world;
  const timedOut = (what: string) => () =>
    new StepError(`evaluate(): rank ${rank} waited more than ${timeoutMs} ms for ${what}; nothing was changed`, {
      stateCorrupted: false,
    });
  const word = BigInt64Array.of(BigInt(failed ? rank : size));
  await bounded(world.allreduceInt(word, IntReduction.Min), timeoutMs, timedOut("the other ranks' word"));
  const failedRank = Number(word[0]);
  if (failedRank < size) {
    if (failed) return;
    throw new StepError(
      `evaluate(): rank ${failedRank} of the world failed its chunks (see that rank's error); nothing was changed`,
      { stateCorrupted: false, rank: failedRank },
    );
  }
  const chunks = values.length;
  const shares = Array.from({ length: size }, (_, r) => chunkShare(chunks, r, size));
  const counts = Int32Array.from(shares, ([first, end]) => (end - first) * width);
  const at = Int32Array.from(shares, ([first]) => first * width);
  const all = new Float64Array(chunks * width);
  const [first, end] = shares[rank]!;
  for (let k = first; k < end; k++) all.set(values[k]!, k * width);
  await bounded(world.allgatherv(null, all, counts, at, 8), timeoutMs, timedOut("the other ranks' chunks"));
  for (let k = 0; k < chunks; k++) values[k] = Array.from(all.subarray(k * width, (k + 1) * width));
}

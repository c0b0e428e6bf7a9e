/**
 * The ranks of a world pass their trainers the same batch each step, and each computes its own
 * block of its micro-batches. A rank given other rows (its own shard of the data, as PyTorch's
 * DDP has it) would train on a silent mix, so each step first compares the batches' digests in
 * the ranks' word (distributed/ranks-word.ts). It runs before any gradient is computed, so a
 * refused step changes nothing.
 */
import { bounded } from '../common/bounded.js';
import type { RanksWord } from '../distributed/ranks-word.js';
import { StepError } from '../pool/step-error.js';
import type { SharedRows } from './shared-rows.js';

/** Throws, on every rank, a StepError naming the first rank whose staged batch differs from rank 0's. */
export async function checkSameBatch(
  word: RanksWord,
  rows: SharedRows,
  step: number,
  timeoutMs: number,
): Promise<void> {
  rows.digest(word.digest, 0);
  await bounded(word.exchange(false), timeoutMs, () =>
    waitedTooLong(word.rank, `step ${step} of the trainer`, "the other ranks' batches", timeoutMs),
  );
  if (word.differingRank < 0) return;
  throw new StepError(
    `step ${step} of the trainer: rank ${word.differingRank}'s batch differs from rank 0's; every rank of a world ` +
      'passes the same whole batch, and each computes its own micro-batches of it (nothing changed)',
    { stateCorrupted: false },
  );
}

/** A trainer's wait on the other ranks past `timeoutMs` in `call`: most likely, a rank that did not make the same call. */
export function waitedTooLong(rank: number, call: string, what: string, timeoutMs: number): StepError {
  return new StepError(
    `${call}: rank ${rank} waited more than ${timeoutMs} ms for ${what} (every rank of a world makes the same ` +
      'calls of its trainer, with the same batches)',
    { stateCorrupted: false },
  );
}

/**
 * The coordinator's reading of the control block: how far the lanes are with a command. Pure
 * functions of shared words and the coordinator's own records, so the pool's asynchronous and
 * synchronous waits count the same way.
 */
import { laneDoneIndex, laneFailedIndex, phaseName, Phase } from './protocol.js';
import { StepError } from './step-error.js';

export interface Tally {
  /** Lanes done with the command or failed. */
  readonly settled: number;
  /** The failure of the lowest-numbered failed lane, null when none failed. */
  readonly failure: StepError | null;
}

/**
 * How many lanes have settled command `seq` of `phase`: done (their LaneDone word), or failed —
 * known from `laneErrors` (piscina's rejection, or a share that failed on the calling thread) or,
 * when `sync`, from the lane's LaneFailed word (a blocked coordinator never sees the rejection in
 * time). A lane done counts as done even if an error was recorded for it.
 */
export function tally(
  control: Int32Array,
  lanes: number,
  laneErrors: ReadonlyArray<StepError | null>,
  seq: number,
  phase: Phase,
  sync: boolean,
): Tally {
  let settled = 0;
  let failure: StepError | null = null;
  for (let lane = 0; lane < lanes; lane++) {
    const error = laneErrors[lane] ?? null;
    if (Atomics.load(control, laneDoneIndex(lanes, lane)) === seq) {
      settled++;
    } else if (error !== null) {
      settled++;
      failure ??= error;
    } else if (sync && Atomics.load(control, laneFailedIndex(lanes, lane)) === seq) {
      settled++;
      failure ??= new StepError(`worker lane ${lane} threw in the ${phaseName(phase)} phase`, {
        stateCorrupted: false,
      });
    }
  }
  return { settled, failure };
}

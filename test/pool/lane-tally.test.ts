/** The coordinator's count of a command's lanes: a pure reading of the control block. */
import { describe, expect, it } from 'vitest';
import { StepError } from '../../dist/src/index.js';
import { tally } from '../../dist/src/pool/lane-tally.js';
import { controlLength, laneDoneIndex, laneFailedIndex, Phase } from '../../dist/src/pool/protocol.js';

const LANES = 3;
const SEQ = 7;
const fresh = () => new Int32Array(new SharedArrayBuffer(controlLength(LANES) * 4));
const none = (): Array<StepError | null> => new Array<StepError | null>(LANES).fill(null);

describe('tally', () => {
  it('counts the lanes whose LaneDone word is the command, and nothing older', () => {
    const control = fresh();
    control[laneDoneIndex(LANES, 0)] = SEQ;
    control[laneDoneIndex(LANES, 2)] = SEQ - 1;
    expect(tally(control, LANES, none(), SEQ, Phase.Update, false)).toEqual({ settled: 1, failure: null });
  });

  it('counts a recorded lane error as settled and reports the lowest-numbered one', () => {
    const control = fresh();
    const errors = none();
    errors[2] = new StepError('lane 2', { stateCorrupted: false });
    errors[1] = new StepError('lane 1', { stateCorrupted: false });
    const { settled, failure } = tally(control, LANES, errors, SEQ, Phase.Norm, false);
    expect(settled).toBe(2);
    expect(failure?.message).toBe('lane 1');
  });

  it('a lane done counts as done even with an error recorded for it', () => {
    const control = fresh();
    const errors = none();
    errors[0] = new StepError('stale', { stateCorrupted: false });
    control[laneDoneIndex(LANES, 0)] = SEQ;
    expect(tally(control, LANES, errors, SEQ, Phase.Update, false)).toEqual({ settled: 1, failure: null });
  });

  it('reads the LaneFailed words only for a synchronous wait, and changes nothing', () => {
    const control = fresh();
    control[laneFailedIndex(LANES, 1)] = SEQ;
    const before = control.slice();
    const errors = none();
    expect(tally(control, LANES, errors, SEQ, Phase.Update, false)).toEqual({ settled: 0, failure: null });
    const sync = tally(control, LANES, errors, SEQ, Phase.Update, true);
    expect(sync.settled).toBe(1);
    expect(sync.failure?.message).toBe('worker lane 1 threw in the update phase');
    expect(sync.failure?.stateCorrupted).toBe(false);
    expect(control).toEqual(before);
    expect(errors).toEqual(none());
  });
});

/**
 * A kernel set that fails on demand, for the failure tests: the built-in 'wasm' kernels (so its
 * bytes are the default's), registered by this module's URL like any custom set, so the pool's
 * threads import it too. Plain JavaScript: worker threads run it in plain Node.
 *
 * The plan of the next fault lives in a SharedArrayBuffer handed to every thread through
 * `worker_threads` environment data: the first import (on the test's thread, before any pool
 * thread starts) creates it, and threads started later receive the same memory.
 *
 *   new RMSprop({ workers: 2, kernels: faultyKernels });
 *   failNext({ phase: 'update', kind: 'throw', lane: 1 });
 */
import { threadId } from 'node:worker_threads';
import { kernelSet, registerKernels } from '../../dist/src/kernels/index.js'; // rmsprop-pool/kernels
import { environmentWords } from './environment-words.mjs';

const KEY = 'rmsprop-pool/test/faulty-kernels';
/** Words of the plan (Int32). */
const Word = {
  /** 1 while a fault waits to fire; the thread that fires it claims it 1 -> 0. */
  Armed: 0,
  Phase: 1,
  Kind: 2,
  /** The pool lane that fails, or CALLING_THREAD. */
  Lane: 3,
  /** threadId of the thread that created the plan: the test's, the one optimizers are called on. */
  Owner: 4,
  /** Never notified: a hanging kernel waits on it. */
  Hang: 5,
  Length: 6,
};
const CALLING_THREAD = -1;
const PHASES = { norm: 1, update: 2 };
const KINDS = { throw: 1, exit: 2, hang: 3 };

const plan = environmentWords(KEY, Word.Length, Word.Owner);

/**
 * Makes the next matching kernel call fail, once: on pool lane `lane` (a worker thread), or
 * without `lane` on the calling thread (`workers: 0`, where only 'throw' makes sense).
 * Replaces a fault that has not fired yet.
 *
 * @param {{ phase: 'norm' | 'update', kind: 'throw' | 'exit' | 'hang', lane?: number }} fault
 */
export function failNext({ phase, kind, lane }) {
  if (lane === undefined && kind !== 'throw') {
    throw new Error(`failNext: only a pool lane can ${kind}: the calling thread is the test's`);
  }
  Atomics.store(plan, Word.Armed, 0);
  Atomics.store(plan, Word.Phase, PHASES[phase]);
  Atomics.store(plan, Word.Kind, KINDS[kind]);
  Atomics.store(plan, Word.Lane, lane ?? CALLING_THREAD);
  Atomics.store(plan, Word.Armed, 1);
}

/** Forgets a fault that has not fired. */
export function clearFault() {
  Atomics.store(plan, Word.Armed, 0);
}

/**
 * Who is calling: CALLING_THREAD on the test's thread, else the pool lane whose chunk range of
 * this group in this phase is [begin, end) (a lane calls each kernel with its whole range), else null.
 *
 * @param {number} phase
 * @param {import('../../dist/src/kernels/index.js').GroupViews} views
 * @param {number} begin
 * @param {number} end
 */
function caller(phase, views, begin, end) {
  if (threadId === Atomics.load(plan, Word.Owner)) return CALLING_THREAD;
  const ranges = phase === PHASES.norm ? views.normLaneRanges : views.laneRanges;
  for (let lane = 0; 2 * lane < ranges.length; lane++) {
    if (ranges[2 * lane] === begin && ranges[2 * lane + 1] === end) return lane;
  }
  return null;
}

/**
 * Fires the planned fault if it is for this phase and this caller.
 *
 * @param {number} phase
 * @param {import('../../dist/src/kernels/index.js').GroupViews} views
 * @param {number} begin
 * @param {number} end
 */
function maybeFail(phase, views, begin, end) {
  if (Atomics.load(plan, Word.Armed) !== 1 || Atomics.load(plan, Word.Phase) !== phase) return;
  const lane = Atomics.load(plan, Word.Lane);
  if (caller(phase, views, begin, end) !== lane) return;
  if (Atomics.compareExchange(plan, Word.Armed, 1, 0) !== 1) return; // another call fired it
  const kind = Atomics.load(plan, Word.Kind);
  if (kind === KINDS.exit) process.exit(70); // a worker's process.exit ends its thread only
  if (kind === KINDS.hang) for (;;) Atomics.wait(plan, Word.Hang, 0, 1000);
  throw new Error(lane === CALLING_THREAD ? 'injected fault' : `injected fault in lane ${lane}`);
}

/**
 * @param {import('../../dist/src/kernels/index.js').Kernels} inner
 * @returns {import('../../dist/src/kernels/index.js').Kernels}
 */
function faulty(inner) {
  return {
    sumSquares(views, begin, end, scalars, varParams) {
      maybeFail(PHASES.norm, views, begin, end);
      inner.sumSquares(views, begin, end, scalars, varParams);
    },
    update(views, begin, end, scalars, varParams) {
      maybeFail(PHASES.update, views, begin, end);
      inner.update(views, begin, end, scalars, varParams);
    },
    sumShards(views, begin, end, scalars, varParams) {
      inner.sumShards(views, begin, end, scalars, varParams);
    },
  };
}

const wasm = kernelSet('wasm');
/** The `kernels` option that runs these kernels. */
export const faultyKernels = registerKernels(import.meta.url, {
  float32: faulty(wasm.float32),
  float64: faulty(wasm.float64),
});

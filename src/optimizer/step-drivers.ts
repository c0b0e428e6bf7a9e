/**
 * The two drivers of the one step pipeline (`RMSprop`'s `#applyStep` yields its phases, and a
 * rank of a world its exchanges): awaited, or blocking this thread. A phase that fails on a rank
 * of a world is said to the other ranks in its next exchange (`agree`), so that they fail the
 * step naming it instead of waiting for it. Then the pipeline's stages that a rank of a world
 * adds (world-exchanges.ts), each nothing for one process.
 */
import { AccumulationMode } from '../kernels/rmsprop-words.js';
import { Phase } from '../pool/protocol.js';
import { StepError } from '../pool/step-error.js';
import { gradientsFinite } from './loss-scaling.js';
import type { Built } from './state.js';
import type { StepPlan } from './step-plan.js';
import { WorldDisagreement } from './world-agreement.js';
import { RankFailure } from './world-exchanges.js';

/** A step's exchange between the ranks of a world: a collective call, awaited by the step. */
export type Exchange = () => Promise<void>;
export type StepAction = Phase | Exchange;

/** What a failed phase or exchange becomes (and does to the optimizer). */
export interface Failures {
  phase(phase: Phase, cause: unknown): StepError;
  exchange(cause: unknown): StepError;
}

export async function runAwaited(actions: Iterable<StepAction>, built: Built, failures: Failures): Promise<void> {
  for (const action of actions) {
    if (typeof action === 'function') {
      await action().catch((cause: unknown) => Promise.reject(failures.exchange(cause)));
      continue;
    }
    const failed = await built.executor.run(action).then(
      () => null,
      (cause: unknown) => failures.phase(action, cause),
    );
    if (failed === null) continue;
    // the other ranks learn of it in their next exchange, instead of waiting for this rank
    await built.world?.agree(true).catch(() => undefined);
    throw failed;
  }
}

export function runBlocking(
  actions: Iterable<StepAction>,
  built: Built,
  failedPhase: (phase: Phase, cause: unknown) => StepError,
): void {
  for (const action of actions) {
    if (typeof action === 'function') throw new Error('a blocking step cannot exchange with a world'); // refused before
    try {
      built.executor.runSync(action);
    } catch (cause) {
      throw failedPhase(action, cause);
    }
  }
}

/** A failed exchange: this rank's slice may be updated and the others' values not. */
export function exchangeFailure(optimizer: string, step: number, cause: unknown): StepError {
  if (cause instanceof StepError) return cause;
  const failure = cause instanceof RankFailure ? cause : null;
  const changed = failure?.changed ?? !(cause instanceof WorldDisagreement);
  return new StepError(
    `step ${step} of optimizer '${optimizer}' failed: ${cause instanceof Error ? cause.message : String(cause)}` +
      (changed ? '; the ranks may now disagree: rebuild the world and the optimizer from a checkpoint' : ''),
    { cause, stateCorrupted: changed, rank: failure?.rank },
  );
}

/** A rank's micro-batches summed in their tree (when it has several), then every slice's partial sums to its owner. */
export function* gradientsToOwners(built: Built, localShards: number): Generator<StepAction, void, void> {
  if (built.world === null) return;
  let digest = 0x811c9dc5; // FNV-1a over which variables have a gradient
  const words = built.words.variables;
  for (let i = 0; i < built.variables.length; i++) digest = Math.imul(digest ^ words.get(i, 'hasGradient'), 0x01000193);
  built.world.gradients = digest;
  if (localShards > 1) yield Phase.ShardSum;
  yield built.world.reduceScatter;
}

/** Loss scaling's test for a non-finite gradient, each rank's over its slice, then agreed by every rank. */
export function* gradientsFiniteEverywhere(built: Built): Generator<StepAction, boolean, void> {
  const finite = gradientsFinite(built.views);
  if (built.world === null) return finite;
  built.world.finite = finite;
  yield built.world.agreeFinite;
  return built.world.finite;
}

/** The norm phase's sums of every slice, to every rank, before the norms are finished. */
export function* normSumsToAll(built: Built): Generator<StepAction, void, void> {
  if (built.world !== null) yield built.world.gatherPartials;
}

/** The slices' new values to every rank; a call that only accumulates changes none, unless the EMA overwrites them. */
export function* valuesToAll(built: Built, plan: StepPlan): Generator<StepAction, void, void> {
  if (built.world === null) return;
  const changed = plan.accumulation !== AccumulationMode.Accumulate || plan.overwrite === 1;
  yield changed ? built.world.gatherValues : built.world.agree;
}

import { Phase, phaseName } from './protocol.js';

/** A step that did not complete: names the phase and the lane (or the timeout) and keeps the cause. */
export class StepError extends Error {
  /** True when the optimizer's state may be half-updated and it must be rebuilt. */
  readonly stateCorrupted: boolean;
  /** In a world: the rank whose failure failed the step on this one, when another rank's. */
  readonly rank: number | undefined;
  constructor(message: string, options: { cause?: unknown; stateCorrupted: boolean; rank?: number | undefined }) {
    super(message, { cause: options.cause });
    this.name = 'StepError';
    this.stateCorrupted = options.stateCorrupted;
    this.rank = options.rank;
  }
}

/**
 * The error a failed phase of step `step` becomes. A norm phase only reads and a commit phase
 * writes bytes back unchanged, so nothing was changed unless the executor says the state is
 * corrupted; an update phase may be half done.
 */
export function phaseFailure(optimizer: string, step: number, phase: Phase, cause: unknown): StepError {
  const corrupted = phase === Phase.Update || (cause instanceof StepError && cause.stateCorrupted);
  return new StepError(
    `step ${step} of optimizer '${optimizer}' failed in the ${phaseName(phase)} phase: ` +
      `${cause instanceof Error ? cause.message : String(cause)}` +
      (corrupted
        ? '; its state may be partly updated: rebuild it (new optimizer, restored variables)'
        : '; nothing was changed'),
    { cause, stateCorrupted: corrupted },
  );
}

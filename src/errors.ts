import { Phase } from './protocol.js';

/** A step that did not complete: names the phase and the lane (or the timeout) and keeps the cause. */
export class StepError extends Error {
  /** True when the optimizer's state may be half-updated and it must be rebuilt. */
  readonly stateCorrupted: boolean;
  constructor(message: string, options: { cause?: unknown; stateCorrupted: boolean }) {
    super(message, { cause: options.cause });
    this.name = 'StepError';
    this.stateCorrupted = options.stateCorrupted;
  }
}

/** A value as error messages show it: quoted as JSON would print it, with its type. */
export function quote(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value);
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value == null)
    shown = String(value);
  else if (typeof value === 'function') shown = `[function ${value.name || 'anonymous'}]`;
  else shown = Object.prototype.toString.call(value);
  return `${shown} (${type})`;
}

/**
 * The error a failed phase of step `step` becomes. A norm phase only reads, so nothing was
 * changed unless the executor says the state is corrupted; an update phase may be half done.
 */
export function phaseFailure(optimizer: string, step: number, phase: Phase, cause: unknown): StepError {
  const corrupted = phase === Phase.Update || (cause instanceof StepError && cause.stateCorrupted);
  return new StepError(
    `step ${step} of optimizer '${optimizer}' failed in the ${phase === Phase.Norm ? 'norm' : 'update'} phase: ` +
      `${cause instanceof Error ? cause.message : String(cause)}` +
      (corrupted
        ? '; its state may be partly updated: rebuild it (new optimizer, restored variables)'
        : '; nothing was changed'),
    { cause, stateCorrupted: corrupted },
  );
}

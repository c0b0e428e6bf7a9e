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

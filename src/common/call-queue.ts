/**
 * The optimizer's call queue: calls run one at a time, in order, each after every earlier one
 * has settled, so they never interleave.
 */
export class CallQueue {
  /** Settles when the last queued call has; never rejects. */
  #last: Promise<void> = Promise.resolve();
  #pending = 0;

  /** Calls queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /** Throws unless nothing is queued: calls that read or write the state directly must not race a queued one. */
  assertIdle(what: string, why = 'wait for the pending apply()/step() first'): void {
    if (this.#pending > 0) throw new Error(`${what}: ${why}`);
  }

  /**
   * Runs `work` after every earlier call has settled. The returned promise is the caller's
   * alone: the queue waits on a separate one, so a failure nobody awaits is an unhandled rejection.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    this.#pending++;
    const previous = this.#last;
    let release!: () => void;
    this.#last = new Promise<void>((resolve) => (release = resolve));
    return (async () => {
      await previous; // never rejects
      try {
        return await work();
      } finally {
        this.#pending--;
        release();
      }
    })();
  }
}

/**
 * How an optimizer's calls may run: one at a time, in call order (the call queue); never on a
 * closed optimizer, nor on one a failed step may have left half updated (it must be rebuilt);
 * synchronously only when nothing is queued and no world's exchanges are involved.
 */
import { CallQueue } from '../common/call-queue.js';
import type { World } from '../distributed/world.js';
import type { StepError } from '../pool/step-error.js';

export class CallDiscipline {
  readonly #queue = new CallQueue();
  readonly #optimizer: string;
  #closed = false;
  #broken: Error | null = null;

  constructor(optimizer: string) {
    this.#optimizer = optimizer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queues `work`, checking when it starts that the optimizer is still usable (a step queued before may have broken it). */
  serialized<T>(work: () => Promise<T>): Promise<T> {
    return this.#queue.run(() => {
      this.assertUsable();
      return work();
    });
  }

  /** Closes after the queued calls, running `release` once. */
  close(release: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#queue.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await release();
    });
  }

  /** A call that reads or writes the state now: usable, and no queued call about to use it. */
  assertIdle(what: string): void {
    this.assertUsable();
    this.#queue.assertIdle(what);
  }

  /** A synchronous step must not touch gradients or state that a queued call is about to use, nor wait on a world. */
  assertSynchronous(world: World | null): void {
    this.#queue.assertIdle(
      `optimizer '${this.#optimizer}'`,
      'a synchronous step cannot overtake pending apply()/step() calls; await them first',
    );
    if (world !== null && world.size > 1)
      throw new Error(
        `optimizer '${this.#optimizer}' is rank ${world.rank} of a world of ${world.size}: its steps exchange data; ` +
          'await step() or apply() instead',
      );
  }

  assertUsable(): void {
    if (this.#closed) throw new Error(`optimizer '${this.#optimizer}' is closed`);
    const broken = this.#broken;
    if (broken !== null)
      throw new Error(`optimizer '${this.#optimizer}' must be rebuilt: ${broken.message}`, { cause: broken });
  }

  /** A failed step's error; one that may have left the state half updated breaks the optimizer. */
  failed(error: StepError): StepError {
    if (error.stateCorrupted) this.#broken = error;
    return error;
  }
}

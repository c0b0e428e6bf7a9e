/**
 * One replica's worker thread as the trainer holds it: the comlink proxy to its `ReplicaHost`,
 * and the calls in flight, each of which settles when the thread answers, ends, or is failed
 * from outside (the trainer's step timeout). A call registers its rejecter only while it is in
 * flight, so nothing accumulates over a run of any length.
 */
import { Worker } from 'node:worker_threads';
import { wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { ReplicaHost, ReplicaStart, ReplicaTraits } from './replica.js';

const HOST = new URL('../../workers/replica.js', import.meta.url);

export class ReplicaThread {
  readonly #worker: Worker;
  readonly #remote: Remote<ReplicaHost>;
  /** Rejecters of the calls in flight. */
  readonly #pending = new Set<(error: Error) => void>();
  /** Why the thread can take no more calls (null while it can). */
  #ended: Error | null = null;

  constructor() {
    // not the flags of a script given by -e (--input-type would refuse the module's file)
    this.#worker = new Worker(HOST, { execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')) });
    this.#remote = wrap<ReplicaHost>(nodeEndpoint(this.#worker));
    this.#worker.once('error', (error) => this.fail(error));
    this.#worker.once('exit', (code) => this.fail(new Error(`its thread ended (exit code ${code})`)));
  }

  /** Whether the thread can take calls. */
  get alive(): boolean {
    return this.#ended === null;
  }

  /** Creates the replica on the thread; resolves to what it says of itself. */
  start(start: ReplicaStart): Promise<ReplicaTraits> {
    return this.#call(() => this.#remote.start(start));
  }

  /** Micro-batch `index` of step `step`, drawing from `seed`; resolves to its loss and metrics. */
  gradients(
    step: number,
    index: number,
    seed: number,
    rows: number,
    inputs: Float32Array,
    targets: Float32Array,
    sampleWeights: Float32Array | null,
  ): Promise<readonly number[]> {
    return this.#call(() => this.#remote.gradients(step, index, seed, rows, inputs, targets, sampleWeights));
  }

  /** Rows evaluated at the current values; resolves to their loss and metrics. */
  evaluate(step: number, rows: number, inputs: Float32Array, targets: Float32Array): Promise<readonly number[]> {
    return this.#call(() => this.#remote.evaluate(step, rows, inputs, targets));
  }

  /** Lets the replica release what it holds; resolves whatever happens. */
  async close(): Promise<void> {
    if (this.alive) await this.#call(() => this.#remote.close()).catch(() => {});
  }

  /** Rejects every call in flight with `error` and refuses later ones (the thread is not ended: see `terminate`). */
  fail(error: Error): void {
    this.#ended ??= error;
    for (const reject of this.#pending) reject(error);
    this.#pending.clear();
  }

  async terminate(): Promise<void> {
    this.fail(new Error('its thread was ended'));
    await this.#worker.terminate();
  }

  /** Whether an idle thread keeps the process alive: only while someone waits on it. */
  hold(held: boolean): void {
    if (held) this.#worker.ref();
    else this.#worker.unref();
  }

  #call<T>(send: () => Promise<T>): Promise<T> {
    if (this.#ended !== null) return Promise.reject(this.#ended);
    return new Promise<T>((resolve, reject) => {
      this.#pending.add(reject);
      send().then(
        (value) => {
          this.#pending.delete(reject);
          resolve(value);
        },
        (error: Error) => {
          this.#pending.delete(reject);
          reject(error);
        },
      );
    });
  }
}

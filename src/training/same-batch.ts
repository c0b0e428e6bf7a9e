/**
 * The ranks of a world pass their trainers the same batch each step, and each computes its own
 * block of its micro-batches. A rank given other rows (its own shard of the data, as PyTorch's
 * DDP has it) would train on a silent mix, so each step first compares the batches' digests:
 * one integer reduction of each digest and its complement (their minima are the least digest and
 * the complement of the greatest), and only when they differ a gather naming the first rank whose
 * batch is not rank 0's. It runs before any gradient is computed, so a refused step changes nothing.
 */
import { bounded } from '../common/bounded.js';
import { IntReduction, type World } from '../distributed/world.js';
import { StepError } from '../pool/step-error.js';
import type { SharedRows } from './shared-rows.js';

export class SameBatchCheck {
  readonly #world: World;
  readonly #timeoutMs: number;
  /** The digest and its complement, as int64s, and the same bits as int32 halves. */
  readonly #extremes = new BigInt64Array(2);
  readonly #halves = new Int32Array(this.#extremes.buffer);
  /** Every rank's digest, gathered only when they differ; as int32 halves too. */
  readonly #all: BigInt64Array;
  readonly #allHalves: Int32Array;
  readonly #ones: Int32Array;
  readonly #at: Int32Array;

  constructor(world: World, timeoutMs: number) {
    this.#world = world;
    this.#timeoutMs = timeoutMs;
    this.#all = new BigInt64Array(world.size);
    this.#allHalves = new Int32Array(this.#all.buffer);
    this.#ones = new Int32Array(world.size).fill(1);
    this.#at = Int32Array.from({ length: world.size }, (_, r) => r);
  }

  /** Throws, on every rank, a StepError naming the first rank whose batch differs from rank 0's. */
  async check(rows: SharedRows, step: number): Promise<void> {
    const halves = this.#halves;
    rows.digest(halves, 0);
    const mine = 2 * this.#world.rank;
    this.#allHalves[mine] = halves[0]!;
    this.#allHalves[mine + 1] = halves[1]!;
    halves[2] = ~halves[0]!;
    halves[3] = ~halves[1]!;
    await this.#bounded(this.#world.allreduceInt(this.#extremes, IntReduction.Min), step);
    if (halves[0] === ~halves[2] && halves[1] === ~halves[3]) return; // the least is the greatest
    await this.#bounded(this.#world.allgatherv(null, this.#all, this.#ones, this.#at, 8), step);
    const differs = this.#all.findIndex((d) => d !== this.#all[0]);
    throw new StepError(
      `step ${step} of the trainer: rank ${differs}'s batch differs from rank 0's; every rank of a world ` +
        'passes the same whole batch, and each computes its own micro-batches of it (nothing changed)',
      { stateCorrupted: false },
    );
  }

  #bounded(exchange: Promise<void>, step: number): Promise<void> {
    return bounded(
      exchange,
      this.#timeoutMs,
      () =>
        new StepError(
          `step ${step} of the trainer: rank ${this.#world.rank} waited more than ${this.#timeoutMs} ms for ` +
            "the other ranks' batches",
          { stateCorrupted: false },
        ),
    );
  }
}

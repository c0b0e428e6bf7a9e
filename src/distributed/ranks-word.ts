/**
 * The ranks' word: in one integer reduction, every rank learns the lowest rank whose part failed,
 * and whether every rank's 64-bit digest of what must be the same everywhere (its build, its batch,
 * which variables have a gradient) is the same. The reduction takes the minimum of each rank's
 * failed rank (the size when none), of its digest and of the digest's complement: the least digest
 * and the complement of the greatest, equal only when every digest is. Only when they differ does a
 * gather of the digests name the first rank that differs from rank 0. Everything is sized once.
 */
import { IntReduction } from './collectives.js';
import type { World } from './world.js';

export class RanksWord {
  readonly #world: World;
  /** This rank's failed rank, digest and the digest's complement, as int64s; the same bits as int32 halves. */
  readonly #word = new BigInt64Array(3);
  readonly #halves = new Int32Array(this.#word.buffer);
  /** Every rank's digest, gathered only when they differ; as int32 halves too. */
  readonly #digests: BigInt64Array;
  readonly #digestHalves: Int32Array;
  readonly #ones: Int32Array;
  readonly #at: Int32Array;
  /** This rank's digest for the next `exchange`: its low and high 32 bits. */
  readonly digest = new Int32Array(2);
  /** After an `exchange`: the lowest rank that failed, or the world's size when none did. */
  failedRank = 0;
  /** After an `exchange` in which none failed: the first rank whose digest differs from rank 0's, or -1. */
  differingRank = -1;

  get rank(): number {
    return this.#world.rank;
  }

  constructor(world: World) {
    this.#world = world;
    this.#digests = new BigInt64Array(world.size);
    this.#digestHalves = new Int32Array(this.#digests.buffer);
    this.#ones = new Int32Array(world.size).fill(1);
    this.#at = Int32Array.from({ length: world.size }, (_, r) => r);
  }

  /** Every rank's word (`failed`: this rank's part failed; `digest` as set), into `failedRank` and `differingRank`. */
  async exchange(failed: boolean): Promise<void> {
    const { rank, size } = this.#world;
    const low = this.digest[0]!;
    const high = this.digest[1]!;
    const halves = this.#halves;
    halves[0] = failed ? rank : size;
    halves[1] = 0;
    halves[2] = low;
    halves[3] = high;
    halves[4] = ~low;
    halves[5] = ~high;
    this.#digestHalves[2 * rank] = low;
    this.#digestHalves[2 * rank + 1] = high;
    await this.#world.allreduceInt(this.#word, IntReduction.Min);
    this.failedRank = halves[0]!;
    this.differingRank = -1;
    // a failure is said first: every rank knows it, and none goes on to compare digests
    if (this.failedRank < size || (halves[2] === ~halves[4] && halves[3] === ~halves[5])) return;
    await this.#world.allgatherv(null, this.#digests, this.#ones, this.#at, 8);
    this.differingRank = this.#digests.findIndex((d) => d !== this.#digests[0]);
  }
}

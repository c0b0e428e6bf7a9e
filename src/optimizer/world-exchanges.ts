/**
 * A step's exchanges between the ranks of a world, as ZeRO-1 makes them: each rank owns a slice
 * of every group (memory/layout.ts) and keeps the slots of that slice only.
 *
 * - `reduceScatter`: each rank's partial sum of its micro-batches (a subtree of their fixed tree)
 *   goes to the owner of each slice, who then holds one partial per rank: the update's shards.
 * - `gatherPartials`: the norm phase's sums of the owners' buffers, to every rank, which then
 *   finishes each norm in numpy's order, the same everywhere.
 * - `agreeFinite`: loss scaling's finiteness, every rank's own slice's.
 * - `gatherValues`: the owners' new values, to every rank.
 *
 * Every exchange begins with every rank's word on how its part of the step went (`agree`): a rank
 * that failed says so in its next collective instead of leaving the others waiting, and the
 * others fail the step naming it. Every wait is bounded by `stepTimeoutMs`.
 *
 * Counts are in blocks (the slices start and end on one) for the fields, so one call moves a
 * part past 2^31 bytes, and in float64s for the norm's sums. Everything a step passes to MPI is
 * made here once, at build.
 */
import { bounded } from '../common/bounded.js';
import { RanksWord } from '../distributed/ranks-word.js';
import { IntReduction, type World } from '../distributed/world.js';
import { sliceOf, type ArenaDescriptor, type GroupViews } from '../memory/arena.js';
import { bytesPerElement, type FloatArray } from '../memory/dtype.js';
import { BLOCK_BYTES } from '../memory/layout.js';
import { StepError } from '../pool/step-error.js';
import { agreeOnBuild, WorldDisagreement } from './world-agreement.js';

/** What one group's exchanges pass to MPI, made once. */
interface GroupExchange {
  /** This rank's partial sum of its micro-batches: its first gradient shard, every element. */
  readonly partialSum: FloatArray;
  /** The ranks' partials of this rank's slice, one after another. */
  readonly received: FloatArray;
  readonly values: FloatArray;
  readonly partials: Float64Array;
  /** Each rank's slice: its length and where it starts, in blocks. */
  readonly sliceBlocks: Int32Array;
  readonly sliceAt: Int32Array;
  /** This rank's slice's length, once per rank, and where each rank's partial of it lands, in blocks. */
  readonly ownBlocks: Int32Array;
  readonly ownAt: Int32Array;
  /** Each rank's chunks: how many, and the first. */
  readonly chunkCounts: Int32Array;
  readonly chunkAt: Int32Array;
  /** Bytes of this rank's slice of a field. */
  readonly sliceBytes: number;
}

/** A rank's failure, as the ranks that did not fail see it. */
export class RankFailure extends Error {
  constructor(
    readonly rank: number,
    what: string,
    /** Whether this rank had changed its state (its slice updated) when it learned of it. */
    readonly changed: boolean,
  ) {
    super(
      `rank ${rank} of the world failed its part of the step (before ${what}); see that rank's error` +
        (changed ? '' : '; nothing was changed'),
    );
    this.name = 'RankFailure';
  }
}

export class WorldExchanges {
  readonly #world: World;
  readonly #groups: readonly GroupExchange[];
  readonly #timeoutMs: number;
  /** The ranks' word on the step, carrying the step's gradient digest. */
  readonly #word: RanksWord;
  /**
   * Which variables have a gradient this step, as a 32-bit digest (set before the step's first
   * exchange): ranks whose digests differ are refused, since each sends its gradients of all.
   */
  gradients = 0;
  /** This rank's slice's gradients were all finite (set before `agreeFinite`, which makes it the world's). */
  finite = true;
  readonly #finite = new BigInt64Array(1);
  /** What this rank built, to agree on before the first exchange (world-agreement.ts); null once agreed. */
  #build: readonly string[] | null;

  constructor(
    world: World,
    arena: ArenaDescriptor,
    views: readonly GroupViews[],
    timeoutMs: number,
    build: readonly string[],
  ) {
    this.#world = world;
    this.#timeoutMs = timeoutMs;
    this.#build = build;
    this.#word = new RanksWord(world);
    this.#groups = arena.groups.map((group, g) => {
      const view = views[g]!;
      const bpe = bytesPerElement(group.dtype);
      const blocks = (elements: number) => (elements * bpe) / BLOCK_BYTES;
      const ranks = Array.from({ length: world.size }, (_, r) => r);
      const edges = group.rankElements;
      const [first, end] = sliceOf(group);
      return {
        partialSum: view.localShards.subarray(0, group.fieldLength),
        received: view.gradShards.subarray(first, first + world.size * (end - first)),
        values: view.value,
        partials: group.partials,
        sliceBlocks: Int32Array.from(ranks, (r) => blocks(edges[r + 1]! - edges[r]!)),
        sliceAt: Int32Array.from(ranks, (r) => blocks(edges[r]!)),
        ownBlocks: Int32Array.from(ranks, () => blocks(end - first)),
        ownAt: Int32Array.from(ranks, (r) => r * blocks(end - first)),
        chunkCounts: Int32Array.from(ranks, (r) => group.rankChunks[2 * r + 1]! - group.rankChunks[2 * r]!),
        chunkAt: Int32Array.from(ranks, (r) => group.rankChunks[2 * r]!),
        sliceBytes: (end - first) * bpe,
      };
    });
  }

  get rank(): number {
    return this.#world.rank;
  }

  /**
   * Every rank's word on its part of the step so far (`failed`: this rank's failed): the lowest
   * failed rank, or none. A rank that did not fail throws when another did.
   */
  readonly agree = async (failed = false, what = 'the end of the step', changed = true): Promise<void> => {
    await this.#agreeOnBuild();
    const { size } = this.#world;
    const word = this.#word;
    word.digest[0] = this.gradients;
    word.digest[1] = 0;
    await this.#bounded(word.exchange(failed), 'the ranks’ word on the step');
    if (word.failedRank < size) {
      if (!failed) throw new RankFailure(word.failedRank, what, changed);
      return;
    }
    if (word.differingRank >= 0)
      throw new WorldDisagreement(
        `rank ${word.differingRank} has gradients for other variables than rank 0: every rank gives a gradient ` +
          'for the same variables (null for the same ones); nothing was changed',
      );
  };

  readonly reduceScatter = async (): Promise<void> => {
    await this.agree(false, 'the reduce-scatter of the gradients', false);
    for (const group of this.#groups) {
      const { partialSum, sliceBlocks, sliceAt, received, ownBlocks, ownAt } = group;
      const exchanged = this.#world.alltoallv(
        partialSum,
        sliceBlocks,
        sliceAt,
        received,
        ownBlocks,
        ownAt,
        BLOCK_BYTES,
      );
      await this.#bounded(exchanged, 'the reduce-scatter of the gradients');
    }
  };

  readonly gatherPartials = async (): Promise<void> => {
    await this.agree(false, "the gathering of the norms' sums", false);
    for (const { partials, chunkCounts, chunkAt } of this.#groups) {
      await this.#bounded(this.#world.allgatherv(null, partials, chunkCounts, chunkAt, 8), "the norms' sums");
    }
  };

  readonly agreeFinite = async (): Promise<void> => {
    await this.agree(false, 'the finiteness test', false);
    this.#finite[0] = this.finite ? 1n : 0n;
    await this.#bounded(this.#world.allreduceInt(this.#finite, IntReduction.Min), 'the finiteness test');
    this.finite = this.#finite[0] === 1n;
  };

  readonly gatherValues = async (): Promise<void> => {
    await this.agree(false, 'the all-gather of the values');
    for (const group of this.#groups) {
      const { values, sliceBlocks, sliceAt } = group;
      await this.#bounded(
        this.#world.allgatherv(null, values, sliceBlocks, sliceAt, BLOCK_BYTES),
        'the all-gather of the values',
      );
    }
  };

  /** Group `g`'s field `view` (a slot: this rank holds its slice), whole, in a new array: gathered from every rank. */
  async gatherField(g: number, view: FloatArray): Promise<FloatArray> {
    await this.#agreeOnBuild();
    const group = this.#groups[g]!;
    const whole = new (view.constructor as new (length: number) => FloatArray)(group.values.length);
    const at = group.sliceAt[this.#world.rank]! * (BLOCK_BYTES / view.BYTES_PER_ELEMENT);
    whole.set(view.subarray(at, at + group.sliceBytes / view.BYTES_PER_ELEMENT), at);
    await this.#bounded(this.#world.allgatherv(null, whole, group.sliceBlocks, group.sliceAt, BLOCK_BYTES), 'a slot');
    return whole;
  }

  /** A name for a collective save, rank 0's (its time and a random number), the same on every rank. */
  async saveName(): Promise<string> {
    await this.#agreeOnBuild();
    const stamp = BigInt(Date.now()) * 4096n + BigInt(Math.floor(Math.random() * 4096));
    const name = BigInt64Array.of(this.#world.rank === 0 ? stamp : 0n);
    await this.#bounded(this.#world.bcast(name, 0), 'the name of the save');
    return name[0]!.toString(36);
  }

  /** Before the first exchange: every rank built the same (or every rank throws, naming the first that differs). */
  async #agreeOnBuild(): Promise<void> {
    if (this.#build === null) return;
    await agreeOnBuild(this.#world, this.#word, this.#build, (exchange, what) => this.#bounded(exchange, what));
    this.#build = null;
  }

  /** `exchange`, or a StepError naming it once `stepTimeoutMs` has passed. */
  #bounded(exchange: Promise<void>, what: string): Promise<void> {
    return bounded(
      exchange,
      this.#timeoutMs,
      () =>
        new StepError(
          `rank ${this.#world.rank}: ${what} did not complete within stepTimeoutMs (${this.#timeoutMs} ms): ` +
            'another rank stopped answering',
          { stateCorrupted: true },
        ),
    );
  }
}

/**
 * MPI's collectives as this library uses them, stated once: the MPI binding provides them, and
 * a `World` is them plus a rank. They only move bytes; every floating-point sum stays in the
 * library's kernels, in a fixed order.
 *
 * Counts and displacements are one per rank, in Int32Arrays the caller makes once, in units of
 * `unit` bytes (default 1): MPI's counts are C ints, so a part past 2^31 bytes is counted in
 * larger units (the arena's blocks) instead of cut into rounds. A count reaching outside its view
 * is refused before anything moves.
 */

/** MPI's integer reductions, for flags and hashes (never for floating-point values). */
export const IntReduction = { Sum: 0, Max: 1, Min: 2, BitOr: 3 } as const;
/** One of {@link IntReduction}'s operations. */
export type IntReductionOp = (typeof IntReduction)[keyof typeof IntReduction];

/** The largest count of bytes one MPI call moves (its counts are C ints). */
export const MAX_MPI_BYTES = 2 ** 31 - 1;

/** The collectives a {@link World} runs: byte movers and integer reductions, each a promise. */
export interface Collectives {
  barrier(): Promise<void>;
  /** `view` of rank `root` into every rank's `view`. */
  bcast(view: ArrayBufferView, root: number): Promise<void>;
  /**
   * Each rank's `send` into every rank's `receive`, rank r's at `displacements[r]` (`counts[r]`
   * units); `send` null: in place, each rank's part already at its displacement in `receive`.
   */
  allgatherv(
    send: ArrayBufferView | null,
    receive: ArrayBufferView,
    counts: Int32Array,
    displacements: Int32Array,
    unit?: number,
  ): Promise<void>;
  /** Rank r's units for rank s (`sendCounts[s]` at `sendDisplacements[s]`) into rank s's `receive` at `receiveDisplacements[r]`. */
  alltoallv(
    send: ArrayBufferView,
    sendCounts: Int32Array,
    sendDisplacements: Int32Array,
    receive: ArrayBufferView,
    receiveCounts: Int32Array,
    receiveDisplacements: Int32Array,
    unit?: number,
  ): Promise<void>;
  /** Integers reduced in place across the ranks (flags, counts, hashes; never floating point). */
  allreduceInt(values: BigInt64Array, op: IntReductionOp): Promise<void>;
  /** Ends this rank's part of the world. */
  close(): Promise<void>;
}

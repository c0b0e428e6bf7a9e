/**
 * What moves bytes between the processes of a world: MPI's collectives as the library uses them,
 * behind one interface, so that the slicing and the fixed trees above it can be tested in one
 * process (`localWorld`) as well as under `mpirun` (`mpiWorld`). A world only moves
 * bytes (collectives.ts).
 */
import { IntReduction, MAX_MPI_BYTES, type Collectives, type IntReductionOp } from './collectives.js';
import { mpiBinding, type MpiBinding } from './mpi.js';

export { IntReduction, type IntReductionOp };

/** One rank of a world: the collectives, and where it stands. */
export interface World extends Collectives {
  readonly rank: number;
  readonly size: number;
  /**
   * Bytes this rank has sent to the others, every collective so far: what each one's definition
   * has it send (its part of an all-gather to each other rank, its parts of an all-to-all for the
   * others, a broadcast's bytes from its root, an integer reduction's values once). MPI's own
   * algorithms may relay more.
   */
  readonly sent: number;
  /** Collectives this rank has taken part in (its latency cost: each waits for every rank). */
  readonly calls: number;
}

/**
 * `collectives` as rank `rank` of `size`, each call's bytes for the other ranks tallied in `sent`
 * and the call in `calls`. A call refused before it starts (a closed world, a count outside its
 * view: the MPI binding throws) rejects its promise as any failure does, and tallies nothing.
 */
function tallied(rank: number, size: number, collectives: Collectives): World {
  let sent = 0;
  let calls = 0;
  const others = size - 1;
  const rejected = (error: unknown) => Promise.reject(error instanceof Error ? error : new Error(String(error)));
  const counted = (bytes: number, start: () => Promise<void>): Promise<void> => {
    try {
      const call = start();
      calls++;
      sent += bytes;
      return call;
    } catch (error) {
      return rejected(error);
    }
  };
  return {
    rank,
    size,
    get sent() {
      return sent;
    },
    get calls() {
      return calls;
    },
    barrier: () => counted(0, () => collectives.barrier()),
    bcast: (view, root) => counted(root === rank ? others * view.byteLength : 0, () => collectives.bcast(view, root)),
    allgatherv: (send, receive, counts, displacements, unit = 1) =>
      counted(others * (counts[rank] ?? 0) * unit, () =>
        collectives.allgatherv(send, receive, counts, displacements, unit),
      ),
    alltoallv(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements, unit = 1) {
      let bytes = 0;
      for (let r = 0; r < size; r++) if (r !== rank) bytes += (sendCounts[r] ?? 0) * unit;
      return counted(bytes, () =>
        collectives.alltoallv(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements, unit),
      );
    },
    allreduceInt: (values, op) =>
      counted(others > 0 ? values.byteLength : 0, () => collectives.allreduceInt(values, op)),
    close() {
      try {
        return collectives.close();
      } catch (error) {
        return rejected(error);
      }
    },
  };
}

const COLLECTIVES = ['barrier', 'bcast', 'allgatherv', 'alltoallv', 'allreduceInt', 'close'] as const;

/** Whether `x` is a World: a rank below the size, its tallies, and every collective. */
export function isWorld(x: unknown): x is World {
  if (x === null || typeof x !== 'object') return false;
  const { rank, size } = x as Partial<World>;
  return (
    Number.isInteger(size) &&
    size! >= 1 &&
    Number.isInteger(rank) &&
    rank! >= 0 &&
    rank! < size! &&
    typeof (x as Partial<World>).sent === 'number' &&
    typeof (x as Partial<World>).calls === 'number' &&
    COLLECTIVES.every((name) => typeof (x as Record<string, unknown>)[name] === 'function')
  );
}

/** The bytes of a view, as a Uint8Array over the same memory. */
function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * This process's rank of the MPI world `mpirun` started (MPI_Init on the binding's own thread).
 * A broadcast larger than `maxBytes` (one MPI call's most) goes in rounds; the other collectives
 * take parts below it, and the binding refuses a larger view rather than truncate its count.
 */
export async function mpiWorld(
  binding: MpiBinding = mpiBinding(),
  { maxBytes = MAX_MPI_BYTES }: { maxBytes?: number } = {},
): Promise<World> {
  const { rank, size } = await binding.open();
  return tallied(rank, size, {
    barrier: () => binding.barrier(),
    async bcast(view, root) {
      if (view.byteLength <= maxBytes) return binding.bcast(view, root);
      const bytes = bytesOf(view);
      for (let from = 0; from < bytes.length; from += maxBytes) {
        await binding.bcast(bytes.subarray(from, Math.min(bytes.length, from + maxBytes)), root);
      }
    },
    allgatherv: (...args) => binding.allgatherv(...args),
    alltoallv: (...args) => binding.alltoallv(...args),
    allreduceInt: (values, op) => binding.allreduceInt(values, op),
    close: () => binding.close(),
  });
}

/** One collective in flight on a local world: what each rank called, with what, and how to settle it. */
interface Call {
  readonly ops: string[];
  readonly args: unknown[][];
  readonly settle: Array<{ resolve: () => void; reject: (error: Error) => void }>;
  arrived: number;
}

/** `length` bytes of `bytes` from `from`, refused (as MPI's binding refuses them) when they reach outside it. */
function within(bytes: Uint8Array, from: number, length: number, what: string): Uint8Array {
  if (!(from >= 0 && length >= 0 && from + length <= bytes.length))
    throw new RangeError(`${what}: a rank's part lies outside its view`);
  return bytes.subarray(from, from + length);
}

/**
 * A world of `size` ranks in this process, for tests: each collective waits until every rank has
 * called it, then moves the bytes as MPI would and settles every rank's promise. Ranks that call
 * different collectives at the same point are all refused, naming each rank's call.
 */
export function localWorld(size: number): World[] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`localWorld: size must be a positive integer, got ${size}`);
  const calls = new Map<number, Call>();
  const next = new Array<number>(size).fill(0);
  let closed = false;

  function perform(op: string, args: unknown[][]): void {
    const bytes = (r: number, k: number) => bytesOf(args[r]![k] as ArrayBufferView);
    if (op === 'bcast') {
      const root = args[0]![1] as number;
      if (!(root >= 0 && root < size)) throw new Error(`bcast: root ${root} is not a rank of ${size}`);
      for (let r = 0; r < size; r++) if (r !== root) bytes(r, 0).set(bytes(root, 0).subarray(0, bytes(r, 0).length));
    } else if (op === 'allgatherv') {
      const unit = (args[0]![4] as number | undefined) ?? 1;
      const partOf = (s: number) => {
        const [counts, at] = [args[s]![2] as Int32Array, args[s]![3] as Int32Array];
        const inPlace = args[s]![0] === null;
        const part = within(bytes(s, inPlace ? 1 : 0), inPlace ? at[s]! * unit : 0, counts[s]! * unit, 'allgatherv');
        if (!inPlace && part.length !== bytes(s, 0).length)
          throw new RangeError("allgatherv: the send view is not this rank's count of units");
        return part.slice();
      };
      const parts = Array.from({ length: size }, (_, s) => partOf(s));
      for (let r = 0; r < size; r++) {
        const at = args[r]![3] as Int32Array;
        parts.forEach((part, s) => within(bytes(r, 1), at[s]! * unit, part.length, 'allgatherv').set(part));
      }
    } else if (op === 'alltoallv') {
      const unit = (args[0]![6] as number | undefined) ?? 1;
      for (let r = 0; r < size; r++) {
        const [sendCounts, sendAt] = [args[r]![1] as Int32Array, args[r]![2] as Int32Array];
        for (let s = 0; s < size; s++) {
          const part = within(bytes(r, 0), sendAt[s]! * unit, sendCounts[s]! * unit, 'alltoallv');
          within(bytes(s, 3), (args[s]![5] as Int32Array)[r]! * unit, part.length, 'alltoallv').set(part);
        }
      }
    } else if (op === 'allreduceInt') {
      const reduce = [
        (a: bigint, b: bigint) => a + b,
        (a: bigint, b: bigint) => (a > b ? a : b),
        (a: bigint, b: bigint) => (a < b ? a : b),
        (a: bigint, b: bigint) => a | b,
      ][args[0]![1] as number]!;
      const values = args.map((a) => a[0] as BigInt64Array);
      for (let i = 0; i < values[0]!.length; i++) {
        const result = values.map((v) => v[i]!).reduce(reduce);
        for (const v of values) v[i] = result;
      }
    }
  }

  function arrive(rank: number, op: string, args: unknown[]): Promise<void> {
    if (closed) return Promise.reject(new Error(`rank ${rank}: the local world is closed`));
    const index = next[rank]!++;
    let call = calls.get(index);
    if (call === undefined) calls.set(index, (call = { ops: [], args: [], settle: [], arrived: 0 }));
    call.ops[rank] = op;
    call.args[rank] = args;
    const waiting = call;
    const settled = new Promise<void>((resolve, reject) => (waiting.settle[rank] = { resolve, reject }));
    if (++call.arrived === size) {
      calls.delete(index);
      try {
        if (call.ops.some((other) => other !== op)) {
          throw new Error(
            `the ranks called different collectives: ${call.ops.map((o, r) => `rank ${r} ${o}`).join(', ')}`,
          );
        }
        perform(op, call.args);
        if (op === 'close') closed = true;
        for (const s of call.settle) s.resolve();
      } catch (error) {
        for (const s of call.settle) s.reject(error as Error);
      }
    }
    return settled;
  }

  return Array.from({ length: size }, (_, rank) =>
    tallied(rank, size, {
      barrier: () => arrive(rank, 'barrier', []),
      bcast: (view, root) => arrive(rank, 'bcast', [view, root]),
      allgatherv: (...args) => arrive(rank, 'allgatherv', args),
      alltoallv: (...args) => arrive(rank, 'alltoallv', args),
      allreduceInt: (...args) => arrive(rank, 'allreduceInt', args),
      close: () => arrive(rank, 'close', []),
    }),
  );
}

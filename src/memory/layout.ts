/**
 * Planning the arena: where each variable lives in its dtype group, which slots exist, how the
 * flat space is cut into reduction chunks and how chunks are dealt to lanes. Pure arithmetic,
 * no memory: `arena.ts` allocates what this plans.
 */
import { NUMPY_BUFFER } from './numpy-sum.js';
import { bytesPerElement, type DType } from './dtype.js';

/**
 * Slice granularity: a chunk is the piece of a variable inside one block, and an update's lanes
 * are cut where a block begins. A norm's sums follow numpy's buffers of `NUMPY_BUFFER` elements
 * instead (a whole number of blocks, since variables start on a block): the norm phase's lanes
 * are cut only where a buffer begins, so each buffer's sum is taken whole by one lane, in numpy's
 * order, whatever the number of workers.
 */
export const BLOCK_BYTES = 4096;
/**
 * Every variable starts on a block: its chunks, hence a norm's sums, then depend on its size
 * alone, not on where the layout puts it (which segment, which neighbours: that changes with
 * `maxSegmentBytes` and with the number of fields, microBatches' shards among them).
 */
export const VARIABLE_ALIGN_BYTES = BLOCK_BYTES;

/**
 * The chunk table is flat Int32 records (shared with every thread, so no objects): chunk c's
 * field f is `chunks[c * CHUNK_STRIDE + f]`, f one of `Chunk`.
 */
export const CHUNK_STRIDE = 4;
export const Chunk = {
  /** First element, as an offset into every field of the group. */
  Start: 0,
  /** One past the last element. */
  End: 1,
  /** Global index of the variable the chunk belongs to. */
  Variable: 2,
  /**
   * The length of the numpy buffer of its variable that begins at this chunk (numpy sums a
   * buffer at a time: see kernels/numpy-sum.ts), or 0 where none begins.
   */
  SumLength: 3,
} as const;

/** How many chunks a chunk table holds. */
export const chunkCount = (chunks: Int32Array): number => chunks.length / CHUNK_STRIDE;

export interface GroupPlan {
  readonly dtype: DType;
  /** Global indices of the group's variables, in build order. */
  readonly variables: readonly number[];
  /** Element offset of each of those variables inside every field. */
  readonly offsets: readonly number[];
  /** Elements per field region: the variables plus alignment padding, rounded up to a block. */
  readonly fieldLength: number;
  /** Chunk table: CHUNK_STRIDE words per chunk (see `Chunk`), in flat order. */
  readonly chunks: Int32Array;
  /** [first chunk, end chunk) of each rank's slice of a world: cut only where a numpy buffer begins. */
  readonly rankChunks: Int32Array;
  /** Where each rank's slice begins in every field, then the field's length: ranks + 1 element offsets. */
  readonly rankElements: Int32Array;
  /** This rank's slice: [first chunk, end chunk) per lane, cut where a block begins. */
  readonly laneRanges: Int32Array;
  /** The same for the norm phase: cut only where a numpy buffer begins. */
  readonly normLaneRanges: Int32Array;
  /** Every chunk (the whole group, not only this rank's slice) per lane: a rank's sum of its micro-batches. */
  readonly sumLaneRanges: Int32Array;
}

/**
 * Which part of a world this plan is for: `ranks` processes split every group into contiguous
 * slices, one each, cut where a numpy buffer begins (so a norm's buffers stay whole), and rank
 * `rank` updates its own. One process is a world of one rank, whose slice is everything.
 */
export interface RankOf {
  readonly rank: number;
  readonly ranks: number;
}

export const ONE_PROCESS: RankOf = { rank: 0, ranks: 1 };

export interface VariableShape {
  readonly name: string;
  readonly size: number;
  readonly dtype: DType;
}

/** A wasm32 memory holds at most 65536 pages of 64 KiB: 4 GiB. */
export const SEGMENT_GRANULE_BYTES = 65536;
export const MAX_SEGMENT_BYTES = 65536 * SEGMENT_GRANULE_BYTES;

/**
 * Plans one group per shared memory segment: the variables of each dtype, in build order, are
 * packed into segments of at most `maxSegmentBytes` (all fields of a variable in one segment,
 * so kernels see one memory and `Variable.value` stays one view). A variable that cannot fit
 * in a segment on its own is refused by name.
 */
export function planGroups(
  variables: readonly VariableShape[],
  lanes: number,
  fieldCount: number,
  maxSegmentBytes: number,
  world: RankOf = ONE_PROCESS,
): GroupPlan[] {
  const dtypes = [...new Set(variables.map((v) => v.dtype))];
  const plans: GroupPlan[] = [];
  for (const dtype of dtypes) {
    const bytesAcrossFields = fieldCount * bytesPerElement(dtype);
    let members: number[] = [];
    let cursor = 0;
    const close = (): void => {
      if (members.length > 0)
        plans.push(
          planGroup(
            dtype,
            members,
            members.map((i) => variables[i]!.size),
            lanes,
            world,
          ),
        );
      members = [];
      cursor = 0;
    };
    variables.forEach((v, i) => {
      if (v.dtype !== dtype) return;
      const alone = fieldSpan(0, v.size, dtype) * bytesAcrossFields;
      if (alone > maxSegmentBytes) {
        throw new RangeError(
          `build: variable '${v.name}' (${v.size} ${dtype} elements) needs ${alone} bytes for its ${fieldCount} arrays, ` +
            `more than one shared memory segment holds (${maxSegmentBytes} bytes)`,
        );
      }
      if (fieldSpan(cursor, v.size, dtype) * bytesAcrossFields > maxSegmentBytes) close();
      members.push(i);
      cursor = roundUp(cursor + v.size, VARIABLE_ALIGN_BYTES / bytesPerElement(dtype));
    });
    close();
  }
  return plans;
}

/** Field length once a variable of `size` elements is placed at `cursor`: aligned, whole blocks. */
function fieldSpan(cursor: number, size: number, dtype: DType): number {
  const block = BLOCK_BYTES / bytesPerElement(dtype);
  return Math.max(block, roundUp(cursor + size, block));
}

function planGroup(dtype: DType, members: number[], sizes: number[], lanes: number, world: RankOf): GroupPlan {
  const bpe = bytesPerElement(dtype);
  const align = VARIABLE_ALIGN_BYTES / bpe;
  const block = BLOCK_BYTES / bpe;
  const offsets: number[] = [];
  let cursor = 0;
  for (const size of sizes) {
    offsets.push(cursor);
    cursor = roundUp(cursor + size, align);
  }
  const fieldLength = fieldSpan(cursor, 0, dtype);

  const table: number[] = [];
  members.forEach((variable, k) => {
    const start = offsets[k]!;
    const end = start + sizes[k]!;
    for (let s = start; s < end; s = Math.min(end, roundDown(s, block) + block)) {
      const at = table.length;
      table[at + Chunk.Start] = s;
      table[at + Chunk.End] = Math.min(end, roundDown(s, block) + block);
      table[at + Chunk.Variable] = variable;
      table[at + Chunk.SumLength] = (s - start) % NUMPY_BUFFER === 0 ? Math.min(NUMPY_BUFFER, end - s) : 0;
    }
  });
  const chunks = new Int32Array(new SharedArrayBuffer(Math.max(1, table.length) * 4)).subarray(0, table.length);
  chunks.set(table);
  const count = chunkCount(chunks);
  const atBlock = (start: number): boolean => start % block === 0;
  const atBuffer = (_start: number, sumLength: number): boolean => sumLength > 0;
  const rankChunks = dealChunks(chunks, 0, count, world.ranks, atBuffer);
  const rankElements = Int32Array.from({ length: world.ranks + 1 }, (_, r) => {
    const first = rankChunks[2 * r];
    if (r === 0) return 0;
    return first === undefined || first >= count ? fieldLength : chunks[first * CHUNK_STRIDE + Chunk.Start]!;
  });
  const [from, to] = [rankChunks[2 * world.rank]!, rankChunks[2 * world.rank + 1]!];
  return {
    dtype,
    variables: members,
    offsets,
    fieldLength,
    chunks,
    rankChunks,
    rankElements,
    laneRanges: dealChunks(chunks, from, to, lanes, atBlock),
    normLaneRanges: dealChunks(chunks, from, to, lanes, atBuffer),
    sumLaneRanges: dealChunks(chunks, 0, count, lanes, atBlock),
  };
}

/**
 * Cuts chunks [from, to) into `lanes` contiguous ranges of about equal element count, cutting only
 * before a chunk that `mayCut` allows (a block's start, or a numpy buffer's).
 */
function dealChunks(
  chunks: Int32Array,
  from: number,
  to: number,
  lanes: number,
  mayCut: (start: number, sumLength: number) => boolean,
): Int32Array {
  const length = (c: number) => chunks[c * CHUNK_STRIDE + Chunk.End]! - chunks[c * CHUNK_STRIDE + Chunk.Start]!;
  let total = 0;
  for (let c = from; c < to; c++) total += length(c);
  const ranges = new Int32Array(2 * lanes);
  let lane = 0;
  let seen = 0;
  ranges[0] = from;
  for (let c = from; c < to; c++) {
    if (mayCut(chunks[c * CHUNK_STRIDE + Chunk.Start]!, chunks[c * CHUNK_STRIDE + Chunk.SumLength]!)) {
      while (lane < lanes - 1 && seen >= (total * (lane + 1)) / lanes) {
        ranges[2 * lane + 1] = c;
        lane++;
        ranges[2 * lane] = c;
      }
    }
    seen += length(c);
  }
  ranges[2 * lane + 1] = to;
  for (let rest = lane + 1; rest < lanes; rest++) {
    ranges[2 * rest] = to;
    ranges[2 * rest + 1] = to;
  }
  return ranges;
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

function roundDown(x: number, m: number): number {
  return Math.floor(x / m) * m;
}

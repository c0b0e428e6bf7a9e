/**
 * The arena: every array of the optimizer in shared memory, allocated once at build. Each group
 * (one dtype, one segment) is a shared WebAssembly.Memory holding its fields back to back
 * (value, grad, slots), so the same bytes are typed arrays for JS and linear memory for the
 * SIMD kernels. The descriptor is what a worker receives: shared memory, nothing is copied.
 */
import { bytesPerElement, DTYPES, viewOf, type DType, type FloatArray } from './dtype.js';
import { chunkCount, SEGMENT_GRANULE_BYTES, type GroupPlan } from './layout.js';
import { SLOTS, type AlwaysField, type Field } from './slots.js';

/**
 * A shared `WebAssembly.Memory`, typed by what this library reads of it: TypeScript declares
 * WebAssembly only in lib.dom, which a Node project may leave out, and these types are public.
 */
export interface SharedMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

export interface GroupDescriptor {
  readonly dtype: DType;
  /** A shared `WebAssembly.Memory`, fixed size (initial = maximum), so its buffer never detaches. */
  readonly memory: SharedMemory;
  readonly fields: readonly Field[];
  readonly fieldLength: number;
  /** This process's gradient shards (its micro-batches): the grad field is this many field regions, back to back. */
  readonly gradShards: number;
  /** What the update divides the shards' sum by: every micro-batch of the world. */
  readonly shardDivisor: number;
  /** This process's rank in its world, and the world's size (one process: 0 of 1). */
  readonly rank: number;
  readonly ranks: number;
  /** [first chunk, end chunk) per rank, and where each rank's slice begins in a field (then the field's length). */
  readonly rankChunks: Int32Array;
  readonly rankElements: Int32Array;
  readonly chunks: Int32Array;
  /** One sum of squares per numpy buffer, at its first chunk, written by the Norm phase. */
  readonly partials: Float64Array;
  readonly laneRanges: Int32Array;
  readonly normLaneRanges: Int32Array;
  readonly sumLaneRanges: Int32Array;
  /** The step's scalars as this group's dtype reads them: its block of the arena's `scalars`. */
  readonly scalars: Float64Array;
}

export interface ArenaDescriptor {
  readonly groups: readonly GroupDescriptor[];
  readonly control: Int32Array;
  readonly scalars: Float64Array;
  readonly varParams: Float64Array;
}

/**
 * One view per field of the slot table (`slots.ts`), keyed by its name: `value` (the variables'
 * values), `grad` (their gradients, shard 0 when there are several), `velocity`, and the slots
 * the options need (`momentum`, `averageGradient`, `average`, `accumulator`); null for a slot the
 * options do not need.
 */
export type FieldViews = { readonly [F in Field]: F extends AlwaysField ? FloatArray : FloatArray | null };

/**
 * Typed-array views of one group (one dtype, one shared memory segment): what the kernels
 * operate on. Every field is a view of the same segment, element `i` at index `i` in each.
 */
export interface GroupViews extends FieldViews {
  readonly dtype: DType;
  /** The shared segment every view is over: a `WebAssembly.Memory`, the wasm kernels' memory. */
  readonly memory: SharedMemory;
  /**
   * The gradient shards the update takes the mean of, back to back: shard j of element i at
   * `i + j * shardStride` (one shard: `grad`). One process: its micro-batches. A rank of a larger
   * world: one partial sum from each rank, of this rank's slice only.
   */
  readonly gradShards: FloatArray;
  readonly shardCount: number;
  /** Elements from one shard to the next. */
  readonly shardStride: number;
  /** What their sum is divided by: the world's micro-batches. */
  readonly shardDivisor: number;
  /** This process's own micro-batches' gradients, each a whole field (the variables' `gradShards`). */
  readonly localShards: FloatArray;
  readonly localShardCount: number;
  /** The chunk table: per chunk [start, end) of its elements and its variable's index, flat. */
  readonly chunks: Int32Array;
  /** One sum of squares per numpy buffer, at its first chunk (0 at the others), written by the Norm phase. */
  readonly partials: Float64Array;
  /** [first chunk, end chunk) per lane: what a kernel called with a lane's range can tell it by. */
  readonly laneRanges: Int32Array;
  /** The same for the norm phase, whose lanes hold whole numpy buffers. */
  readonly normLaneRanges: Int32Array;
  /** Every chunk of the group per lane: a rank of a world sums its micro-batches over all of them. */
  readonly sumLaneRanges: Int32Array;
  /** The views that sum (a rank of a world with several micro-batches of its own): see `shardSumViews`. */
  readonly sumViews: GroupViews | null;
}

function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, length) * 8)).subarray(0, length);
}

/**
 * How long the arena's small arrays are. Their meaning belongs to the layers above (the lane
 * protocol's control block, the kernels' step and variable words); the arena only sizes them.
 */
export interface ScalarLengths {
  /** Int32 words of the control block. */
  readonly control: number;
  /** Float64 words of the per-step scalars of one dtype (the arena keeps a block per dtype, in DTYPES order). */
  readonly scalars: number;
  /** Float64 words of the per-variable parameters, every variable's together. */
  readonly varParams: number;
}

export function allocateArena(
  plans: readonly GroupPlan[],
  fields: readonly Field[],
  gradShards: number,
  lengths: ScalarLengths,
  world: { readonly rank: number; readonly ranks: number } = { rank: 0, ranks: 1 },
): ArenaDescriptor {
  const scalars = sharedFloat64(lengths.scalars * DTYPES.length);
  const groups = plans.map((plan): GroupDescriptor => {
    const group = {
      dtype: plan.dtype,
      fields,
      fieldLength: plan.fieldLength,
      gradShards,
      shardDivisor: gradShards * world.ranks,
      rank: world.rank,
      ranks: world.ranks,
      rankChunks: plan.rankChunks,
      rankElements: plan.rankElements,
      chunks: plan.chunks,
      partials: sharedFloat64(chunkCount(plan.chunks)),
      laneRanges: plan.laneRanges,
      normLaneRanges: plan.normLaneRanges,
      sumLaneRanges: plan.sumLaneRanges,
      scalars: scalars.subarray(
        DTYPES.indexOf(plan.dtype) * lengths.scalars,
        (DTYPES.indexOf(plan.dtype) + 1) * lengths.scalars,
      ),
    };
    const bytes = regionsOf(group).end * bytesPerElement(plan.dtype);
    const pages = Math.ceil(bytes / SEGMENT_GRANULE_BYTES);
    // reserved, not committed: the first step's commit phase touches the pages on the lanes
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    return { ...group, memory };
  });
  return {
    groups,
    control: new Int32Array(new SharedArrayBuffer(lengths.control * 4)),
    scalars,
    varParams: sharedFloat64(lengths.varParams),
  };
}

/** Field regions a one-process group holds: one per field, the grad field's one per shard (a bound for a world's rank too). */
export function regionCount(fields: readonly Field[], gradShards: number): number {
  return fields.length + gradShards - 1;
}

/** This rank's slice of every field: [first element, end element). */
export function sliceOf(group: Omit<GroupDescriptor, 'memory'>): readonly [number, number] {
  return [group.rankElements[group.rank]!, group.rankElements[group.rank + 1]!];
}

/**
 * Where a group's regions begin, in elements: the values (every element: the model needs them
 * all), this process's gradient shards (every element: its micro-batches' gradients), then, in a
 * world of several ranks, the partial sums the ranks send this one for its slice, one per rank,
 * and the slots, for this rank's slice only. One process: the slice is the whole field.
 */
function regionsOf(group: Omit<GroupDescriptor, 'memory'>): {
  readonly received: number;
  readonly slots: ReadonlyMap<Field, number>;
  readonly end: number;
} {
  const [first, end] = sliceOf(group);
  const slice = end - first;
  const received = (1 + group.gradShards) * group.fieldLength;
  let cursor = received + (group.ranks > 1 ? group.ranks * slice : 0);
  const slots = new Map<Field, number>();
  for (const field of group.fields) {
    if (field === 'value' || field === 'grad') continue;
    slots.set(field, cursor);
    cursor += slice;
  }
  return { received, slots, end: Math.max(cursor, received) };
}

/**
 * One view per field of the slot table, as the kernels index it: element i of the field at index
 * i. A slot holds this rank's slice only, so its view begins before its region by the slice's
 * first element (inside the segment: the value and gradient regions come first), and only the
 * slice's indices are in its region.
 */
export function groupViews(group: GroupDescriptor): GroupViews {
  const buffer = group.memory.buffer as unknown as SharedArrayBuffer;
  const bpe = bytesPerElement(group.dtype);
  const view = (at: number, length: number) => viewOf(group.dtype, buffer, at * bpe, length);
  const { received, slots } = regionsOf(group);
  const [first, end] = sliceOf(group);
  const localShards = view(group.fieldLength, group.gradShards * group.fieldLength);
  const fields = Object.fromEntries(
    SLOTS.map(({ field }) => {
      const at = slots.get(field);
      return [field, at === undefined ? null : view(at - first, end)];
    }),
  ) as Record<Field, FloatArray | null>;
  const many = group.ranks > 1;
  const gradShards = many ? view(received - first, (group.ranks - 1) * (end - first) + end) : localShards;
  const views: GroupViews = {
    ...(fields as FieldViews),
    value: view(0, group.fieldLength),
    grad: gradShards.subarray(0, many ? end : group.fieldLength),
    dtype: group.dtype,
    memory: group.memory,
    gradShards,
    shardCount: many ? group.ranks : group.gradShards,
    shardStride: many ? end - first : group.fieldLength,
    shardDivisor: group.shardDivisor,
    localShards,
    localShardCount: group.gradShards,
    chunks: group.chunks,
    partials: group.partials,
    laneRanges: group.laneRanges,
    normLaneRanges: group.normLaneRanges,
    sumLaneRanges: group.sumLaneRanges,
    sumViews: null,
  };
  return many && group.gradShards > 1 ? { ...views, sumViews: shardSumViews(views) } : views;
}

/**
 * The views a rank of a world sums its own micro-batches through (the shard-sum phase): its
 * gradient shards, summed in their tree and divided by 1, into the first.
 */
function shardSumViews(views: GroupViews): GroupViews {
  return {
    ...views,
    grad: views.localShards.subarray(0, views.value.length),
    gradShards: views.localShards,
    shardCount: views.localShardCount,
    shardStride: views.value.length,
    shardDivisor: 1,
  };
}

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
  /** Gradient shards (micro-batches): the grad field is this many field regions, back to back. */
  readonly gradShards: number;
  readonly chunks: Int32Array;
  /** One sum of squares per numpy buffer, at its first chunk, written by the Norm phase. */
  readonly partials: Float64Array;
  readonly laneRanges: Int32Array;
  readonly normLaneRanges: Int32Array;
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
  /** Every gradient shard, back to back: shard j of element i at `i + j * shardStride` (one shard: `grad`). */
  readonly gradShards: FloatArray;
  readonly shardCount: number;
  /** Elements from one shard to the next: a field's length. */
  readonly shardStride: number;
  /** The chunk table: per chunk [start, end) of its elements and its variable's index, flat. */
  readonly chunks: Int32Array;
  /** One sum of squares per numpy buffer, at its first chunk (0 at the others), written by the Norm phase. */
  readonly partials: Float64Array;
  /** [first chunk, end chunk) per lane: what a kernel called with a lane's range can tell it by. */
  readonly laneRanges: Int32Array;
  /** The same for the norm phase, whose lanes hold whole numpy buffers. */
  readonly normLaneRanges: Int32Array;
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
): ArenaDescriptor {
  const scalars = sharedFloat64(lengths.scalars * DTYPES.length);
  const groups = plans.map((plan): GroupDescriptor => {
    const bytes = regionCount(fields, gradShards) * plan.fieldLength * bytesPerElement(plan.dtype);
    const pages = Math.ceil(bytes / SEGMENT_GRANULE_BYTES);
    // reserved, not committed: the first step's commit phase touches the pages on the lanes
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    return {
      dtype: plan.dtype,
      memory,
      fields,
      fieldLength: plan.fieldLength,
      gradShards,
      chunks: plan.chunks,
      partials: sharedFloat64(chunkCount(plan.chunks)),
      laneRanges: plan.laneRanges,
      normLaneRanges: plan.normLaneRanges,
      scalars: scalars.subarray(
        DTYPES.indexOf(plan.dtype) * lengths.scalars,
        (DTYPES.indexOf(plan.dtype) + 1) * lengths.scalars,
      ),
    };
  });
  return {
    groups,
    control: new Int32Array(new SharedArrayBuffer(lengths.control * 4)),
    scalars,
    varParams: sharedFloat64(lengths.varParams),
  };
}

/** Field regions of a group: one per field, the grad field's one per shard. */
export function regionCount(fields: readonly Field[], gradShards: number): number {
  return fields.length + gradShards - 1;
}

/**
 * A whole field of a group (every variable's part of it; for grad, `regions` shards of it), or
 * null when the options do not need that slot.
 */
function groupField(group: GroupDescriptor, buffer: SharedArrayBuffer, field: Field, regions = 1): FloatArray | null {
  const index = group.fields.indexOf(field);
  if (index < 0) return null;
  const region = index > group.fields.indexOf('grad') ? index + group.gradShards - 1 : index;
  const bytes = group.fieldLength * bytesPerElement(group.dtype);
  return viewOf(group.dtype, buffer, region * bytes, regions * group.fieldLength);
}

export function groupViews(group: GroupDescriptor): GroupViews {
  const buffer = group.memory.buffer as unknown as SharedArrayBuffer;
  const fields = Object.fromEntries(SLOTS.map(({ field }) => [field, groupField(group, buffer, field)]));
  return {
    ...(fields as FieldViews),
    dtype: group.dtype,
    memory: group.memory,
    gradShards: groupField(group, buffer, 'grad', group.gradShards)!,
    shardCount: group.gradShards,
    shardStride: group.fieldLength,
    chunks: group.chunks,
    partials: group.partials,
    laneRanges: group.laneRanges,
    normLaneRanges: group.normLaneRanges,
  };
}

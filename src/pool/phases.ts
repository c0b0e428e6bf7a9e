import type { KernelSet } from '../kernels/types.js';
import type { ArenaDescriptor, GroupViews } from '../memory/arena.js';
import type { FloatArray } from '../memory/dtype.js';
import { Chunk, CHUNK_STRIDE } from '../memory/layout.js';
import { FIELD_ORDER } from '../memory/slots.js';
import { Phase } from './protocol.js';

/** Every lane, for the calling-thread executor. */
export const ALL_CHUNKS = -1;

/** The lanes' ranges of chunks a phase runs over: this rank's slice, or (its shard sum) the whole group. */
function rangesOf(group: ArenaDescriptor['groups'][number], phase: Phase): Int32Array {
  if (phase === Phase.Norm) return group.normLaneRanges;
  return phase === Phase.ShardSum ? group.sumLaneRanges : group.laneRanges;
}

/**
 * Runs one phase over a lane's chunks of every group (`lane` = ALL_CHUNKS: every lane's).
 * The same function serves the calling thread and the workers, so their bytes cannot differ.
 */
export function runPhase(
  kernels: KernelSet,
  phase: Phase,
  arena: ArenaDescriptor,
  views: readonly GroupViews[],
  lane: number,
): void {
  for (let g = 0; g < views.length; g++) {
    const group = arena.groups[g]!;
    const view = views[g]!;
    const ranges = rangesOf(group, phase);
    const begin = lane === ALL_CHUNKS ? ranges[0]! : ranges[2 * lane]!;
    const end = lane === ALL_CHUNKS ? ranges[ranges.length - 1]! : ranges[2 * lane + 1]!;
    if (begin === end) continue;
    const kernel = kernels[view.dtype]!; // a set without this dtype was refused at build
    if (phase === Phase.Norm) kernel.sumSquares(view, begin, end, group.scalars, arena.varParams);
    else if (phase === Phase.Commit) commitPages(view, begin, end);
    else if (phase === Phase.ShardSum) kernel.sumShards(view.sumViews!, begin, end, group.scalars, arena.varParams);
    else kernel.update(view, begin, end, group.scalars, arena.varParams);
  }
}

const PAGE_BYTES = 4096;

/**
 * Touches one byte per page of chunks [begin, end), in every field, leaving it unchanged: the OS
 * commits those pages now, on this thread, instead of faulting them in during the first update.
 * The touch is a compare-exchange of 0 with 0, a write access that changes nothing: a plain read
 * then write faults twice per fresh page (measured: the commit of a 1e9-parameter arena took 2.5x
 * as long that way).
 */
function commitPages(view: GroupViews, begin: number, end: number): void {
  const bytes = new Uint8Array(view.memory.buffer);
  const width = view.value.BYTES_PER_ELEMENT;
  const shards = (all: FloatArray, count: number, stride: number) =>
    Array.from({ length: count }, (_, j) => all.subarray(j * stride));
  const fields = FIELD_ORDER.flatMap((field) =>
    field !== 'grad'
      ? [view[field]]
      : [
          ...shards(view.localShards, view.localShardCount, view.value.length),
          ...(view.gradShards === view.localShards ? [] : shards(view.gradShards, view.shardCount, view.shardStride)),
        ],
  );
  for (let c = begin; c < end; c++) {
    const first = view.chunks[c * CHUNK_STRIDE + Chunk.Start]! * width;
    const last = view.chunks[c * CHUNK_STRIDE + Chunk.End]! * width - 1;
    for (const field of fields) {
      if (field === null || last < first) continue;
      for (let b = field.byteOffset + first; b < field.byteOffset + last; b += PAGE_BYTES)
        Atomics.compareExchange(bytes, b, 0, 0);
      Atomics.compareExchange(bytes, field.byteOffset + last, 0, 0);
    }
  }
}

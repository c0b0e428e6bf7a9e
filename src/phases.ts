import type { ArenaDescriptor, GroupViews } from './arena.js';
import type { KernelSet } from './kernels/types.js';
import { chunkCount } from './layout.js';
import { Phase } from './protocol.js';

/** Every lane, for the calling-thread executor. */
export const ALL_CHUNKS = -1;

/**
 * Runs one phase over a lane's chunks of every group (`lane` = ALL_CHUNKS: all of them).
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
    const begin = lane === ALL_CHUNKS ? 0 : group.laneRanges[2 * lane]!;
    const end = lane === ALL_CHUNKS ? chunkCount(group.chunks) : group.laneRanges[2 * lane + 1]!;
    if (begin === end) continue;
    const kernel = kernels[view.dtype];
    if (phase === Phase.Norm) kernel.sumSquares(view, begin, end, arena.scalars, arena.varParams);
    else kernel.update(view, begin, end, arena.scalars, arena.varParams);
  }
}

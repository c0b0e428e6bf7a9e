import type { GroupViews } from '../memory/arena.js';
import type { HalfDType } from '../memory/dtype.js';

/**
 * What a kernel implementation provides for one dtype. Both entry points work on a range of
 * chunks [begin, end) of one group, read the step's scalars and per-variable parameters from
 * shared memory, and touch nothing outside their chunks — which is what makes any partition of
 * the chunks give the same bytes.
 */
export interface Kernels {
  /** Norm phase: `partials[c]` = sum over chunk c of fround(g*g), g the effective gradient, in float64. */
  sumSquares(views: GroupViews, begin: number, end: number, scalars: Float64Array, varParams: Float64Array): void;
  /** Update phase: the whole per-element pipeline of one Keras `apply`, fused into one pass. */
  update(views: GroupViews, begin: number, end: number, scalars: Float64Array, varParams: Float64Array): void;
  /** Shard-sum phase (a rank of a world): the views' shards summed in their tree into the first. */
  sumShards(views: GroupViews, begin: number, end: number, scalars: Float64Array, varParams: Float64Array): void;
}

/**
 * A kernel implementation: `Kernels` for float32 and float64, and for the half-precision dtypes
 * it supports (an optimizer over a half variable refuses a set without its dtype at build).
 */
export type KernelSet = Readonly<Record<'float32' | 'float64', Kernels>> &
  Readonly<Partial<Record<HalfDType, Kernels>>>;

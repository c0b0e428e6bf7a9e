/**
 * The arena: every array of the optimizer in SharedArrayBuffers, allocated once at build.
 * Each dtype group is one buffer holding its fields back to back (value, grad, slots); the
 * descriptor is what a worker receives — typed arrays over shared memory, so nothing is copied.
 */
import { bytesPerElement, viewOf, type DType, type FloatArray } from './dtype.js';
import type { Field, GroupPlan } from './layout.js';
import { controlLength, Sc, VP } from './protocol.js';

export interface GroupDescriptor {
  readonly dtype: DType;
  readonly buffer: SharedArrayBuffer;
  readonly fields: readonly Field[];
  readonly fieldLength: number;
  readonly chunks: Int32Array;
  /** One float64 sum of squares per chunk, written by the Norm phase. */
  readonly partials: Float64Array;
  readonly laneRanges: Int32Array;
}

export interface ArenaDescriptor {
  readonly groups: readonly GroupDescriptor[];
  readonly control: Int32Array;
  readonly scalars: Float64Array;
  readonly varParams: Float64Array;
}

/** Typed-array views of one group: what the kernels operate on. Absent slots are null. */
export interface GroupViews {
  readonly dtype: DType;
  readonly value: FloatArray;
  readonly grad: FloatArray;
  readonly velocity: FloatArray;
  readonly momentum: FloatArray | null;
  readonly averageGradient: FloatArray | null;
  readonly average: FloatArray | null;
  readonly accumulator: FloatArray | null;
  readonly chunks: Int32Array;
  readonly partials: Float64Array;
}

function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, length) * 8)).subarray(0, length);
}

export function allocateArena(plans: readonly GroupPlan[], fields: readonly Field[], variableCount: number, lanes: number): ArenaDescriptor {
  const groups = plans.map((plan): GroupDescriptor => {
    const bytes = fields.length * plan.fieldLength * bytesPerElement(plan.dtype);
    return {
      dtype: plan.dtype,
      buffer: new SharedArrayBuffer(bytes),
      fields,
      fieldLength: plan.fieldLength,
      chunks: plan.chunks,
      partials: sharedFloat64(plan.chunks.length / 3),
      laneRanges: plan.laneRanges,
    };
  });
  return {
    groups,
    control: new Int32Array(new SharedArrayBuffer(controlLength(lanes) * 4)),
    scalars: sharedFloat64(Sc.Length),
    varParams: sharedFloat64(variableCount * VP.Stride),
  };
}

/** A whole field of a group, or null when the options do not need that slot. */
function fieldView(group: GroupDescriptor, field: Field): FloatArray | null {
  const index = group.fields.indexOf(field);
  if (index < 0) return null;
  const bytes = group.fieldLength * bytesPerElement(group.dtype);
  return viewOf(group.dtype, group.buffer, index * bytes, group.fieldLength);
}

export function groupViews(group: GroupDescriptor): GroupViews {
  const must = (field: Field): FloatArray => fieldView(group, field)!;
  return {
    dtype: group.dtype,
    value: must('value'),
    grad: must('grad'),
    velocity: must('velocity'),
    momentum: fieldView(group, 'momentum'),
    averageGradient: fieldView(group, 'averageGradient'),
    average: fieldView(group, 'average'),
    accumulator: fieldView(group, 'accumulator'),
    chunks: group.chunks,
    partials: group.partials,
  };
}

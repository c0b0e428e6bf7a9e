/**
 * Norm clipping's reduction, on the coordinator: the lanes left one float64 sum of squares per
 * chunk; these are summed per variable in chunk order (so any partition gives the same sums),
 * then Keras's formulas give each variable's clip divisor (clipnorm) or the global scale
 * (globalClipnorm), rounded as Keras rounds them.
 */
import { ClipMode, type VariableWord } from '../kernels/rmsprop-words.js';
import type { VariableWords } from '../kernels/words.js';
import type { GroupDescriptor } from '../memory/arena.js';
import { roundingFor, type DType } from '../memory/dtype.js';
import { Chunk, CHUNK_STRIDE } from '../memory/layout.js';
import type { NormPlan, StepWords } from './step-plan.js';

export interface NormInputs {
  /** Their chunk tables and the partial sums the norm phase wrote. */
  readonly groups: readonly GroupDescriptor[];
  readonly dtypes: readonly DType[];
  /** Per-variable scratch, sized once. */
  readonly sums: Float64Array;
  /** float32 unless a float64 variable takes part (Keras's dtype promotion). */
  readonly globalRounding: (x: number) => number;
  /** The global scale goes to the `clip` word. */
  readonly step: StepWords;
  /** Read: `hasGradient`; written: `clipDivisor`. */
  readonly variables: VariableWords<VariableWord>;
}

export function reduceNorms(
  { groups, dtypes, sums, globalRounding: R, step, variables }: NormInputs,
  { mode, limit }: NormPlan,
): void {
  sums.fill(0);
  for (const { chunks, partials } of groups) {
    for (let c = 0; c < partials.length; c++) sums[chunks[c * CHUNK_STRIDE + Chunk.Variable]!]! += partials[c]!;
  }
  if (mode === ClipMode.Norm) {
    const clipnorm = Math.fround(limit);
    for (let i = 0; i < dtypes.length; i++) {
      if (variables.get(i, 'hasGradient') === 0) continue;
      const r = roundingFor(dtypes[i]!);
      const l2sum = r(sums[i]!);
      const l2norm = l2sum > 0 ? r(Math.sqrt(l2sum)) : l2sum;
      variables.set(i, 'clipDivisor', Math.max(l2norm, clipnorm)); // Math.max propagates NaN like numpy
    }
    return;
  }
  let squared = 0;
  for (let i = 0; i < dtypes.length; i++) {
    if (variables.get(i, 'hasGradient') !== 0) squared = R(squared + roundingFor(dtypes[i]!)(sums[i]!));
  }
  const norm = R(Math.sqrt(squared));
  const scaleForFinite = R(Math.fround(limit) * Math.min(R(1 / norm), Math.fround(1 / limit)));
  step.clip = R(scaleForFinite + R(norm - norm)); // NaN unless the norm is finite
}

/**
 * Norm clipping's reduction, on the coordinator: the lanes left one float64 sum of squares per
 * chunk; these are summed per variable in chunk order (so any partition gives the same sums),
 * then Keras's formulas give each variable's clip divisor (clipnorm) or the global scale
 * (globalClipnorm), rounded as Keras rounds them. A half variable's sum is the float64 sum
 * rounded once to its dtype, where numpy sums in float32 pairs: the same unless the two sums
 * straddle a rounding boundary of the half format.
 */
import { ClipMode, type VariableWord } from '../kernels/rmsprop-words.js';
import type { VariableWords } from '../kernels/words.js';
import type { GroupDescriptor } from '../memory/arena.js';
import { hyperparameterCast, isHalf, promotedDType, roundingFor, type DType } from '../memory/dtype.js';
import { Chunk, CHUNK_STRIDE } from '../memory/layout.js';
import type { NormPlan } from './step-plan.js';

export interface NormInputs {
  /** Their chunk tables and the partial sums the norm phase wrote. */
  readonly groups: readonly GroupDescriptor[];
  readonly dtypes: readonly DType[];
  /** Per-variable scratch, sized once. */
  readonly sums: Float64Array;
  /** The dtype the global norm is computed in: the variables' dtypes promoted as Keras does. */
  readonly globalDType: DType;
  /** Read: `hasGradient`; written: `clipDivisor`. */
  readonly variables: VariableWords<VariableWord>;
}

/**
 * Reduces the norm phase's sums: per-variable clipping writes each variable's divisor into its
 * words and returns 0; global norm clipping returns its scale, a double (the step's words cast it).
 */
export function reduceNorms(
  { groups, dtypes, sums, globalDType, variables }: NormInputs,
  { mode, limit }: NormPlan,
  /** Loss scaling: half gradients are float32 (see loss-scaling.ts). */
  wide = false,
): number {
  const gradientDType = (d: DType): DType => (wide && isHalf(d) ? 'float32' : d);
  sums.fill(0);
  for (const { chunks, partials } of groups) {
    for (let c = 0; c < partials.length; c++) sums[chunks[c * CHUNK_STRIDE + Chunk.Variable]!]! += partials[c]!;
  }
  if (mode === ClipMode.Norm) {
    for (let i = 0; i < dtypes.length; i++) {
      if (variables.get(i, 'hasGradient') === 0) continue;
      const r = roundingFor(gradientDType(dtypes[i]!));
      const clipnorm = hyperparameterCast(gradientDType(dtypes[i]!))(limit);
      const l2sum = r(sums[i]!);
      const l2norm = l2sum > 0 ? r(Math.sqrt(l2sum)) : l2sum;
      variables.set(i, 'clipDivisor', Math.max(l2norm, clipnorm)); // Math.max propagates NaN like numpy
    }
    return 0;
  }
  const R = roundingFor(wide ? promotedDType(dtypes.map(gradientDType)) : globalDType);
  let squared = 0;
  for (let i = 0; i < dtypes.length; i++) {
    if (variables.get(i, 'hasGradient') !== 0) squared = R(squared + roundingFor(gradientDType(dtypes[i]!))(sums[i]!));
  }
  const norm = R(Math.sqrt(squared));
  // numpy 1.24 promotes `1.0 / use_norm` (a numpy scalar) to float64, so the scale is a double
  const scaleForFinite = limit * Math.min(1 / norm, 1 / limit);
  return scaleForFinite + (norm - norm); // NaN unless the norm is finite
}

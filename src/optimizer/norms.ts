/**
 * Norm clipping's reduction, on the coordinator, in numpy's order (memory/numpy-sum.ts). The
 * lanes left one partial per numpy buffer: that buffer's pairwise sum of squares, in the
 * accumulators' precision. Here each variable's `ops.sum(ops.square(g))` is finished as numpy
 * finishes it (the buffers added in order, rounded to the dtype after each), so any partition
 * into lanes gives the same sums; then Keras's formulas give each variable's clip divisor
 * (clipnorm), or the global norm (`ops.sum(ops.stack(sums))`, numpy's sum again) and its scale
 * (globalClipnorm), each rounded as Keras rounds it.
 */
import { ClipMode, type VariableWord } from '../kernels/rmsprop-words.js';
import type { VariableWords } from '../kernels/words.js';
import type { GroupDescriptor } from '../memory/arena.js';
import { computeDType, hyperparameterCast, isHalf, roundingFor, type DType } from '../memory/dtype.js';
import { Chunk, CHUNK_STRIDE } from '../memory/layout.js';
import { numpySum, numpySumming } from '../memory/numpy-sum.js';
import type { NormPlan } from './step-plan.js';

export interface NormInputs {
  /** Their chunk tables and the partial sums the norm phase wrote. */
  readonly groups: readonly GroupDescriptor[];
  readonly dtypes: readonly DType[];
  /** Per-variable scratch, sized once: each variable's sum of squares. */
  readonly sums: Float64Array;
  /** Per-variable scratch, sized once: the sums of the variables with a gradient, stacked. */
  readonly stacked: Float64Array;
  /** The dtype the global norm is computed in: the variables' dtypes promoted as Keras does. */
  readonly globalDType: DType;
  /** The same under loss scaling, where half gradients are float32. */
  readonly wideGlobalDType: DType;
  /** Read: `hasGradient`; written: `clipDivisor`. */
  readonly variables: VariableWords<VariableWord>;
}

/**
 * Reduces the norm phase's sums: per-variable clipping writes each variable's divisor into its
 * words and returns 0; global norm clipping returns its scale, a double (the step's words cast it).
 */
export function reduceNorms(
  { groups, dtypes, sums, stacked, globalDType, wideGlobalDType, variables }: NormInputs,
  { mode, limit }: NormPlan,
  /** Loss scaling: half gradients are float32 (see loss-scaling.ts). */
  wide = false,
): number {
  // the dtype of the squares Keras sums: a loss-scaled half gradient is float32, float64 computes as float32
  const gradientDType = (d: DType): DType => computeDType(wide && isHalf(d) ? 'float32' : d);
  sums.fill(0);
  for (const { chunks, partials } of groups) {
    for (let c = 0; c < partials.length; c++) {
      if (chunks[c * CHUNK_STRIDE + Chunk.SumLength] === 0) continue;
      const variable = chunks[c * CHUNK_STRIDE + Chunk.Variable]!;
      const { add, round } = numpySumming(gradientDType(dtypes[variable]!));
      sums[variable] = round(add(sums[variable]!, partials[c]!));
    }
  }
  if (mode === ClipMode.Norm) {
    for (let i = 0; i < dtypes.length; i++) {
      if (variables.get(i, 'hasGradient') === 0) continue;
      const r = roundingFor(gradientDType(dtypes[i]!));
      const clipnorm = hyperparameterCast(gradientDType(dtypes[i]!))(limit);
      const l2sum = sums[i]!;
      const l2norm = l2sum > 0 ? r(Math.sqrt(l2sum)) : l2sum;
      variables.set(i, 'clipDivisor', Math.max(l2norm, clipnorm)); // Math.max propagates NaN like numpy
    }
    return 0;
  }
  const stackDType = wide ? wideGlobalDType : globalDType;
  let count = 0;
  for (let i = 0; i < dtypes.length; i++) if (variables.get(i, 'hasGradient') !== 0) stacked[count++] = sums[i]!;
  const norm = roundingFor(stackDType)(Math.sqrt(numpySum(stacked, stackDType, count)));
  // `clip_norm * ops.minimum(1.0 / use_norm, 1.0 / clip_norm)`: the minimum is a Keras op, so
  // float32; the Python float times that numpy scalar is a double in numpy 1.24, and so the scale
  const scaleForFinite = limit * Math.fround(Math.min(1 / norm, 1 / limit));
  return scaleForFinite + (norm - norm); // NaN unless the norm is finite
}

/**
 * Norm clipping's reduction, on the coordinator: the lanes left one float64 sum of squares per
 * chunk; these are summed per variable in chunk order (so any partition gives the same sums),
 * then Keras's formulas give each variable's clip divisor (clipnorm) or the global scale
 * (globalClipnorm), rounded as Keras rounds them.
 */
import type { ArenaDescriptor } from './arena.js';
import { roundingFor, type DType } from './dtype.js';
import { ClipMode, STEP_WORDS, VARIABLE_WORDS } from './kernels/rmsprop.js';

const S = STEP_WORDS.index;
const V = VARIABLE_WORDS.index;
const V_STRIDE = VARIABLE_WORDS.length;

export interface NormInputs {
  readonly arena: ArenaDescriptor;
  readonly dtypes: readonly DType[];
  /** Per-variable scratch, sized once. */
  readonly sums: Float64Array;
  /** float32 unless a float64 variable takes part (Keras's dtype promotion). */
  readonly globalRounding: (x: number) => number;
}

export function reduceNorms({ arena, dtypes, sums, globalRounding: R }: NormInputs, clip: number, limit: number): void {
  const params = arena.varParams;
  sums.fill(0);
  for (const group of arena.groups) {
    const { chunks, partials } = group;
    for (let c = 0; c < partials.length; c++) sums[chunks[3 * c + 2]!]! += partials[c]!;
  }
  const hasGrad = (i: number): boolean => params[i * V_STRIDE + V.hasGradient] !== 0;
  if (clip === ClipMode.Norm) {
    const clipnorm = Math.fround(limit);
    for (let i = 0; i < dtypes.length; i++) {
      if (!hasGrad(i)) continue;
      const r = roundingFor(dtypes[i]!);
      const l2sum = r(sums[i]!);
      const l2norm = l2sum > 0 ? r(Math.sqrt(l2sum)) : l2sum;
      params[i * V_STRIDE + V.clipDivisor] = Math.max(l2norm, clipnorm); // Math.max propagates NaN like numpy
    }
    return;
  }
  let squared = 0;
  for (let i = 0; i < dtypes.length; i++) if (hasGrad(i)) squared = R(squared + roundingFor(dtypes[i]!)(sums[i]!));
  const norm = R(Math.sqrt(squared));
  const scaleForFinite = R(Math.fround(limit) * Math.min(R(1 / norm), Math.fround(1 / limit)));
  arena.scalars[S.clip] = R(scaleForFinite + R(norm - norm)); // NaN unless the norm is finite
}

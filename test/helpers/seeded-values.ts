/**
 * The inputs of the generated fixtures (numpy-sum, keras-norms), computed as their make.py
 * computes them: u * 2^k, u a 32-bit hash of (i, seed) in [-0.5, 0.5), k in [-low, 12 - low],
 * an exact double cast to the dtype (numpy's astype: rounded once).
 */
import { roundToHalf } from '../../dist/src/memory/half.js';
import type { DType } from '../../dist/src/memory/dtype.js';

/** A double cast to `dtype` as numpy's `astype` casts it. */
export const castTo =
  (dtype: DType) =>
  (x: number): number =>
    dtype === 'float64' ? x : dtype === 'float32' ? Math.fround(x) : roundToHalf(x, dtype);

/** make.py's `values(n, seed, dtype, low)`, as numbers. */
export function seededValues(n: number, seed: number, dtype: DType, low: number): number[] {
  const cast = castTo(dtype);
  return Array.from({ length: n }, (_, i) => {
    const u = ((i * 2654435761 + seed) % 2 ** 32) / 2 ** 32 - 0.5;
    return cast(u * 2 ** (((i * 7 + seed) % 13) - low));
  });
}

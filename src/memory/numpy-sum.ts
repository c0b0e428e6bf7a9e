/**
 * numpy's order of a sum, as Keras's numpy backend runs `ops.sum` (numpy 1.24's `np.add.reduce`
 * over a contiguous array), stated once so that norm clipping, and later a reduction across
 * processes, can reproduce its bits. The order depends on the array's length alone:
 *
 * - the array is cut into buffers of `NUMPY_BUFFER` (8192) elements, summed one after another
 *   into the result, which is rounded to the array's dtype after each buffer;
 * - within a buffer, numpy's `pairwise_sum`: fewer than 8 terms in order; up to
 *   `PAIRWISE_LEAF` (128) with 8 accumulators, combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)),
 *   then the terms past the last multiple of 8 in order; above that, split at half the length
 *   rounded down to a multiple of 8 and recurse.
 *
 * The accumulators are float32 for float16 and float32 arrays and float64 for float64 (the checks
 * against numpy: test/fixtures/numpy-sum). bfloat16 is summed as float16 is, which is not
 * checked: numpy has no bfloat16 of its own, and the Keras kit here lacks `ml_dtypes`. So the tree is fixed before anyone sums: its leaves
 * can be summed anywhere, and the top of the tree finished in order.
 */
import { roundFloat32ToFloat16, roundFloat32ToBfloat16 } from './half.js';
import type { DType } from './dtype.js';

/** The elements numpy's reduction hands its inner loop at a time (its buffer size). */
export const NUMPY_BUFFER = 8192;
/** The largest run `pairwise_sum` sums with its 8 accumulators instead of splitting. */
export const PAIRWISE_LEAF = 128;

/** An addition rounded in the accumulator's precision. */
export type Add = (a: number, b: number) => number;

const addFloat32: Add = (a, b) => Math.fround(a + b);
const addFloat64: Add = (a, b) => a + b;

/** numpy's `pairwise_sum` of `terms[from, from + n)`, each addition rounded by `add`. */
export function pairwiseSum(terms: ArrayLike<number>, from: number, n: number, add: Add): number {
  if (n < 8) {
    let sum = 0;
    for (let i = from; i < from + n; i++) sum = add(sum, terms[i]!);
    return sum;
  }
  if (n <= PAIRWISE_LEAF) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => terms[from + j]!);
    const whole = n - (n % 8);
    for (let i = 8; i < whole; i += 8) for (let j = 0; j < 8; j++) r[j] = add(r[j]!, terms[from + i + j]!);
    let sum = add(add(add(r[0]!, r[1]!), add(r[2]!, r[3]!)), add(add(r[4]!, r[5]!), add(r[6]!, r[7]!)));
    for (let i = whole; i < n; i++) sum = add(sum, terms[from + i]!);
    return sum;
  }
  const half = Math.floor(n / 2);
  const split = half - (half % 8);
  return add(pairwiseSum(terms, from, split, add), pairwiseSum(terms, from + split, n - split, add));
}

/** How numpy sums an array of one dtype: its accumulators' addition, the result's rounding. */
export interface NumpySumming {
  readonly add: Add;
  readonly round: (x: number) => number;
}

/** The precision of numpy's accumulators for an array of `dtype`: float64 only for float64. */
export function accumulatorDType(dtype: DType): 'float32' | 'float64' {
  return dtype === 'float64' ? 'float64' : 'float32';
}

const ADD = { float32: addFloat32, float64: addFloat64 } as const;
const ROUND: Readonly<Record<DType, (x: number) => number>> = {
  float32: Math.fround,
  float16: roundFloat32ToFloat16,
  bfloat16: roundFloat32ToBfloat16,
  float64: (x) => x,
};
const SUMMING = Object.fromEntries(
  (Object.keys(ROUND) as DType[]).map((dtype) => [dtype, { add: ADD[accumulatorDType(dtype)], round: ROUND[dtype] }]),
) as Readonly<Record<DType, NumpySumming>>;

/** How numpy sums an array of `dtype` (a constant: nothing is made per call). */
export function numpySumming(dtype: DType): NumpySumming {
  return SUMMING[dtype];
}

/**
 * `np.sum(terms[0, length))` for an array of `dtype` whose values are `terms` (as numbers):
 * buffer by buffer of `NUMPY_BUFFER`, each a pairwise sum, the result rounded to the dtype after
 * each buffer.
 */
export function numpySum(terms: ArrayLike<number>, dtype: DType, length = terms.length): number {
  const { add, round } = SUMMING[dtype];
  let sum = 0;
  for (let from = 0; from < length; from += NUMPY_BUFFER) {
    sum = round(add(sum, pairwiseSum(terms, from, Math.min(NUMPY_BUFFER, length - from), add)));
  }
  return sum;
}

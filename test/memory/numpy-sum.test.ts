/**
 * numpy's order of a sum against numpy itself: test/fixtures/numpy-sum/sums.json holds what
 * numpy 1.24 (the Keras 3.16 kit's) gave for np.sum(np.square(x)) -- Keras's
 * ops.sum(ops.square(g)) -- at lengths around its edges (8, 128, the 8192-element buffer), for
 * float32, float16 and float64, and for ops.sum(ops.stack(sums)), the global norm's sum over
 * variables. Both sides make x the same way (`values`, as make.py does).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NUMPY_BUFFER, numpySum, pairwiseSum } from '../../dist/src/memory/numpy-sum.js';
import { castTo, seededValues } from '../helpers/seeded-values.js';
import type { DType } from '../../dist/src/memory/dtype.js';

interface SumCase {
  dtype: 'float32' | 'float16' | 'float64';
  length: number;
  seed: number;
  sum: number;
}
interface StackCase {
  dtypes: Array<SumCase['dtype']>;
  lengths: number[];
  seeds: number[];
  dtype: SumCase['dtype'];
  sum: number;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/numpy-sum/sums.json', import.meta.url), 'utf8')) as {
  cases: SumCase[];
  stacks: StackCase[];
};

/** make.py's values: float16 from 2^-12, the others from 2^-6. */
const values = (n: number, seed: number, dtype: SumCase['dtype']): number[] =>
  seededValues(n, seed, dtype, dtype === 'float16' ? 12 : 6);

/** np.square in the dtype: the exact product, rounded once (a half's product is exact in float32). */
const squares = (x: number[], dtype: DType) => x.map((v) => castTo(dtype)(v * v));

describe("numpy's sum, bit for bit", () => {
  it('has cases past the buffer and at every pairwise edge', () => {
    const lengths = new Set(fixture.cases.map((c) => c.length));
    for (const n of [7, 8, 9, 128, 129, NUMPY_BUFFER, NUMPY_BUFFER + 1, 100003]) expect(lengths).toContain(n);
  });

  it.each(fixture.cases.map((c) => [c.dtype, c.length, c.seed, c] as const))(
    'np.sum(np.square(x)), %s, %i elements (seed %i)',
    (dtype, n, seed, c) => {
      expect(numpySum(squares(values(n, seed, dtype), dtype), dtype)).toBe(c.sum);
    },
  );

  it.each(fixture.stacks.map((s) => [s.dtypes.length, s.dtypes.join(' '), s] as const))(
    'ops.sum(ops.stack(sums)) of %i variables (%s)',
    (_count, _dtypes, s) => {
      const sums = s.dtypes.map((d, k) => numpySum(squares(values(s.lengths[k]!, s.seeds[k]!, d), d), d));
      expect(numpySum(sums.map(castTo(s.dtype)), s.dtype)).toBe(s.sum);
    },
  );

  it('is not a float64 sum, nor a sequential one, nor one pairwise tree over the whole array (mutations fail)', () => {
    const long = fixture.cases.filter((c) => c.dtype === 'float32' && c.length > NUMPY_BUFFER);
    const differs = (sum: (terms: number[]) => number) =>
      long.filter((c) => sum(squares(values(c.length, c.seed, 'float32'), 'float32')) !== c.sum).length;
    expect(differs((t) => Math.fround(t.reduce((a, b) => a + b, 0)))).toBeGreaterThan(0); // float64
    expect(differs((t) => t.reduce((a, b) => Math.fround(a + b), 0))).toBeGreaterThan(0); // sequential float32
    const whole = (t: number[]) => pairwiseSum(t, 0, t.length, (a, b) => Math.fround(a + b));
    expect(differs(whole)).toBeGreaterThan(0); // no buffers
  });
});

/**
 * Keras's float16 arithmetic, pinned down before the optimizer computes in float16: the
 * independent oracle (test/helpers/keras-float16.ts) follows every real Keras 3.16 float16 run
 * (test/fixtures/keras-float16) bit for bit, each step's variables and the EMA-finalized ones.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { f16, kerasFloat16, numpySumFloat16, type Float16Options } from '../helpers/keras-float16.js';

interface Float16Case {
  readonly id: string;
  readonly dtype: 'float16';
  readonly options: Float16Options;
  readonly variables: ReadonlyArray<{ readonly name: string; readonly init: number[] }>;
  readonly steps: ReadonlyArray<{ readonly grads: number[][] }>;
  readonly expected: ReadonlyArray<{ readonly iterations: number; readonly variables: number[][] }>;
  readonly expected_finalized: number[][] | null;
}

const fixture = <T>(name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/keras-float16/${name}`, import.meta.url), 'utf8')) as T;
const ids = fixture<{ cases: string[] }>('index.json').cases;

describe('Keras 3.16 float16 runs, as the float16 oracle computes them', () => {
  it('has the cases this test knows about', () => {
    expect(ids).toEqual(['f16_defaults', 'f16_centered_momentum', 'f16_clipnorm_ema', 'f16_weight_decay_accum']);
  });

  it.each(ids)('%s: every step bit for bit', (id) => {
    const c = fixture<Float16Case>(`${id}.json`);
    expect(c.dtype).toBe('float16');
    const run = kerasFloat16(
      c.options,
      c.variables.map((v) => v.init),
      c.steps.map((s) => s.grads),
    );
    const accumulation = c.options.gradient_accumulation_steps ?? 1;
    c.expected.forEach((step, k) => {
      expect(step.iterations).toBe(Math.floor((k + 1) / accumulation)); // Keras counts applied updates
      expect(run.afterEachStep[k], `step ${k + 1}`).toEqual(step.variables);
    });
    if (c.expected_finalized !== null) expect(run.finalized).toEqual(c.expected_finalized);
  });

  it('the oracle sums float16 squares as numpy does (float32 pairwise sums, rounded once): every vendored case', () => {
    const { cases } = JSON.parse(
      readFileSync(new URL('../fixtures/half/float16-sums-numpy.json', import.meta.url), 'utf8'),
    ) as { cases: Array<[string, number]> };
    const fromBits = (bits: number) => {
      const field = (bits >>> 10) & 0x1f;
      const stored = bits & 0x3ff;
      const value =
        field === 0x1f
          ? stored
            ? NaN
            : Infinity
          : field === 0
            ? stored * 2 ** -24
            : (1024 + stored) * 2 ** (field - 25);
      return bits & 0x8000 ? -value : value;
    };
    const wrong = cases.filter(([hex, total]) => {
      const x = Array.from({ length: hex.length / 4 }, (_, i) => fromBits(parseInt(hex.slice(4 * i, 4 * i + 4), 16)));
      return numpySumFloat16(x.map((v) => f16(v * v))) !== fromBits(total);
    });
    expect(wrong.map(([hex]) => hex.length / 4)).toEqual([]);
    expect(cases.length).toBeGreaterThan(50);
  });

  it('the oracle’s float16 rounding and sum are what they say', () => {
    expect(f16(0.1)).toBe(0.0999755859375);
    expect(f16(1e-7)).toBe(2 * 2 ** -24); // Keras's epsilon, subnormal
    expect(f16(1 + 2 ** -11)).toBe(1); // a tie: to even
    expect(f16(65519)).toBe(65504);
    expect(f16(65520)).toBe(Infinity);
    // 2048 + 1 + 1 in float16 steps would stay 2048; numpy sums in float32, then rounds once
    expect(numpySumFloat16([2048, 1, 1])).toBe(2050);
  });
});

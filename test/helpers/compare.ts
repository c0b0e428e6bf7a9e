import { expect } from 'vitest';

/** Tolerances the project promises against Keras. */
export const TOLERANCE = {
  float32: { rel: 1e-5, abs: 1e-6 },
  float64: { rel: 1e-6, abs: 1e-12 },
} as const;

/** Elementwise closeness; NaN must meet NaN and infinities must match exactly. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  dtype: 'float32' | 'float64',
  what: string,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const { rel, abs } = TOLERANCE[dtype];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Number.isNaN(e)
      ? Number.isNaN(a)
      : !Number.isFinite(e)
        ? a === e
        : Math.abs(a - e) <= abs + rel * Math.abs(e);
    if (!ok) expect.fail(`${what}[${i}]: got ${a}, Keras has ${e}`);
  }
}

/** The spacing of float32 values at `x` (its unit in the last place). */
export function float32Ulp(x: number): number {
  return 2 ** (Math.max(Math.floor(Math.log2(Math.abs(x))), -126) - 23);
}

/** Exact equality, NaN == NaN (for the elementwise cases Keras and we must agree bit for bit). */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]) && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      expect.fail(`${what}[${i}]: got ${actual[i]}, Keras has ${expected[i]} (must be bit-identical)`);
    }
  }
}

/** A copy of the arrays' bytes, end to end (for bytewise comparisons). */
export function bytesOf(arrays: readonly ArrayBufferView[]): Buffer {
  return Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
}

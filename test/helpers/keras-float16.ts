/**
 * An independent oracle of Keras 3.16's RMSprop over float16 variables on its numpy backend,
 * written from keras/src/optimizers/base_optimizer.py and rmsprop.py and from how numpy computes
 * float16. It shares nothing with src/ (its own float16 rounding, by search in the format's
 * values), and is checked against real Keras runs (test/fixtures/keras-float16).
 *
 * What Keras does, as this oracle states it:
 * - Each float16 operation is numpy's: the operands widened to float32, the float32 result
 *   rounded to float16 (for + - * / and sqrt the double rounding is exact, so here: the exact
 *   result rounded once).
 * - A Python float hyperparameter (rho, 1 - rho computed in Python, epsilon, momentum, the
 *   weight decay, clipnorm, the EMA momentum, the loss scale factor) meets a float16 array through
 *   `convert_to_tensor(x, 'float16')`: the double rounded straight to float16. The learning rate
 *   is a float32 variable: float32 first, then float16.
 * - The EMA's `1 - momentum` is computed in float16, from the float16 momentum.
 * - `ops.sum` of float16 squares (clipnorm) is numpy's: the first element, plus the pairwise sum
 *   of the rest with float32 accumulators (eight at a time in blocks of at most 128, halves
 *   above), rounded to float16 once.
 */

/** Every finite non-negative float16 value, in order (bits 0 .. 0x7bff). */
const VALUES = Float64Array.from({ length: 0x7c00 }, (_, bits) => {
  const field = bits >>> 10;
  const stored = bits & 0x3ff;
  return field === 0 ? stored * 2 ** -24 : (1024 + stored) * 2 ** (field - 25);
});

/** `x` rounded to the nearest float16, ties to the even bit pattern; past 65520, infinity. */
export function f16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  let lo = 0;
  let hi = VALUES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (VALUES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  if (VALUES[hi]! <= a) lo = hi;
  const below = VALUES[lo]!;
  const above = lo + 1 < VALUES.length ? VALUES[lo + 1]! : 65536;
  const pick = a - below < above - a ? below : a - below > above - a ? above : lo % 2 === 0 ? below : above;
  return x < 0 ? -pick : pick;
}

const f32 = Math.fround;

/** numpy's pairwise sum of float32 values with float32 accumulators (numpy's `pairwise_sum`). */
export function pairwiseSum(a: readonly number[]): number {
  const n = a.length;
  if (n < 8) {
    let sum = 0;
    for (const v of a) sum = f32(sum + v);
    return sum;
  }
  if (n <= 128) {
    const r = a.slice(0, 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = f32(r[j]! + a[i + j]!);
    let sum = f32(f32(f32(r[0]! + r[1]!) + f32(r[2]! + r[3]!)) + f32(f32(r[4]! + r[5]!) + f32(r[6]! + r[7]!)));
    for (; i < n; i++) sum = f32(sum + a[i]!);
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return f32(pairwiseSum(a.slice(0, half)) + pairwiseSum(a.slice(half)));
}

/** `ops.sum(values)` of a float16 array, as numpy reduces it. */
export function numpySumFloat16(values: readonly number[], round: (x: number) => number = f16): number {
  if (values.length === 0) return 0;
  return round(f32(values[0]! + pairwiseSum(values.slice(1))));
}

/** The Keras options the float16 cases use, snake_case as Keras names them. */
export interface Float16Options {
  readonly learning_rate: number;
  readonly rho?: number;
  readonly momentum?: number;
  readonly epsilon?: number;
  readonly centered?: boolean;
  readonly weight_decay?: number | null;
  readonly clipnorm?: number | null;
  readonly use_ema?: boolean;
  readonly ema_momentum?: number;
  readonly gradient_accumulation_steps?: number | null;
  readonly loss_scale_factor?: number | null;
}

/** A variable's arrays: its values and slots, flat. */
interface Slots {
  value: number[];
  velocity: number[];
  momentum: number[];
  averageGradient: number[];
  average: number[];
  accumulator: number[];
}

/**
 * `x` rounded to the nearest bfloat16 (8 significant bits, float32's exponent range), ties to
 * even, by arithmetic on the double: the quantum of x's binade, then a round-half-even division.
 */
export function bf16(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  if (a === 0) return x;
  const e = Math.max(Math.floor(Math.log2(a)), -126);
  const exponent = 2 ** (e + 1) <= a ? e + 1 : 2 ** e > a ? e - 1 : e;
  const quantum = 2 ** (Math.max(exponent, -126) - 7);
  const q = a / quantum;
  const floor = Math.floor(q);
  const rounded = q - floor > 0.5 || (q - floor === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  const r = rounded * quantum;
  const value = r >= 2 ** 128 ? Infinity : r; // past the largest finite bfloat16
  return x < 0 ? -value : value;
}

/** Keras's float16 RMSprop over `initial` variables: the values after each step of `steps`, and the EMA-finalized values. */
export function kerasFloat16(
  o: Float16Options,
  initial: readonly (readonly number[])[],
  steps: ReadonlyArray<readonly (readonly number[])[]>,
  round: (x: number) => number = f16,
): { afterEachStep: number[][][]; finalized: number[][] } {
  const f16 = round; // every float16 operation below rounds with it: bf16 makes this the bfloat16 oracle
  const lr = f16(f32(o.learning_rate));
  const rho = f16(o.rho ?? 0.9);
  const oneMinusRho = f16(1 - (o.rho ?? 0.9));
  const epsilon = f16(o.epsilon ?? 1e-7);
  const momentum = o.momentum ?? 0;
  const accumulation = o.gradient_accumulation_steps ?? null;
  const vars: Slots[] = initial.map((v) => {
    const zeros = () => v.map(() => 0);
    return {
      value: [...v],
      velocity: zeros(),
      momentum: zeros(),
      averageGradient: zeros(),
      average: [...v],
      accumulator: zeros(),
    };
  });
  const afterEachStep: number[][][] = [];
  steps.forEach((grads, iteration) => {
    const scaled = grads.map((g) => (o.loss_scale_factor ? g.map((x) => f16(x / f16(o.loss_scale_factor!))) : [...g]));
    const updating = accumulation === null || (iteration + 1) % accumulation === 0;
    vars.forEach((v, k) => {
      let g = scaled[k]!;
      if (!updating) {
        v.accumulator = v.accumulator.map((a, i) => f16(g[i]! + a));
        return;
      }
      if (accumulation !== null) {
        g = g.map((x, i) => f16(f16(x + v.accumulator[i]!) / accumulation));
        v.accumulator = v.accumulator.map(() => 0);
      }
      if (o.clipnorm) {
        const clipnorm = f16(o.clipnorm);
        const l2sum = numpySumFloat16(
          g.map((x) => f16(x * x)),
          f16,
        );
        const l2norm = l2sum > 0 ? f16(Math.sqrt(l2sum)) : l2sum;
        const divisor = Math.max(l2norm, clipnorm);
        g = g.map((x) => f16(f16(x * clipnorm) / divisor));
      }
      if (o.weight_decay) {
        const wd = f16(o.weight_decay);
        v.value = v.value.map((p) => f16(p - f16(f16(p * wd) * lr)));
      }
      v.value = v.value.map((p, i) => {
        const gi = g[i]!;
        v.velocity[i] = f16(f16(rho * v.velocity[i]!) + f16(oneMinusRho * f16(gi * gi)));
        let denominator: number;
        if (o.centered) {
          v.averageGradient[i] = f16(f16(rho * v.averageGradient[i]!) + f16(oneMinusRho * gi));
          const mg = v.averageGradient[i];
          denominator = f16(f16(v.velocity[i] - f16(mg * mg)) + epsilon);
        } else {
          denominator = f16(v.velocity[i] + epsilon);
        }
        const increment = f16(f16(lr * gi) / f16(Math.sqrt(denominator)));
        if (momentum > 0) {
          v.momentum[i] = f16(f16(f16(momentum) * v.momentum[i]!) + increment);
          return f16(p - v.momentum[i]);
        }
        return f16(p - increment);
      });
    });
    if (o.use_ema) {
      // momentum = float16(iterations != 0) * ema_momentum; average = momentum * average + (1 - momentum) * var
      const m = iteration === 0 ? 0 : f16(o.ema_momentum ?? 0.99);
      const oneMinus = f16(1 - m);
      for (const v of vars) v.average = v.average.map((a, i) => f16(f16(m * a) + f16(oneMinus * v.value[i]!)));
    }
    afterEachStep.push(vars.map((v) => [...v.value]));
  });
  return { afterEachStep, finalized: vars.map((v) => [...v.average]) };
}

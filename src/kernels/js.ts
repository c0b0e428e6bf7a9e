/**
 * Reference kernels in plain JavaScript: Keras's operations in Keras's order, each result
 * rounded to the variable's dtype (`R` = Math.fround for float32), no fused or reassociated
 * arithmetic. They are the fallback and the oracle other kernels are tested against.
 *
 * The update is composed of small branch-free passes over one chunk (at most one 4 KiB block,
 * so it stays in L1 between passes): the effective gradient (unscale, accumulate, clip) into a
 * scratch block, weight decay, the moments and increments, applying them (through momentum),
 * then EMA. A pass the options do not need is not run, so the basic configuration pays for
 * nothing else; each element still sees Keras's operations in Keras's order.
 */
import type { GroupViews } from '../arena.js';
import { arrayConstructor, bytesPerElement, roundingFor, type DType, type FloatArray } from '../dtype.js';
import { BLOCK_BYTES } from '../layout.js';
import { AccumulationMode, ClipMode, STEP_WORDS, VARIABLE_WORDS } from './rmsprop.js';

const S = STEP_WORDS.index;
const V = VARIABLE_WORDS.index;
const V_STRIDE = VARIABLE_WORDS.length;
import type { KernelSet, Kernels } from './types.js';

function makeKernels(dtype: DType): Kernels {
  const R = roundingFor(dtype);
  const blockElements = BLOCK_BYTES / bytesPerElement(dtype);
  /** The effective gradient of one chunk, and its increments; sized once, per thread. */
  const scratch = new (arrayConstructor(dtype))(blockElements);
  const increments = new (arrayConstructor(dtype))(blockElements);

  /** True when the gradient is used as it is (no unscaling, accumulation or clipping). */
  function gradientIsRaw(s: Float64Array): boolean {
    return (
      s[S.unscale] === 0 && s[S.accumulation] !== AccumulationMode.ApplyAccumulated && s[S.clipMode] === ClipMode.Off
    );
  }

  /** scratch[i - first] = clip((grad[i] / lossScale + accumulator[i]) / steps), each step only if on. */
  function effectiveGradient(views: GroupViews, first: number, last: number, s: Float64Array, divisor: number): void {
    const { grad, accumulator } = views;
    const unscale = s[S.unscale] !== 0;
    const lossScale = s[S.lossScale]!;
    const accumulated = s[S.accumulation] === AccumulationMode.ApplyAccumulated;
    const steps = s[S.accumulationSteps]!;
    const clipMode = s[S.clipMode]!;
    const clip = s[S.clip]!;
    const globalScale = R(s[S.clip]!); // Keras casts the scale to each variable's dtype
    for (let i = first; i < last; i++) {
      let g = grad[i]!;
      if (unscale) g = R(g / lossScale);
      if (accumulated) g = R(R(g + accumulator![i]!) / steps);
      if (clipMode === ClipMode.Norm) g = R(R(g * clip) / divisor);
      else if (clipMode === ClipMode.GlobalNorm) g = R(g * globalScale);
      else if (clipMode === ClipMode.Value) g = g < -clip ? -clip : g > clip ? clip : g;
      scratch[i - first] = g;
    }
  }

  /** Accumulation-only call: accumulator += grad / lossScale. */
  function accumulate(views: GroupViews, first: number, last: number, s: Float64Array): void {
    const { grad } = views;
    const accumulator = views.accumulator!;
    const unscale = s[S.unscale] !== 0;
    const lossScale = s[S.lossScale]!;
    for (let i = first; i < last; i++) {
      const g = unscale ? R(grad[i]! / lossScale) : grad[i]!;
      accumulator[i] = R(accumulator[i]! + g);
    }
  }

  /** Decoupled weight decay: value -= value * weightDecay * lr. */
  function decay(views: GroupViews, first: number, last: number, s: Float64Array): void {
    const { value } = views;
    const lr = s[S.learningRate]!;
    const weightDecay = s[S.weightDecay]!;
    for (let i = first; i < last; i++) {
      const p = value[i]!;
      value[i] = R(p - R(R(p * weightDecay) * lr));
    }
  }

  /** Keras: rho * v + (1 - rho) * g^2. */
  function nextVelocity(v: number, g: number, rho: number, oneMinusRho: number): number {
    return R(R(rho * v) + R(oneMinusRho * R(g * g)));
  }

  /** Keras: lr * g / sqrt(denominator). */
  function increment(g: number, denominator: number, lr: number): number {
    return R(R(lr * g) / R(Math.sqrt(denominator)));
  }

  /** Second moments (and the centred first moment) updated; increments[i - first] = lr * g / sqrt(denominator). */
  function computeIncrements(
    views: GroupViews,
    first: number,
    last: number,
    s: Float64Array,
    gs: FloatArray,
    offset: number,
  ): void {
    const { velocity, averageGradient } = views;
    const lr = s[S.learningRate]!;
    const rho = s[S.rho]!;
    const oneMinusRho = s[S.oneMinusRho]!;
    const epsilon = s[S.epsilon]!;
    if (averageGradient === null) {
      for (let i = first; i < last; i++) {
        const g = gs[i - offset]!;
        const v = nextVelocity(velocity[i]!, g, rho, oneMinusRho);
        velocity[i] = v;
        increments[i - first] = increment(g, R(v + epsilon), lr);
      }
      return;
    }
    for (let i = first; i < last; i++) {
      const g = gs[i - offset]!;
      const v = nextVelocity(velocity[i]!, g, rho, oneMinusRho);
      velocity[i] = v;
      const mg = R(R(rho * averageGradient[i]!) + R(oneMinusRho * g));
      averageGradient[i] = mg;
      increments[i - first] = increment(g, R(R(v - R(mg * mg)) + epsilon), lr);
    }
  }

  /** value -= increment, or through momentum: m = momentum * m + increment; value -= m. */
  function applyIncrements(views: GroupViews, first: number, last: number, s: Float64Array): void {
    const { value, momentum } = views;
    if (momentum === null) {
      for (let i = first; i < last; i++) value[i] = R(value[i]! - increments[i - first]!);
      return;
    }
    const momentumFactor = s[S.momentum]!;
    for (let i = first; i < last; i++) {
      const m = R(R(momentumFactor * momentum[i]!) + increments[i - first]!);
      momentum[i] = m;
      value[i] = R(value[i]! - m);
    }
  }

  /** average = ema * average + (1 - ema) * value; on overwrite steps value = average. */
  function movingAverage(views: GroupViews, first: number, last: number, s: Float64Array): void {
    const { value } = views;
    const average = views.average!;
    const emaMomentum = s[S.emaMomentum]!;
    const emaOneMinus = s[S.emaOneMinusMomentum]!;
    const overwrite = s[S.overwrite] !== 0;
    for (let i = first; i < last; i++) {
      const a = R(R(emaMomentum * average[i]!) + R(emaOneMinus * value[i]!));
      average[i] = a;
      if (overwrite) value[i] = a;
    }
  }

  /**
   * Sum of fround(g*g) over n elements from `start`, in float64 with four accumulators (element
   * k to accumulator k mod 4, then (s0 + s1) + (s2 + s3)): the order SIMD kernels can follow.
   */
  function sumOfSquares(gs: FloatArray, start: number, n: number): number {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    const whole = start + (n & ~3);
    let i = start;
    for (; i < whole; i += 4) {
      const g0 = gs[i]!,
        g1 = gs[i + 1]!,
        g2 = gs[i + 2]!,
        g3 = gs[i + 3]!;
      s0 += R(g0 * g0);
      s1 += R(g1 * g1);
      s2 += R(g2 * g2);
      s3 += R(g3 * g3);
    }
    const end = start + n;
    if (i < end) s0 += R(gs[i]! * gs[i]!);
    if (i + 1 < end) s1 += R(gs[i + 1]! * gs[i + 1]!);
    if (i + 2 < end) s2 += R(gs[i + 2]! * gs[i + 2]!);
    return s0 + s1 + (s2 + s3);
  }

  function sumSquares(views: GroupViews, begin: number, end: number, s: Float64Array, vp: Float64Array): void {
    const { grad, chunks, partials } = views;
    const raw = gradientIsRaw(s);
    for (let c = begin; c < end; c++) {
      const first = chunks[3 * c]!;
      const last = chunks[3 * c + 1]!;
      if (vp[chunks[3 * c + 2]! * V_STRIDE + V.hasGradient] === 0) {
        partials[c] = 0;
        continue;
      }
      if (!raw) effectiveGradient(views, first, last, s, NaN);
      partials[c] = sumOfSquares(raw ? grad : scratch, raw ? first : 0, last - first);
    }
  }

  function update(views: GroupViews, begin: number, end: number, s: Float64Array, vp: Float64Array): void {
    const { chunks, grad } = views;
    const accumMode = s[S.accumulation]!;
    const decayOn = s[S.weightDecayOn] !== 0;
    const emaOn = s[S.ema] !== 0;
    const raw = gradientIsRaw(s);
    for (let c = begin; c < end; c++) {
      const first = chunks[3 * c]!;
      const last = chunks[3 * c + 1]!;
      const base = chunks[3 * c + 2]! * V_STRIDE;
      if (vp[base + V.hasGradient] !== 0) {
        if (accumMode === AccumulationMode.Accumulate) {
          accumulate(views, first, last, s);
        } else {
          if (!raw) effectiveGradient(views, first, last, s, vp[base + V.clipDivisor]!);
          if (decayOn && vp[base + V.decay] !== 0) decay(views, first, last, s);
          computeIncrements(views, first, last, s, raw ? grad : scratch, raw ? 0 : first);
          applyIncrements(views, first, last, s);
        }
      }
      if (accumMode === AccumulationMode.ApplyAccumulated) views.accumulator!.fill(0, first, last);
      if (emaOn) movingAverage(views, first, last, s);
    }
  }

  return { sumSquares, update };
}

export const jsKernels: KernelSet = Object.freeze({
  float32: makeKernels('float32'),
  float64: makeKernels('float64'),
});

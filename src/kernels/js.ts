/**
 * Reference kernels in plain JavaScript: Keras's operations in Keras's order, each result
 * rounded to the variable's dtype (`R` = Math.fround for float32), no fused or reassociated
 * arithmetic. They are the fallback and the oracle other kernels are tested against.
 *
 * The update is composed of small passes over one chunk (at most one 4 KiB block, so it stays
 * in L1 between passes): the effective gradient (unscale, accumulate, clip) into a scratch
 * block, the RMSprop update, then EMA. A pass the options do not need is not run, so the basic
 * configuration pays for nothing else; each element still sees Keras's operations in order.
 */
import type { GroupViews } from '../arena.js';
import { arrayConstructor, bytesPerElement, roundingFor, type DType, type FloatArray } from '../dtype.js';
import { BLOCK_BYTES } from '../layout.js';
import { AccumMode, ClipMode, Sc, VP } from '../protocol.js';
import type { KernelSet, Kernels } from './types.js';

function makeKernels(dtype: DType): Kernels {
  const R = roundingFor(dtype);
  /** The effective gradient of one chunk; sized once, per thread. */
  const scratch = new (arrayConstructor(dtype))(BLOCK_BYTES / bytesPerElement(dtype));

  /** True when the gradient is used as it is (no unscaling, accumulation or clipping). */
  function gradientIsRaw(s: Float64Array): boolean {
    return s[Sc.LossScaleOn] === 0 && s[Sc.AccumMode] !== AccumMode.ApplyAccumulated && s[Sc.ClipMode] === ClipMode.Off;
  }

  /** scratch[i - first] = clip((grad[i] / lossScale + accumulator[i]) / steps), each step only if on. */
  function effectiveGradient(views: GroupViews, first: number, last: number, s: Float64Array, divisor: number): void {
    const { grad, accumulator } = views;
    const unscale = s[Sc.LossScaleOn] !== 0;
    const lossScale = s[Sc.LossScale]!;
    const accumulated = s[Sc.AccumMode] === AccumMode.ApplyAccumulated;
    const steps = s[Sc.AccumSteps]!;
    const clipMode = s[Sc.ClipMode]!;
    const clip = s[Sc.ClipValue]!;
    const globalScale = s[Sc.GlobalScale]!;
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
    const unscale = s[Sc.LossScaleOn] !== 0;
    const lossScale = s[Sc.LossScale]!;
    for (let i = first; i < last; i++) {
      const g = unscale ? R(grad[i]! / lossScale) : grad[i]!;
      accumulator[i] = R(accumulator[i]! + g);
    }
  }

  /** Weight decay, then RMSprop (centered and momentum when their slots exist); g = gs[i - offset]. */
  function rmsprop(views: GroupViews, first: number, last: number, s: Float64Array, decay: boolean, gs: FloatArray, offset: number): void {
    const { value, velocity, momentum, averageGradient } = views;
    const lr = s[Sc.LearningRate]!;
    const rho = s[Sc.Rho]!;
    const oneMinusRho = s[Sc.OneMinusRho]!;
    const epsilon = s[Sc.Epsilon]!;
    const momentumFactor = s[Sc.Momentum]!;
    const weightDecay = s[Sc.WeightDecay]!;
    for (let i = first; i < last; i++) {
      const g = gs[i - offset]!;
      let p = value[i]!;
      if (decay) p = R(p - R(R(p * weightDecay) * lr));
      const v = R(R(rho * velocity[i]!) + R(oneMinusRho * R(g * g)));
      velocity[i] = v;
      let denominator: number;
      if (averageGradient !== null) {
        const mg = R(R(rho * averageGradient[i]!) + R(oneMinusRho * g));
        averageGradient[i] = mg;
        denominator = R(R(v - R(mg * mg)) + epsilon);
      } else {
        denominator = R(v + epsilon);
      }
      const increment = R(R(lr * g) / R(Math.sqrt(denominator)));
      if (momentum !== null) {
        const m = R(R(momentumFactor * momentum[i]!) + increment);
        momentum[i] = m;
        p = R(p - m);
      } else {
        p = R(p - increment);
      }
      value[i] = p;
    }
  }

  /** average = ema * average + (1 - ema) * value; on overwrite steps value = average. */
  function movingAverage(views: GroupViews, first: number, last: number, s: Float64Array): void {
    const { value } = views;
    const average = views.average!;
    const emaMomentum = s[Sc.EmaMomentum]!;
    const emaOneMinus = s[Sc.EmaOneMinusMomentum]!;
    const overwrite = s[Sc.Overwrite] !== 0;
    for (let i = first; i < last; i++) {
      const a = R(R(emaMomentum * average[i]!) + R(emaOneMinus * value[i]!));
      average[i] = a;
      if (overwrite) value[i] = a;
    }
  }

  function sumSquares(views: GroupViews, begin: number, end: number, s: Float64Array, vp: Float64Array): void {
    const { grad, chunks, partials } = views;
    const raw = gradientIsRaw(s);
    for (let c = begin; c < end; c++) {
      const first = chunks[3 * c]!;
      const last = chunks[3 * c + 1]!;
      if (vp[chunks[3 * c + 2]! * VP.Stride + VP.HasGrad] === 0) {
        partials[c] = 0;
        continue;
      }
      if (!raw) effectiveGradient(views, first, last, s, NaN);
      const gs = raw ? grad : scratch;
      const offset = raw ? 0 : first;
      let sum = 0;
      for (let i = first; i < last; i++) {
        const g = gs[i - offset]!;
        sum += R(g * g);
      }
      partials[c] = sum;
    }
  }

  function update(views: GroupViews, begin: number, end: number, s: Float64Array, vp: Float64Array): void {
    const { chunks, grad } = views;
    const accumMode = s[Sc.AccumMode]!;
    const decayOn = s[Sc.WeightDecayOn] !== 0;
    const emaOn = s[Sc.EmaOn] !== 0;
    const raw = gradientIsRaw(s);
    for (let c = begin; c < end; c++) {
      const first = chunks[3 * c]!;
      const last = chunks[3 * c + 1]!;
      const base = chunks[3 * c + 2]! * VP.Stride;
      if (vp[base + VP.HasGrad] !== 0) {
        if (accumMode === AccumMode.Accumulate) {
          accumulate(views, first, last, s);
        } else {
          if (!raw) effectiveGradient(views, first, last, s, vp[base + VP.ClipDivisor]!);
          rmsprop(views, first, last, s, decayOn && vp[base + VP.Decay] !== 0, raw ? grad : scratch, raw ? 0 : first);
        }
      }
      if (accumMode === AccumMode.ApplyAccumulated) views.accumulator!.fill(0, first, last);
      if (emaOn) movingAverage(views, first, last, s);
    }
  }

  return { sumSquares, update };
}

export const jsKernels: KernelSet = Object.freeze({
  float32: makeKernels('float32'),
  float64: makeKernels('float64'),
});

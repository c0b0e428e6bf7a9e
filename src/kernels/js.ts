/**
 * Reference kernels in plain JavaScript: Keras's operations in Keras's order, each result
 * rounded to the variable's dtype (`R` = Math.fround for float32), no fused or reassociated
 * arithmetic. They are the fallback and the oracle other kernels are tested against.
 */
import type { GroupViews } from '../arena.js';
import { roundingFor, type DType } from '../dtype.js';
import { AccumMode, ClipMode, Sc, VP } from '../protocol.js';
import type { KernelSet, Kernels } from './types.js';

function makeKernels(dtype: DType): Kernels {
  const R = roundingFor(dtype);

  function sumSquares(views: GroupViews, begin: number, end: number, s: Float64Array, vp: Float64Array): void {
    const { grad, accumulator, chunks, partials } = views;
    const lossScale = s[Sc.LossScale]!;
    const unscale = s[Sc.LossScaleOn] !== 0;
    const accumulated = s[Sc.AccumMode] === AccumMode.ApplyAccumulated;
    const steps = s[Sc.AccumSteps]!;
    for (let c = begin; c < end; c++) {
      const first = chunks[3 * c]!;
      const last = chunks[3 * c + 1]!;
      if (vp[chunks[3 * c + 2]! * VP.Stride + VP.HasGrad] === 0) {
        partials[c] = 0;
        continue;
      }
      let sum = 0;
      for (let i = first; i < last; i++) {
        let g = grad[i]!;
        if (unscale) g = R(g / lossScale);
        if (accumulated) g = R(R(g + accumulator![i]!) / steps);
        sum += R(g * g);
      }
      partials[c] = sum;
    }
  }

  function update(views: GroupViews, begin: number, end: number, s: Float64Array, vp: Float64Array): void {
    const { value, grad, velocity, momentum, averageGradient, average, accumulator, chunks } = views;
    const lr = s[Sc.LearningRate]!;
    const rho = s[Sc.Rho]!;
    const oneMinusRho = s[Sc.OneMinusRho]!;
    const epsilon = s[Sc.Epsilon]!;
    const momentumFactor = s[Sc.Momentum]!;
    const lossScale = s[Sc.LossScale]!;
    const unscale = s[Sc.LossScaleOn] !== 0;
    const accumMode = s[Sc.AccumMode]!;
    const steps = s[Sc.AccumSteps]!;
    const clipMode = s[Sc.ClipMode]!;
    const clip = s[Sc.ClipValue]!;
    const globalScale = s[Sc.GlobalScale]!;
    const weightDecay = s[Sc.WeightDecay]!;
    const decayOn = s[Sc.WeightDecayOn] !== 0;
    const emaOn = s[Sc.EmaOn] !== 0;
    const emaMomentum = s[Sc.EmaMomentum]!;
    const emaOneMinus = s[Sc.EmaOneMinusMomentum]!;
    const overwrite = s[Sc.Overwrite] !== 0;
    const resetAccumulator = accumMode === AccumMode.ApplyAccumulated;

    for (let c = begin; c < end; c++) {
      const first = chunks[3 * c]!;
      const last = chunks[3 * c + 1]!;
      const base = chunks[3 * c + 2]! * VP.Stride;
      const hasGrad = vp[base + VP.HasGrad] !== 0;
      const decay = decayOn && vp[base + VP.Decay] !== 0;
      const divisor = vp[base + VP.ClipDivisor]!;
      for (let i = first; i < last; i++) {
        let p = value[i]!;
        if (hasGrad) {
          let g = grad[i]!;
          if (unscale) g = R(g / lossScale);
          if (accumMode === AccumMode.Accumulate) {
            accumulator![i] = R(accumulator![i]! + g);
          } else {
            if (accumMode === AccumMode.ApplyAccumulated) g = R(R(g + accumulator![i]!) / steps);
            if (clipMode === ClipMode.Norm) g = R(R(g * clip) / divisor);
            else if (clipMode === ClipMode.GlobalNorm) g = R(g * globalScale);
            else if (clipMode === ClipMode.Value) g = g < -clip ? -clip : g > clip ? clip : g;
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
          }
        }
        if (resetAccumulator) accumulator![i] = 0;
        if (emaOn) {
          const a = R(R(emaMomentum * average![i]!) + R(emaOneMinus * p));
          average![i] = a;
          if (overwrite) p = a;
        }
        value[i] = p;
      }
    }
  }

  return { sumSquares, update };
}

export const jsKernels: KernelSet = Object.freeze({
  float32: makeKernels('float32'),
  float64: makeKernels('float64'),
});

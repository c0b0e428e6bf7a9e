/**
 * An independent oracle: one element of Keras 3's RMSprop `apply`, written straight from
 * keras/src/optimizers/base_optimizer.py (loss scaling, gradient accumulation, clipping, weight
 * decay, EMA) and rmsprop.py (`update_step`), each float32 operation rounded with Math.fround.
 * Hyperparameters enter as float32 (`h`), for every dtype, as the optimizer hands them over.
 * It shares nothing with src/ (not the programs, not the words), so a slip in the generator
 * cannot hide in it.
 */

export interface ReferenceSettings {
  readonly dtype: 'float32' | 'float64';
  readonly learningRate: number;
  readonly rho: number;
  readonly epsilon: number;
  /** null: no momentum slot. */
  readonly momentum: number | null;
  readonly centered: boolean;
  readonly lossScaleFactor: number | null;
  /** 'accumulate': a call before the k-th; 'apply': the k-th call of gradient accumulation. */
  readonly accumulation: 'off' | 'accumulate' | 'apply';
  readonly accumulationSteps: number;
  readonly clip:
    | { readonly kind: 'off' }
    /** `divisor`: max(l2norm, clipnorm) of this variable's gradient. */
    | { readonly kind: 'norm'; readonly clipnorm: number; readonly divisor: number }
    /** `scale`: clipnorm * min(1 / global norm, 1 / clipnorm), as the coordinator computes it. */
    | { readonly kind: 'global'; readonly scale: number }
    | { readonly kind: 'value'; readonly clipvalue: number };
  readonly weightDecay: number | null;
  /** false when the variable is excluded from weight decay. */
  readonly decays: boolean;
  readonly ema: { readonly momentum: number; readonly overwrite: boolean } | null;
  readonly hasGradient: boolean;
}

/** One element of the variable and its slots (undefined: no such slot). */
export interface ReferenceElement {
  value: number;
  grad: number;
  velocity: number;
  momentum?: number | undefined;
  averageGradient?: number | undefined;
  average?: number | undefined;
  accumulator?: number | undefined;
}

function rounding(dtype: ReferenceSettings['dtype']): (x: number) => number {
  return dtype === 'float32' ? Math.fround : (x) => x;
}

/** A hyperparameter as the kernels receive it. */
const h = Math.fround;

/** The gradient `apply` hands to the update, before clipping (loss scale, accumulation). */
function scaledGradient(e: ReferenceElement, s: ReferenceSettings): number {
  const r = rounding(s.dtype);
  let g = e.grad;
  if (s.lossScaleFactor !== null) g = r(g / h(s.lossScaleFactor));
  if (s.accumulation === 'apply') g = r(r(g + e.accumulator!) / s.accumulationSteps);
  return g;
}

/** The element after one `apply`; the input is not modified. */
export function referenceApply(input: ReferenceElement, s: ReferenceSettings): ReferenceElement {
  const r = rounding(s.dtype);
  const e = { ...input };
  if (s.hasGradient && s.accumulation === 'accumulate') {
    // _backend_update_accumulators: acc += g, no update this call
    const g = s.lossScaleFactor === null ? e.grad : r(e.grad / h(s.lossScaleFactor));
    e.accumulator = r(e.accumulator! + g);
  } else if (s.hasGradient) {
    let g = scaledGradient(e, s);
    if (s.accumulation === 'apply') e.accumulator = 0;
    // _clip_gradients
    if (s.clip.kind === 'norm') g = r(r(g * h(s.clip.clipnorm)) / h(s.clip.divisor));
    if (s.clip.kind === 'global') g = r(g * h(s.clip.scale));
    if (s.clip.kind === 'value') {
      const v = h(s.clip.clipvalue);
      g = g < -v ? -v : g > v ? v : g;
    }
    // _apply_weight_decay: variable - variable * wd * lr
    const lr = h(s.learningRate);
    if (s.weightDecay !== null && s.decays) e.value = r(e.value - r(r(e.value * h(s.weightDecay)) * lr));
    // RMSprop.update_step
    const rho = h(s.rho);
    const oneMinusRho = h(1 - s.rho);
    e.velocity = r(r(rho * e.velocity) + r(oneMinusRho * r(g * g)));
    let denominator: number;
    if (s.centered) {
      e.averageGradient = r(r(rho * e.averageGradient!) + r(oneMinusRho * g));
      denominator = r(r(e.velocity - r(e.averageGradient * e.averageGradient)) + h(s.epsilon));
    } else {
      denominator = r(e.velocity + h(s.epsilon));
    }
    const increment = r(r(lr * g) / r(Math.sqrt(denominator)));
    if (s.momentum !== null) {
      e.momentum = r(r(h(s.momentum) * e.momentum!) + increment);
      e.value = r(e.value - e.momentum);
    } else {
      e.value = r(e.value - increment);
    }
  } else if (s.accumulation === 'apply') {
    e.accumulator = 0; // no gradient: the accumulator still starts over
  }
  if (s.ema !== null) {
    // _update_model_variables_moving_averages, then _overwrite_model_variables_with_average_value
    const m = h(s.ema.momentum);
    e.average = r(r(m * e.average!) + r(h(1 - s.ema.momentum) * e.value));
    if (s.ema.overwrite) e.value = e.average;
  }
  return e;
}

/**
 * Norm clipping's partial sum over a chunk's elements: fround(g*g) of each gradient before
 * clipping, summed in float64 with element k to accumulator k mod 8, then
 * ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)).
 */
export function referenceSumOfSquares(elements: readonly ReferenceElement[], s: ReferenceSettings): number {
  const r = rounding(s.dtype);
  const sums = [0, 0, 0, 0, 0, 0, 0, 0];
  elements.forEach((e, k) => {
    const g = scaledGradient(e, s);
    sums[k % 8]! += r(g * g);
  });
  const [s0, s1, s2, s3, s4, s5, s6, s7] = sums as [number, number, number, number, number, number, number, number];
  return s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7));
}

/**
 * An independent oracle: one element of Keras 3's RMSprop `apply`, written straight from
 * keras/src/optimizers/base_optimizer.py (loss scaling, gradient accumulation, clipping, weight
 * decay, EMA) and rmsprop.py (`update_step`), each float32 operation rounded with Math.fround
 * (float64 too: Keras's numpy backend computes it in float32, but for numpy's own operators).
 * Hyperparameters enter as float32 (`h`), for every dtype, as the test hands them over.
 * It shares nothing with src/ (not the programs, not the words), so a slip in the generator
 * cannot hide in it.
 */
import { pairwiseSum } from './keras-float16.js';

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

/**
 * A Keras op's rounding: float32 for both dtypes, since Keras's numpy backend computes a float64
 * array in float32 (its `result_type` maps 64-bit dtypes to 32-bit); each operand is converted
 * to float32 first (`k` again: a no-op on a float32 value).
 */
const k = Math.fround;

/** numpy's own operators on the gradient arrays (`g / scale`, `g + accumulator`, `v * scale`): in the dtype. */
function numpyRounding(dtype: ReferenceSettings['dtype']): (x: number) => number {
  return dtype === 'float32' ? Math.fround : (x) => x;
}

/** A hyperparameter as the kernels receive it. */
const h = Math.fround;

/** The gradient `apply` hands to the update, before clipping (loss scale, accumulation): numpy's operators. */
function scaledGradient(e: ReferenceElement, s: ReferenceSettings): number {
  const n = numpyRounding(s.dtype);
  let g = e.grad;
  if (s.lossScaleFactor !== null) g = n(g / h(s.lossScaleFactor));
  if (s.accumulation === 'apply') g = n(n(g + e.accumulator!) / s.accumulationSteps);
  return g;
}

/** The element after one `apply`; the input is not modified. */
export function referenceApply(input: ReferenceElement, s: ReferenceSettings): ReferenceElement {
  const n = numpyRounding(s.dtype);
  const e = { ...input };
  if (s.hasGradient && s.accumulation === 'accumulate') {
    // _backend_increment_gradient_accumulators: acc + g, no update this call
    const g = s.lossScaleFactor === null ? e.grad : n(e.grad / h(s.lossScaleFactor));
    e.accumulator = n(e.accumulator! + g);
  } else if (s.hasGradient) {
    let g = scaledGradient(e, s);
    if (s.accumulation === 'apply') e.accumulator = 0;
    // _clip_gradients
    if (s.clip.kind === 'norm') g = k(k(k(g) * h(s.clip.clipnorm)) / h(s.clip.divisor));
    if (s.clip.kind === 'global') g = n(g * h(s.clip.scale));
    if (s.clip.kind === 'value') {
      const v = h(s.clip.clipvalue);
      g = k(g) < -v ? -v : k(g) > v ? v : k(g);
    }
    g = k(g); // update_step's ops see it as float32
    // _apply_weight_decay: variable - variable * wd * lr
    const lr = h(s.learningRate);
    if (s.weightDecay !== null && s.decays) e.value = k(k(e.value) - k(k(k(e.value) * h(s.weightDecay)) * lr));
    // RMSprop.update_step
    const rho = h(s.rho);
    const oneMinusRho = h(1 - s.rho);
    e.velocity = k(k(rho * k(e.velocity)) + k(oneMinusRho * k(g * g)));
    let denominator: number;
    if (s.centered) {
      e.averageGradient = k(k(rho * k(e.averageGradient!)) + k(oneMinusRho * g));
      denominator = k(k(e.velocity - k(e.averageGradient * e.averageGradient)) + h(s.epsilon));
    } else {
      denominator = k(e.velocity + h(s.epsilon));
    }
    const increment = k(k(lr * g) / k(Math.sqrt(denominator)));
    if (s.momentum !== null) {
      e.momentum = k(k(h(s.momentum) * k(e.momentum!)) + increment);
      e.value = k(k(e.value) - e.momentum);
    } else {
      e.value = k(k(e.value) - increment);
    }
  } else if (s.accumulation === 'apply') {
    e.accumulator = 0; // no gradient: the accumulator still starts over
  }
  if (s.ema !== null) {
    // _update_model_variables_moving_averages, then _overwrite_model_variables_with_average_value
    const m = h(s.ema.momentum);
    e.average = k(k(m * k(e.average!)) + k(h(1 - s.ema.momentum) * k(e.value)));
    if (s.ema.overwrite) e.value = e.average;
  }
  return e;
}

/**
 * Norm clipping's sum over one numpy buffer's elements: `ops.square` of each gradient before
 * clipping (a Keras op: float32), summed as numpy's pairwise_sum with float32 accumulators.
 */
export function referenceSumOfSquares(elements: readonly ReferenceElement[], s: ReferenceSettings): number {
  return pairwiseSum(
    elements.map((e) => {
      const g = k(scaledGradient(e, s));
      return k(g * g);
    }),
  );
}

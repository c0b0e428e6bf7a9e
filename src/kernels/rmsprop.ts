/**
 * The RMSprop update, stated once: the per-element programs the kernels run, over the words
 * the coordinator writes (`rmsprop-words.ts`). The WebAssembly text, the JS kernels, the
 * loader's argument order and the shared blocks' layout are all derived from what is declared
 * here and there; see ARCHITECTURE.md.
 */
import { elementwise, sumOfSquares, when, type Expr, type Flags, type Ops, type Program } from './program.js';
import { AccumulationMode, ClipMode, STEP_WORDS, VARIABLE_WORDS } from './rmsprop-words.js';

const S = STEP_WORDS.index;
const V = VARIABLE_WORDS.index;

/** Specialisations read from the step: the kernels run only the operations a step needs. */
const unscale = when((s) => s[S.unscale] !== 0);
const applyAccumulated = when((s) => s[S.accumulation] === AccumulationMode.ApplyAccumulated);
const clip = { values: 4, read: (s: Float64Array) => s[S.clipMode]! };
const decay = when((s, v, base) => s[S.weightDecayOn] !== 0 && v[base + V.decay] !== 0);
const centered = when((_s, _v, _base, views) => views.averageGradient !== null);
const momentum = when((_s, _v, _base, views) => views.momentum !== null);
const ema = when((s) => s[S.ema] !== 0);
const sharded = when((_s, _v, _base, views) => views.shardCount > 1);
const wide = when((s) => s[S.wideGradient] !== 0);

/** This element's gradient: the mean of the micro-batch shards when there are several. */
function rawGradient(x: Ops, f: Flags<'sharded'>): Expr {
  return f.sharded ? x.shardMean('grad') : x.load('grad');
}

/**
 * The gradient stage in the precision Keras computes it: the dtype's, or float32 when a
 * LossScaleOptimizer's float32 scale has made a half gradient float32 (`wide`; a float64 one is
 * float32 too, which its ops compute in anyway); `cast`: the
 * result goes back to the dtype, as Keras's `update_step` or an `assign` casts it.
 */
function inGradientPrecision(x: Ops, f: Flags<'wide'>, { cast }: { cast: boolean }, stage: () => Expr): Expr {
  if (!f.wide) return stage();
  const result = x.inFloat32(stage);
  return cast ? x.cast(result) : result;
}

/**
 * The gradient divided by the loss scale: a LossScaleOptimizer's `ops.divide(g, scale)` is a
 * Keras op (`wide`: its float32 scale makes the gradient float32), `loss_scale_factor`'s
 * `g / scale` numpy's operator.
 */
function unscaled(x: Ops, f: Flags<'wide'>, g: Expr): Expr {
  const divide = () => x.div(g, x.step('lossScale'));
  return f.wide ? divide() : x.inNumpy(divide);
}

/**
 * The gradient the update sees: the micro-batches' mean, unscaled (loss scaling), then the
 * accumulated mean (resetting the accumulator), with numpy's operators as Keras writes them.
 */
function gradient(
  x: Ops,
  f: Flags<'unscale' | 'applyAccumulated' | 'wide'>,
  raw: Expr,
  { reset }: { reset: boolean },
): Expr {
  let g = f.unscale ? unscaled(x, f, raw) : raw;
  if (f.applyAccumulated) {
    g = x.inNumpy(() => x.div(x.add(g, x.load('accumulator')), x.step('accumulationSteps')));
    if (reset) x.store('accumulator', x.zero());
  }
  return x.bind(g);
}

/** Keras's `_clip_gradients`: by this variable's norm, by the global norm, or elementwise. */
function clipped(x: Ops, f: Flags<'clip' | 'wide' | 'applyAccumulated'>, g: Expr): Expr {
  if (f.clip === ClipMode.Off) return g;
  const limit = x.step('clip');
  if (f.clip === ClipMode.Norm) return x.bind(x.div(x.mul(g, limit), x.variable('clipDivisor')));
  if (f.clip === ClipMode.GlobalNorm) {
    // numpy's `v * scale` in v's dtype: a loss-scaled gradient is float32 until accumulation's
    // numpy operators meet the variable's accumulator
    const multiply = () => x.mul(g, limit);
    return x.bind(f.wide && !f.applyAccumulated ? multiply() : x.inNumpy(multiply));
  }
  return x.bind(x.min(x.max(g, x.neg(limit)), limit)); // ClipMode.Value
}

/** Keras's `_update_model_variables_moving_averages` (and the overwrite): returns the new value. */
function movingAverage(x: Ops, p: Expr): Expr {
  const decayed = x.mul(x.step('emaMomentum'), x.load('average'));
  const average = x.store('average', x.add(decayed, x.mul(x.step('emaOneMinusMomentum'), p)));
  return x.pick('overwrite', average, p);
}

/**
 * One Keras `apply` for one element: the effective gradient, decoupled weight decay, then
 * RMSprop's `update_step`, then the moving average.
 */
export const UPDATE = elementwise(
  'update',
  { unscale, applyAccumulated, clip, decay, centered, momentum, ema, sharded, wide },
  (x, f) => {
    const raw = rawGradient(x, f);
    const g = x.bind(
      inGradientPrecision(x, f, { cast: true }, () => clipped(x, f, gradient(x, f, raw, { reset: true }))),
    );
    const lr = x.step('learningRate');
    const rho = x.step('rho');
    const oneMinusRho = x.step('oneMinusRho');
    let p = x.load('value');
    // _apply_weight_decay: variable - variable * weight_decay * lr
    if (f.decay) p = x.sub(p, x.mul(x.mul(p, x.step('weightDecay')), lr));
    // update_step
    const velocity = x.store('velocity', x.add(x.mul(rho, x.load('velocity')), x.mul(oneMinusRho, x.mul(g, g))));
    let denominator = x.add(velocity, x.step('epsilon'));
    if (f.centered) {
      const averageGradient = x.load('averageGradient');
      const mean = x.store('averageGradient', x.add(x.mul(rho, averageGradient), x.mul(oneMinusRho, g)));
      denominator = x.add(x.sub(velocity, x.mul(mean, mean)), x.step('epsilon'));
    }
    const increment = x.bind(x.div(x.mul(lr, g), x.sqrt(denominator)));
    if (f.momentum) {
      const m = x.store('momentum', x.add(x.mul(x.step('momentum'), x.load('momentum')), increment));
      p = x.sub(p, m);
    } else {
      p = x.sub(p, increment);
    }
    x.store('value', f.ema ? movingAverage(x, x.bind(p)) : p);
  },
);

/** A call that only accumulates (gradient accumulation, not the k-th call): the EMA still runs. */
export const ACCUMULATE = elementwise('accumulate', { unscale, ema, sharded, wide }, (x, f) => {
  const raw = rawGradient(x, f);
  const sum = inGradientPrecision(x, f, { cast: true }, () => {
    const g = f.unscale ? unscaled(x, f, raw) : raw;
    return x.inNumpy(() => x.add(x.load('accumulator'), g));
  });
  x.store('accumulator', sum);
  if (f.ema) x.store('value', movingAverage(x, x.load('value')));
});

/** A variable without a gradient this step: its accumulator still resets on an applying call, the EMA still runs. */
export const NO_GRADIENT = elementwise('noGradient', { applyAccumulated, ema }, (x, f) => {
  if (f.applyAccumulated) x.store('accumulator', x.zero());
  if (f.ema) x.store('value', movingAverage(x, x.load('value')));
});

/** Norm clipping's per-element term: the square of the effective gradient before clipping. */
export const SUM_SQUARES = sumOfSquares('sumSquares', { unscale, applyAccumulated, sharded, wide }, (x, f) => {
  const raw = rawGradient(x, f);
  return inGradientPrecision(x, f, { cast: false }, () => {
    const g = gradient(x, f, raw, { reset: false });
    return x.mul(g, g);
  });
});

/**
 * A rank of a world sums its own micro-batches' gradients into its first shard: their tree's
 * subtree over this rank's block, divided by 1 (exact), which the owner of each slice finishes.
 */
export const SUM_SHARDS = elementwise('sumShards', {}, (x) => {
  x.store('grad', x.shardMean('grad'));
});

/** Every program, in the order the module lists them. */
export const PROGRAMS: readonly Program[] = [UPDATE, ACCUMULATE, NO_GRADIENT, SUM_SQUARES, SUM_SHARDS];

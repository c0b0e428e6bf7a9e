/**
 * Keras learning-rate schedules (`keras.optimizers.schedules`): the six formulas (the callable
 * class they share is schedule-base.ts) and Keras's serialization. Each schedule is callable with
 * a step and returns the learning rate Keras computes: float32 operations in Keras's order,
 * each rounded with fround (transcendentals — pow, cos, log — may differ from numpy's float32
 * versions in the last bit).
 */

import { snakeToCamel } from '../../common/keras-names.js';
import {
  LearningRateSchedule,
  type ConfigField,
  type ScheduleFields,
  type SerializedSchedule,
} from './schedule-base.js';
import type {
  CosineDecayOptions,
  CosineDecayRestartsOptions,
  ExponentialDecayOptions,
  InverseTimeDecayOptions,
  PiecewiseConstantDecayOptions,
  PolynomialDecayOptions,
} from './schedule-options.js';

export type * from './schedule-options.js';
// ConfigField and ScheduleFields are internal: the declarations leave them out (stripInternal)
export { LearningRateSchedule, type ScheduleConfig, type SerializedSchedule } from './schedule-base.js';

const f = Math.fround;

const NUMBER: ConfigField = { kind: 'number' };
const POSITIVE: ConfigField = { kind: 'positive' };
const STAIRCASE: ConfigField = { fallback: false, kind: 'boolean' };
/** ExponentialDecay's and InverseTimeDecay's arguments, in Keras's config order. */
const DECAY_FIELDS = {
  initialLearningRate: NUMBER,
  decaySteps: POSITIVE,
  decayRate: NUMBER,
  staircase: STAIRCASE,
} satisfies ScheduleFields<ExponentialDecayOptions>;

/** step / decaySteps in float32, floored with `staircase`. */
function decayProgress(o: Required<ExponentialDecayOptions>, step: number): number {
  const p = f(f(step) / f(o.decaySteps));
  return o.staircase ? Math.floor(p) : p;
}

/** `initialLearningRate * decayRate ^ (step / decaySteps)` (exponent floored with `staircase`). */
export class ExponentialDecay extends LearningRateSchedule {
  constructor(options: ExponentialDecayOptions) {
    super(DECAY_FIELDS, 'ExponentialDecay', { ...options });
  }
  protected evaluate(step: number): number {
    const o = this.options as Required<ExponentialDecayOptions>;
    return f(f(o.initialLearningRate) * f(Math.pow(f(o.decayRate), decayProgress(o, step))));
  }
}

/** `values[0]` up to `boundaries[0]`, `values[i]` on `(boundaries[i-1], boundaries[i]]`, then the last value. */
export class PiecewiseConstantDecay extends LearningRateSchedule {
  constructor(options: PiecewiseConstantDecayOptions) {
    super(
      {
        boundaries: { kind: 'numbers' },
        values: { kind: 'numbers' },
      } satisfies ScheduleFields<PiecewiseConstantDecayOptions>,
      'PiecewiseConstant',
      { ...options },
    );
    const o = this.options as Required<PiecewiseConstantDecayOptions>;
    if (o.values.length !== o.boundaries.length + 1) {
      throw new RangeError(
        'PiecewiseConstantDecay: the length of `boundaries` should be 1 less than the length of `values`. ' +
          `Received: boundaries=[${o.boundaries.join(', ')}] of length ${o.boundaries.length}, and ` +
          `values=[${o.values.join(', ')}] of length ${o.values.length}.`,
      );
    }
  }
  protected evaluate(step: number): number {
    const { boundaries, values } = this.options as Required<PiecewiseConstantDecayOptions>;
    let i = 0;
    while (i < boundaries.length && step > boundaries[i]!) i++;
    return f(values[i]!);
  }
}

/** `(initial - end) * (1 - step/decaySteps)^power + end`, step clamped (or cycled) to decaySteps. */
export class PolynomialDecay extends LearningRateSchedule {
  constructor(options: PolynomialDecayOptions) {
    super(
      {
        initialLearningRate: NUMBER,
        decaySteps: POSITIVE,
        endLearningRate: { fallback: 0.0001, kind: 'number' },
        power: { fallback: 1.0, kind: 'number' },
        cycle: { fallback: false, kind: 'boolean' },
      } satisfies ScheduleFields<PolynomialDecayOptions>,
      'PolynomialDecay',
      { ...options },
    );
  }
  protected evaluate(step: number): number {
    const o = this.options as Required<PolynomialDecayOptions>;
    const initial = f(o.initialLearningRate);
    const end = f(o.endLearningRate);
    let s = f(step);
    let steps = f(o.decaySteps);
    if (o.cycle) {
      const multiplier = s === 0 ? 1 : Math.ceil(f(s / steps));
      steps = f(steps * multiplier);
    } else {
      s = Math.min(s, steps);
    }
    const p = f(s / steps);
    return f(f(f(initial - end) * f(Math.pow(f(1 - p), f(o.power)))) + end);
  }
}

/** `initial / (1 + decayRate * step / decaySteps)` (quotient floored with `staircase`). */
export class InverseTimeDecay extends LearningRateSchedule {
  constructor(options: InverseTimeDecayOptions) {
    super(DECAY_FIELDS satisfies ScheduleFields<InverseTimeDecayOptions>, 'InverseTimeDecay', { ...options });
  }
  protected evaluate(step: number): number {
    const o = this.options as Required<InverseTimeDecayOptions>;
    return f(f(o.initialLearningRate) / f(1 + f(f(o.decayRate) * decayProgress(o, step))));
  }
}

const PI32 = f(Math.PI);

/** Cosine decay towards `alpha * initial`, after an optional linear warmup to `warmupTarget`. */
export class CosineDecay extends LearningRateSchedule {
  /** Keras puts `name` after `alpha` in this schedule's config. */
  static nameIndex = 3;
  constructor(options: CosineDecayOptions) {
    super(
      {
        initialLearningRate: NUMBER,
        decaySteps: POSITIVE,
        alpha: { fallback: 0.0, kind: 'number' },
        warmupTarget: { fallback: null, kind: 'nullable-number' },
        warmupSteps: { fallback: 0, kind: 'nonnegative' },
      } satisfies ScheduleFields<CosineDecayOptions>,
      'CosineDecay',
      { ...options },
    );
  }
  protected evaluate(step: number): number {
    const o = this.options as Required<CosineDecayOptions>;
    const initial = f(o.initialLearningRate);
    const steps = f(o.decaySteps);
    let s = f(step);
    if (o.warmupTarget === null) {
      return this.decay(Math.min(s, steps), steps, initial);
    }
    const target = f(o.warmupTarget);
    const warmup = f(o.warmupSteps);
    s = Math.min(s, f(steps + warmup));
    if (s < warmup) {
      return f(f(f(target - initial) * f(s / warmup)) + initial);
    }
    return this.decay(f(s - warmup), steps, target);
  }
  private decay(step: number, steps: number, from: number): number {
    const alpha = (this.options as Required<CosineDecayOptions>).alpha;
    const cosine = f(0.5 * f(1 + f(Math.cos(f(PI32 * f(step / steps))))));
    return f(from * f(f(f(1 - alpha) * cosine) + f(alpha)));
  }
}

/** SGDR: cosine decay restarted every period, periods growing by `tMul`, peaks by `mMul`. */
export class CosineDecayRestarts extends LearningRateSchedule {
  constructor(options: CosineDecayRestartsOptions) {
    super(
      {
        initialLearningRate: NUMBER,
        firstDecaySteps: POSITIVE,
        tMul: { fallback: 2.0, kind: 'number' },
        mMul: { fallback: 1.0, kind: 'number' },
        alpha: { fallback: 0.0, kind: 'number' },
      } satisfies ScheduleFields<CosineDecayRestartsOptions>,
      'SGDRDecay',
      { ...options },
    );
  }
  protected evaluate(step: number): number {
    const o = this.options as Required<CosineDecayRestartsOptions>;
    const alpha = f(o.alpha);
    const tMul = f(o.tMul);
    let fraction = f(f(step) / f(o.firstDecaySteps));
    let restart: number;
    if (tMul === 1) {
      restart = Math.floor(fraction);
      fraction = f(fraction - restart);
    } else {
      restart = Math.floor(f(f(Math.log(f(1 - f(fraction * f(1 - tMul))))) / f(Math.log(tMul))));
      const grown = f(Math.pow(tMul, restart));
      const elapsed = f(f(1 - grown) / f(1 - tMul));
      fraction = f(f(fraction - elapsed) / grown);
    }
    const peak = f(Math.pow(f(o.mMul), restart));
    const cosine = f(f(0.5 * peak) * f(1 + f(Math.cos(f(PI32 * fraction)))));
    return f(f(o.initialLearningRate) * f(f(f(1 - alpha) * cosine) + alpha));
  }
}

/** The Keras class names of the schedules. */
export type ScheduleClassName =
  | 'ExponentialDecay'
  | 'PiecewiseConstantDecay'
  | 'PolynomialDecay'
  | 'InverseTimeDecay'
  | 'CosineDecay'
  | 'CosineDecayRestarts';

/** The schedule classes by Keras class name: what deserialization looks a `class_name` up in. */
const scheduleClasses = {
  ExponentialDecay,
  PiecewiseConstantDecay,
  PolynomialDecay,
  InverseTimeDecay,
  CosineDecay,
  CosineDecayRestarts,
} as const satisfies Record<ScheduleClassName, unknown>;

/** Keras's `keras.optimizers.schedules.serialize`. */
export function serializeSchedule(schedule: LearningRateSchedule): SerializedSchedule {
  return {
    module: 'keras.optimizers.schedules',
    class_name: schedule.constructor.name,
    config: schedule.getConfig(),
    registered_name: null,
  };
}

/** Keras's `deserialize`: accepts `{class_name, config}` with or without `module`/`registered_name`. */
export function deserializeSchedule(serialized: unknown): LearningRateSchedule {
  if (serialized === null || typeof serialized !== 'object') {
    throw new TypeError('learning_rate schedule config must be an object with `class_name` and `config`');
  }
  const { class_name: className, config } = serialized as { class_name?: unknown; config?: unknown };
  const Class = scheduleClasses[className as ScheduleClassName];
  if (typeof className !== 'string' || Class === undefined || !Object.hasOwn(scheduleClasses, className)) {
    const expected = Object.keys(scheduleClasses).join(', ');
    throw new TypeError(
      `Unknown learning rate schedule class_name ${JSON.stringify(className)}; expected one of ${expected}`,
    );
  }
  if (config === null || typeof config !== 'object') {
    throw new TypeError(`learning_rate schedule ${className}: \`config\` must be an object`);
  }
  const options = Object.fromEntries(Object.entries(config).map(([k, v]) => [snakeToCamel(k), v]));
  return new (Class as unknown as new (o: Record<string, unknown>) => LearningRateSchedule)(options);
}

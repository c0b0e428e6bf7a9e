/**
 * The options of each learning-rate schedule: Keras's arguments in camelCase, with Keras's
 * defaults (`learning-rate-schedule.ts` fills them in and checks them as Keras does).
 */

/** `keras.optimizers.schedules.ExponentialDecay`'s arguments. */
export interface ExponentialDecayOptions {
  /** The learning rate at step 0. */
  initialLearningRate: number;
  /** Steps per factor of `decayRate`; positive. */
  decaySteps: number;
  /** The factor applied every `decaySteps` steps. */
  decayRate: number;
  /** Decay in whole periods (`floor(step / decaySteps)`); default false. */
  staircase?: boolean;
  /** Keras's `name`; default the class name. */
  name?: string;
}

/** `keras.optimizers.schedules.InverseTimeDecay`'s arguments: as `ExponentialDecay`'s. */
export type InverseTimeDecayOptions = ExponentialDecayOptions;

/** `keras.optimizers.schedules.PiecewiseConstantDecay`'s arguments. */
export interface PiecewiseConstantDecayOptions {
  /** Increasing steps where the value changes. */
  boundaries: number[];
  /** One more value than boundaries: the rate before the first boundary, between each, after the last. */
  values: number[];
  /** Keras's `name`; default the class name. */
  name?: string;
}

/** `keras.optimizers.schedules.PolynomialDecay`'s arguments. */
export interface PolynomialDecayOptions {
  initialLearningRate: number;
  /** Steps over which the rate goes from initial to end; positive. */
  decaySteps: number;
  /** Default 0.0001. */
  endLearningRate?: number;
  /** Default 1 (linear). */
  power?: number;
  /** After `decaySteps`, start again over a period grown to the next multiple; default false. */
  cycle?: boolean;
  /** Keras's `name`; default the class name. */
  name?: string;
}

/** `keras.optimizers.schedules.CosineDecay`'s arguments (with Keras's linear warmup). */
export interface CosineDecayOptions {
  initialLearningRate: number;
  /** Steps of the cosine, after the warmup; positive. */
  decaySteps: number;
  /** The floor, as a fraction of the initial (or warmup target) rate; default 0. */
  alpha?: number;
  /** The rate the warmup reaches; null (the default): no warmup. */
  warmupTarget?: number | null;
  /** Steps of linear warmup from `initialLearningRate` to `warmupTarget`; default 0. */
  warmupSteps?: number;
  /** Keras's `name`; default the class name. */
  name?: string;
}

/** `keras.optimizers.schedules.CosineDecayRestarts`'s arguments (SGDR). */
export interface CosineDecayRestartsOptions {
  initialLearningRate: number;
  /** Steps of the first period; positive. */
  firstDecaySteps: number;
  /** Each period is `tMul` times the one before; default 2. */
  tMul?: number;
  /** Each restart's peak is `mMul` times the one before; default 1. */
  mMul?: number;
  /** The floor, as a fraction of the initial rate; default 0. */
  alpha?: number;
  /** Keras's `name`; default the class name. */
  name?: string;
}

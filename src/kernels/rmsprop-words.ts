/**
 * The words of the RMSprop update: what the coordinator writes for a step and for each
 * variable, by name, and what the programs (`rmsprop.ts`) read. The shared blocks' lengths, the
 * indices and the typed accessors follow from these lists.
 */
import { wordBlock } from './words.js';

/** How a step treats the gradient accumulators (the `accumulation` word). */
export const AccumulationMode = { Off: 0, Accumulate: 1, ApplyAccumulated: 2 } as const;
/** Which clipping a step applies (the `clipMode` word). */
export const ClipMode = { Off: 0, Norm: 1, GlobalNorm: 2, Value: 3 } as const;

/**
 * The step's scalars, one float64 word each in the shared scalar block. Values Keras holds in
 * float32 are already rounded to float32; the programs receive them rounded to their dtype.
 */
export const STEP_WORDS = wordBlock([
  // what the programs compute with
  'learningRate',
  'rho',
  'oneMinusRho',
  'epsilon',
  'momentum',
  'lossScale',
  'accumulationSteps',
  /** clipnorm (Norm), the global scale of this step (GlobalNorm) or clipvalue (Value). */
  'clip',
  'weightDecay',
  'emaMomentum',
  'emaOneMinusMomentum',
  /** 1 on the steps where the variables take their moving averages. */
  'overwrite',
  // what picks the program and its specialisation
  'unscale',
  'accumulation',
  'clipMode',
  'weightDecayOn',
  'ema',
  /** 1 when the gradient stage computes in float32 (loss scaling over half precision: Keras's float32 scale). */
  'wideGradient',
]);
export type StepWord = (typeof STEP_WORDS.names)[number];

/** Per-variable words, one block per variable in the shared parameter block. */
export const VARIABLE_WORDS = wordBlock([
  /** 1 when the variable has a gradient this step. */
  'hasGradient',
  /** 1 unless the variable is excluded from weight decay. */
  'decay',
  /** max(l2norm, clipnorm): the divisor of norm clipping, written by the norm reduction. */
  'clipDivisor',
]);
export type VariableWord = (typeof VARIABLE_WORDS.names)[number];

/**
 * The shared-memory contract between the coordinator and the kernels/workers: indices into the
 * control block (Int32, Atomics), the per-step scalars (Float64) and the per-variable
 * parameters (Float64). Everything a phase needs is in these arrays, so a phase costs one
 * Atomics notify per lane, never a message.
 */

/** Work a lane runs over its slice. */
export const Phase = {
  /** Sum of squares of the effective gradient, per chunk, into the partials (for norm clipping). */
  Norm: 1,
  /** The fused update: unscale, accumulate, clip, weight decay, RMSprop, EMA, overwrite. */
  Update: 2,
  /** Leave the lane loop. */
  Exit: 3,
  /** Nothing: starts the lanes (so synchronous steps find them running). */
  Warm: 4,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** Control block (Int32Array) slots. */
export const Ctl = {
  /** Bumped by the coordinator to publish a command; lanes wait on it. */
  Seq: 0,
  /** The Phase of the current command. */
  Phase: 1,
  /** Bumped (and notified) whenever a lane finishes or fails: the coordinator's wake-up word. */
  Progress: 2,
  /** First of one state word per lane. */
  LaneState: 3,
} as const;

/** Per lane: the Seq of the last command it completed (after the LaneState words). */
export const laneDoneIndex = (lanes: number, lane: number): number => Ctl.LaneState + lanes + lane;
/** Per lane: the Seq of the last command it failed (read by a synchronous wait, which cannot see piscina's rejection). */
export const laneFailedIndex = (lanes: number, lane: number): number => Ctl.LaneState + 2 * lanes + lane;
/** Per lane: the launch number of the task running it, stored when that task starts. */
export const laneLaunchIndex = (lanes: number, lane: number): number => Ctl.LaneState + 3 * lanes + lane;
export const controlLength = (lanes: number): number => Ctl.LaneState + 4 * lanes;

/**
 * Lane lifecycle. A lane waiting for commands is Idle and may retire itself (Idle -> Gone by
 * CAS) after lingering, so an idle optimizer never keeps the process alive. Before publishing
 * a command the coordinator claims each lane (Idle -> Reserved by CAS): a Reserved lane cannot
 * retire. A lane begins a command with Reserved -> Running (CAS) before it touches memory, and
 * the coordinator may revoke a lane that has not begun (Reserved -> Gone by CAS) and run its
 * share itself: a lane either begins or is revoked, never both. A Gone lane is relaunched once
 * its old task has ended (until then the coordinator runs its share).
 */
export const LaneState = { Gone: 0, Idle: 1, Reserved: 2, Running: 3 } as const;

/** How a step treats the gradient accumulators. */
export const AccumMode = { Off: 0, Accumulate: 1, ApplyAccumulated: 2 } as const;
export const ClipMode = { Off: 0, Norm: 1, GlobalNorm: 2, Value: 3 } as const;

/** Per-step scalars (Float64Array); values are already rounded to float32 where Keras holds float32. */
export const Sc = {
  LearningRate: 0,
  Rho: 1,
  OneMinusRho: 2,
  Epsilon: 3,
  Momentum: 4,
  /** lossScaleFactor, used when LossScaleOn. */
  LossScale: 5,
  LossScaleOn: 6,
  AccumMode: 7,
  AccumSteps: 8,
  ClipMode: 9,
  /** clipnorm (Norm) or clipvalue (Value). */
  ClipValue: 10,
  /** Global-norm scale (GlobalNorm). */
  GlobalScale: 11,
  WeightDecay: 12,
  WeightDecayOn: 13,
  EmaOn: 14,
  EmaMomentum: 15,
  EmaOneMinusMomentum: 16,
  Overwrite: 17,
  Length: 18,
} as const;

/** Per-variable parameters (Float64Array, VP.Stride per variable). */
export const VP = {
  HasGrad: 0,
  Decay: 1,
  /** max(l2norm, clipnorm): the divisor of norm clipping. */
  ClipDivisor: 2,
  Stride: 4,
} as const;

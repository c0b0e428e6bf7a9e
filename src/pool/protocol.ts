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
  /**
   * Before the first step: one byte per page of the lane's chunks, in every field, written back
   * unchanged, so the OS commits the arena in parallel, each page on the thread that updates it.
   */
  Commit: 5,
  /** A rank of a world: its micro-batches' gradients summed in their tree into its first shard, over every chunk. */
  ShardSum: 6,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** The phases that run over the lanes' chunks (the others only steer the lanes). */
export const runsOverChunks = (phase: Phase): boolean =>
  phase === Phase.Norm || phase === Phase.Update || phase === Phase.Commit || phase === Phase.ShardSum;

const PHASE_NAMES: Record<number, string> = {
  [Phase.Norm]: 'norm',
  [Phase.Update]: 'update',
  [Phase.Exit]: 'exit',
  [Phase.Warm]: 'warm-up',
  [Phase.Commit]: 'commit',
  [Phase.ShardSum]: 'shard sum',
};

export const phaseName = (phase: Phase): string => PHASE_NAMES[phase] ?? `phase ${phase}`;

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

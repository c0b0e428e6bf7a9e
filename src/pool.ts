/**
 * The worker pool: a piscina pool with one long-lived "lane" task per thread. A phase is
 * published through the shared control block (Atomics.store + notify), each lane runs the
 * kernels over its slice and counts itself done (Atomics.add + notify), and the coordinator
 * awaits the count with Atomics.waitAsync — a step costs no messages, only atomics.
 *
 * Lanes retire after lingering idle (so an idle optimizer lets the process exit) and are
 * relaunched through piscina on the next phase; see LaneState for the claim protocol.
 */
import { Piscina } from 'piscina';
import type { ArenaDescriptor, GroupViews } from './arena.js';
import { StepError } from './errors.js';
import type { Executor } from './executor.js';
import { kernelSets, type KernelName } from './kernels/index.js';
import { ALL_CHUNKS, runPhase } from './phases.js';
import { Ctl, FaultKind, laneDoneIndex, laneFailedIndex, LaneState, Phase } from './protocol.js';

/** What a lane task receives: shared memory only, nothing is copied. */
export interface LaneTask {
  readonly arena: ArenaDescriptor;
  readonly lane: number;
  readonly lanes: number;
  readonly kernels: KernelName;
  /** Control sequence number before the command the lane is launched for. */
  readonly seq: number;
  /** How long an idle lane waits for the next command before retiring. */
  readonly lingerMs: number;
}

export const DEFAULT_LINGER_MS = 250;

const PHASE_NAMES: Record<number, string> = { [Phase.Norm]: 'norm', [Phase.Update]: 'update', [Phase.Exit]: 'exit', [Phase.Warm]: 'warm-up' };

export class PoolExecutor implements Executor {
  readonly lanes: number;
  readonly #arena: ArenaDescriptor;
  /** For a synchronous phase the calling thread runs itself when the lanes are not up. */
  readonly #views: readonly GroupViews[];
  readonly #control: Int32Array;
  readonly #pool: Piscina;
  readonly #timeoutMs: number;
  readonly #lingerMs: number;
  readonly #kernels: KernelName;
  /** Failures of the current command, by lane. */
  readonly #laneErrors: Array<StepError | null>;
  /** Lanes whose failure a synchronous wait already reported: their task's rejection is old news. */
  readonly #reportedSync: boolean[];
  /** The warm-up command in flight, if any (it owns the lanes until it settles). */
  #warming: Promise<void> | null = null;
  #destroyed = false;

  constructor(
    arena: ArenaDescriptor,
    views: readonly GroupViews[],
    kernels: KernelName,
    lanes: number,
    timeoutMs: number,
    lingerMs = DEFAULT_LINGER_MS,
  ) {
    this.lanes = lanes;
    this.#kernels = kernels;
    this.#arena = arena;
    this.#views = views;
    this.#reportedSync = new Array<boolean>(lanes).fill(false);
    this.#control = arena.control;
    this.#timeoutMs = timeoutMs;
    this.#lingerMs = lingerMs;
    this.#laneErrors = new Array<StepError | null>(lanes).fill(null);
    this.#pool = new Piscina({
      filename: new URL('../workers/lane.js', import.meta.url).href,
      minThreads: lanes,
      maxThreads: lanes,
      idleTimeout: Infinity,
      // a lane task may hold its thread for a whole training run
      maxQueue: 'auto',
    });
    // piscina reports a dead thread on the pool too; the lane's task rejection carries it to the step.
    this.#pool.on('error', () => {});
  }

  async run(phase: Phase): Promise<void> {
    if (this.#warming !== null) await this.#warming;
    this.#assertAlive();
    const control = this.#control;
    this.#laneErrors.fill(null);
    const seq = Atomics.load(control, Ctl.Seq);
    for (let lane = 0; lane < this.lanes; lane++) {
      const previous = Atomics.compareExchange(control, Ctl.LaneState + lane, LaneState.Idle, LaneState.Reserved);
      if (previous === LaneState.Gone) {
        Atomics.store(control, Ctl.LaneState + lane, LaneState.Reserved);
        this.#launch(lane, seq);
      }
    }
    this.#publish(phase, seq + 1);
    await this.#awaitLanes(phase, seq + 1);
  }

  /**
   * The synchronous form. Lanes can only be started by piscina through the event loop, which a
   * blocked thread does not run; so when every lane is up and idle they are claimed and the
   * calling thread waits on the control block (Atomics.wait, bounded), and otherwise the calling
   * thread runs the phase itself (the same bytes) and an asynchronous warm-up starts the lanes
   * for the next call.
   */
  runSync(phase: Phase): void {
    this.#assertAlive();
    if (this.#warming === null && this.#claimAll()) {
      const seq = Atomics.load(this.#control, Ctl.Seq) + 1;
      this.#publish(phase, seq);
      this.#waitLanesSync(phase, seq);
      return;
    }
    runPhase(kernelSets[this.#kernels], phase, this.#arena, this.#views, ALL_CHUNKS);
    if (this.#warming === null) {
      this.#warming = this.run(Phase.Warm)
        .catch(() => {}) // a lane that fails to start is relaunched by the next command
        .finally(() => (this.#warming = null));
    }
  }

  /** Claims every lane if all are idle (running and waiting), else claims none. */
  #claimAll(): boolean {
    const control = this.#control;
    for (let lane = 0; lane < this.lanes; lane++) {
      if (Atomics.compareExchange(control, Ctl.LaneState + lane, LaneState.Idle, LaneState.Reserved) !== LaneState.Idle) {
        for (let claimed = 0; claimed < lane; claimed++) Atomics.store(control, Ctl.LaneState + claimed, LaneState.Idle);
        return false;
      }
    }
    return true;
  }

  #publish(phase: Phase, seq: number): void {
    Atomics.store(this.#control, Ctl.Phase, phase);
    Atomics.store(this.#control, Ctl.Seq, seq);
    Atomics.notify(this.#control, Ctl.Seq);
  }

  #waitLanesSync(phase: Phase, seq: number): void {
    const control = this.#control;
    const deadline = performance.now() + this.#timeoutMs;
    for (;;) {
      const progress = Atomics.load(control, Ctl.Progress);
      let settled = 0;
      let failed = -1;
      for (let lane = 0; lane < this.lanes; lane++) {
        if (Atomics.load(control, laneDoneIndex(this.lanes, lane)) === seq) settled++;
        else if (Atomics.load(control, laneFailedIndex(this.lanes, lane)) === seq) {
          settled++;
          failed = lane;
          this.#reportedSync[lane] = true;
        }
      }
      if (settled === this.lanes) {
        if (failed >= 0) throw new StepError(`worker lane ${failed} threw in the ${PHASE_NAMES[phase]} phase`, { stateCorrupted: false });
        return;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        void this.#destroy();
        throw new StepError(
          `${PHASE_NAMES[phase]} phase timed out after ${this.#timeoutMs} ms (${settled} of ${this.lanes} lanes finished); ` +
            'the worker threads were terminated',
          { stateCorrupted: true },
        );
      }
      Atomics.wait(control, Ctl.Progress, progress, remaining);
    }
  }

  #assertAlive(): void {
    if (this.#destroyed) throw new StepError('the worker pool was shut down after an earlier failure', { stateCorrupted: true });
  }

  #launch(lane: number, seq: number): void {
    const task: LaneTask = { arena: this.#arena, kernels: this.#kernels, lane, lanes: this.lanes, seq, lingerMs: this.#lingerMs };
    this.#pool.run(task).catch((cause: unknown) => {
      Atomics.store(this.#control, Ctl.LaneState + lane, LaneState.Gone);
      if (this.#reportedSync[lane]) {
        this.#reportedSync[lane] = false; // a synchronous step already failed with it
        return;
      }
      this.#laneErrors[lane] = new StepError(`worker lane ${lane} failed: ${describe(cause)}`, { cause, stateCorrupted: false });
      // wake the coordinator's waitAsync so it sees the failure now, not at the timeout
      Atomics.add(this.#control, Ctl.Progress, 1);
      Atomics.notify(this.#control, Ctl.Progress);
    });
  }

  /**
   * Waits until every lane has completed command `seq` or failed. Even after a failure it waits
   * for the others to settle, so no lane is still working when the next command is published.
   */
  async #awaitLanes(phase: Phase, seq: number): Promise<void> {
    const control = this.#control;
    const deadline = performance.now() + this.#timeoutMs;
    for (;;) {
      const progress = Atomics.load(control, Ctl.Progress);
      let settled = 0;
      let failure: StepError | null = null;
      for (let lane = 0; lane < this.lanes; lane++) {
        if (Atomics.load(control, laneDoneIndex(this.lanes, lane)) === seq) settled++;
        else if (this.#laneErrors[lane] !== null) {
          settled++;
          failure ??= this.#laneErrors[lane];
        }
      }
      if (settled === this.lanes) {
        if (failure !== null) throw failure;
        return;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        await this.#destroy();
        throw new StepError(
          `${PHASE_NAMES[phase]} phase timed out after ${this.#timeoutMs} ms (${settled} of ${this.lanes} lanes finished); ` +
            'the worker threads were terminated',
          { stateCorrupted: true, cause: failure ?? undefined },
        );
      }
      const wait = Atomics.waitAsync(control, Ctl.Progress, progress, remaining);
      if (wait.async) await wait.value;
    }
  }

  injectFault(lane: number, phase: Phase, kind: (typeof FaultKind)[keyof typeof FaultKind]): void {
    Atomics.store(this.#control, Ctl.FaultPhase, phase);
    Atomics.store(this.#control, Ctl.FaultKind, kind);
    Atomics.store(this.#control, Ctl.FaultLane, lane + 1);
  }

  async close(): Promise<void> {
    if (this.#destroyed) return;
    const control = this.#control;
    Atomics.store(control, Ctl.Phase, Phase.Exit);
    Atomics.add(control, Ctl.Seq, 1);
    Atomics.notify(control, Ctl.Seq);
    await this.#destroy();
  }

  async #destroy(): Promise<void> {
    this.#destroyed = true;
    // terminates every thread, also one stuck in a kernel
    await this.#pool.destroy();
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * The worker pool: a piscina pool with one long-lived "lane" task per thread. A phase is
 * published through the shared control block (Atomics.store + notify), each lane runs the
 * kernels over its slice and counts itself done (Atomics.add + notify), and the coordinator
 * awaits the count with Atomics.waitAsync — a step costs no messages, only atomics.
 *
 * Lanes retire after lingering idle (so an idle optimizer lets the process exit) and are
 * relaunched through piscina on the next phase; see LaneState for the claim protocol. Their
 * threads end after a further idle period, so an optimizer nobody closes holds no threads.
 */
import { Piscina } from 'piscina';
import type { ArenaDescriptor, GroupViews } from './arena.js';
import { StepError } from './errors.js';
import { InlineExecutor, type Executor } from './executor.js';
import type { KernelName } from './kernels/index.js';
import { Ctl, laneDoneIndex, laneFailedIndex, laneLaunchIndex, LaneState, Phase } from './protocol.js';

/** What a lane task receives: shared memory only, nothing is copied. */
export interface LaneTask {
  readonly arena: ArenaDescriptor;
  readonly lane: number;
  readonly lanes: number;
  readonly kernels: KernelName;
  /** Control sequence number before the command the lane is launched for. */
  readonly seq: number;
  /** Which launch of this lane this is; the lane stores it when it starts (laneLaunchIndex). */
  readonly launch: number;
  /** How long an idle lane waits for the next command before retiring. */
  readonly lingerMs: number;
}

export const DEFAULT_LINGER_MS = 250;
/** How long a synchronous wait lets a lane take to begin before it does the lane's share itself. */
const TAKE_OVER_AFTER_MS = 100;

const PHASE_NAMES: Record<number, string> = {
  [Phase.Norm]: 'norm',
  [Phase.Update]: 'update',
  [Phase.Exit]: 'exit',
  [Phase.Warm]: 'warm-up',
};

export class PoolExecutor implements Executor {
  readonly lanes: number;
  readonly #arena: ArenaDescriptor;
  /** Runs a synchronous phase on the calling thread when the lanes are not up. */
  readonly #inline: InlineExecutor;
  readonly #control: Int32Array;
  readonly #pool: Piscina;
  readonly #timeoutMs: number;
  readonly #lingerMs: number;
  readonly #kernels: KernelName;
  /** Failures of the asynchronous command in flight, by lane. */
  readonly #laneErrors: Array<StepError | null>;
  /** The first failure among the lanes counted by the last `#tally`. */
  #failure: StepError | null = null;
  /** Per lane, the number of its current launch: a task that settles after a relaunch is old news. */
  readonly #launches: number[];
  /** Seq of the asynchronous command being awaited, 0 when none: a lane lost meanwhile fails it. */
  #awaiting = 0;
  /**
   * Bounds an asynchronous phase: re-armed (`refresh`) and ref'd when a phase starts, unref'd
   * when it settles — one timer for the pool's life, nothing allocated or queued per phase.
   */
  #watchdog: NodeJS.Timeout | null = null;
  /** The seq of the phase whose time ran out. */
  #expired = 0;
  /** Per lane: its current task has not ended yet (so it must not be relaunched: two tasks would share a lane). */
  readonly #taskLive: boolean[];
  /** Per lane: the calling thread runs its share of the command being published. */
  readonly #shareHere: Uint8Array;
  /** Per lane, what cancels its current task while piscina still holds it queued. */
  readonly #cancels: Array<AbortController | null>;
  /** The warm-up command in flight, if any (it owns the lanes until it settles). */
  #warming: Promise<void> | null = null;
  #destroyed = false;

  constructor(
    arena: ArenaDescriptor,
    views: readonly GroupViews[],
    kernels: KernelName,
    lanes: number,
    timeoutMs: number,
    /** How long piscina keeps a thread whose lane retired, for a quick relaunch, before ending it. */
    threadIdleMs: number,
    lingerMs = DEFAULT_LINGER_MS,
  ) {
    this.lanes = lanes;
    this.#kernels = kernels;
    this.#arena = arena;
    this.#inline = new InlineExecutor(arena, views, kernels);
    this.#launches = new Array<number>(lanes).fill(0);
    this.#taskLive = new Array<boolean>(lanes).fill(false);
    this.#shareHere = new Uint8Array(lanes);
    this.#cancels = new Array<AbortController | null>(lanes).fill(null);
    this.#control = arena.control;
    this.#timeoutMs = timeoutMs;
    this.#lingerMs = lingerMs;
    this.#laneErrors = new Array<StepError | null>(lanes).fill(null);
    this.#pool = new Piscina({
      filename: new URL('../workers/lane-entry.cjs', import.meta.url).href,
      // threads start with their lane and end threadIdleMs after it retires: none is held for good
      minThreads: 0,
      maxThreads: lanes,
      idleTimeout: threadIdleMs,
      // a lane task may hold its thread for a whole training run
      maxQueue: 'auto',
    });
    // piscina reports a dead thread on the pool too; the lane's task rejection carries it to the step.
    this.#pool.on('error', () => {});
    // piscina emits this before it forgets the thread: look once it has
    this.#pool.on('workerDestroy', () => queueMicrotask(() => this.#rescueQueued()));
  }

  async run(phase: Phase): Promise<void> {
    if (this.#warming !== null) await this.#warming;
    this.#assertAlive();
    const control = this.#control;
    this.#laneErrors.fill(null);
    const seq = Atomics.load(control, Ctl.Seq) + 1;
    for (let lane = 0; lane < this.lanes; lane++) {
      const previous = Atomics.compareExchange(control, Ctl.LaneState + lane, LaneState.Idle, LaneState.Reserved);
      this.#shareHere[lane] = 0;
      if (previous !== LaneState.Gone) continue;
      if (this.#taskLive[lane]) {
        this.#shareHere[lane] = 1; // its old task has not ended yet: this command's share is done here
      } else {
        Atomics.store(control, Ctl.LaneState + lane, LaneState.Reserved);
        this.#launch(lane, seq - 1);
      }
    }
    this.#publish(phase, seq);
    for (let lane = 0; lane < this.lanes; lane++) if (this.#shareHere[lane]) this.#runShareHere(phase, lane, seq);
    this.#rescueQueued();
    await this.#awaitLanes(phase, seq);
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
      this.#laneErrors.fill(null);
      const seq = Atomics.load(this.#control, Ctl.Seq) + 1;
      this.#publish(phase, seq);
      this.#waitLanesSync(phase, seq);
      return;
    }
    this.#inline.runSync(phase);
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
      if (
        Atomics.compareExchange(control, Ctl.LaneState + lane, LaneState.Idle, LaneState.Reserved) !== LaneState.Idle
      ) {
        for (let claimed = 0; claimed < lane; claimed++)
          Atomics.store(control, Ctl.LaneState + claimed, LaneState.Idle);
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

  /**
   * A blocked coordinator never hears that a lane's thread ended, so a lane that has not begun
   * after TAKE_OVER_AFTER_MS is revoked and its share done here (a live lane begins within
   * microseconds of the notify; a late one finds itself revoked and ends).
   */
  #waitLanesSync(phase: Phase, seq: number): void {
    const start = performance.now();
    const deadline = start + this.#timeoutMs;
    let tookOver = false;
    for (;;) {
      const progress = Atomics.load(this.#control, Ctl.Progress);
      const settled = this.#tally(phase, seq, true);
      if (settled === this.lanes) return this.#throwIfFailed();
      const now = performance.now();
      if (!tookOver && now - start >= TAKE_OVER_AFTER_MS) {
        tookOver = true;
        for (let lane = 0; lane < this.lanes; lane++) this.#takeOver(phase, lane, seq);
        continue;
      }
      const remaining = deadline - now;
      if (remaining <= 0) {
        void this.#destroy();
        throw this.#timedOut(phase, settled);
      }
      Atomics.wait(
        this.#control,
        Ctl.Progress,
        progress,
        tookOver ? remaining : Math.min(remaining, start + TAKE_OVER_AFTER_MS - now),
      );
    }
  }

  /** Revokes lane `lane` if it has not begun command `seq` (Reserved -> Gone) and runs its share here. */
  #takeOver(phase: Phase, lane: number, seq: number): boolean {
    const state = Ctl.LaneState + lane;
    if (Atomics.compareExchange(this.#control, state, LaneState.Reserved, LaneState.Gone) !== LaneState.Reserved)
      return false;
    this.#runShareHere(phase, lane, seq);
    return true;
  }

  /** Lane `lane`'s share of command `seq` on the calling thread: the same chunks, the same bytes. */
  #runShareHere(phase: Phase, lane: number, seq: number): void {
    try {
      this.#inline.runShare(phase, lane);
      Atomics.store(this.#control, laneDoneIndex(this.lanes, lane), seq);
    } catch (cause) {
      this.#laneErrors[lane] = new StepError(`lane ${lane}'s share failed on the calling thread: ${describe(cause)}`, {
        cause,
        stateCorrupted: false,
      });
    }
  }

  /**
   * How many lanes have settled command `seq`: done, or failed (piscina's rejection, or — for a
   * blocked coordinator, which never sees that rejection in time — the lane's LaneFailed word).
   * The first failure is kept in #failure.
   */
  #tally(phase: Phase, seq: number, sync: boolean): number {
    const control = this.#control;
    this.#failure = null;
    let settled = 0;
    for (let lane = 0; lane < this.lanes; lane++) {
      if (Atomics.load(control, laneDoneIndex(this.lanes, lane)) === seq) {
        settled++;
      } else if (this.#laneErrors[lane] !== null) {
        settled++;
        this.#failure ??= this.#laneErrors[lane]!;
      } else if (sync && Atomics.load(control, laneFailedIndex(this.lanes, lane)) === seq) {
        settled++;
        this.#failure ??= new StepError(`worker lane ${lane} threw in the ${PHASE_NAMES[phase]} phase`, {
          stateCorrupted: false,
        });
      }
    }
    return settled;
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }

  #timedOut(phase: Phase, settled: number): StepError {
    return new StepError(
      `${PHASE_NAMES[phase]} phase timed out after ${this.#timeoutMs} ms (${settled} of ${this.lanes} lanes finished); ` +
        'the worker threads were terminated',
      { stateCorrupted: true, cause: this.#failure ?? undefined },
    );
  }

  #assertAlive(): void {
    if (this.#destroyed)
      throw new StepError('the worker pool was shut down after an earlier failure', { stateCorrupted: true });
  }

  #launch(lane: number, seq: number): void {
    const launch = ++this.#launches[lane]!;
    const task: LaneTask = {
      arena: this.#arena,
      kernels: this.#kernels,
      lane,
      lanes: this.lanes,
      seq,
      launch,
      lingerMs: this.#lingerMs,
    };
    const cancel = (this.#cancels[lane] = new AbortController());
    this.#taskLive[lane] = true;
    this.#pool.run(task, { signal: cancel.signal }).then(
      () => this.#ended(lane, launch), // retired, exited or revoked
      (cause: unknown) => this.#lost(lane, launch, cause),
    );
  }

  #ended(lane: number, launch: number): void {
    if (launch === this.#launches[lane]) this.#taskLive[lane] = false;
  }

  /**
   * A thread ended. piscina queues a task until a thread is ready for it, and when a thread dies
   * while starting it does not start another: a lane task still queued then would never run
   * and a command would wait out its timeout. So when piscina holds tasks it has no thread
   * for, every lane that has not started is cancelled: its rejection (`#lost`) hands its share
   * of the command in flight to the calling thread, and the next command relaunches it, which
   * makes piscina start a thread. Checked when a thread ends and when a command starts.
   */
  #rescueQueued(): void {
    if (this.#destroyed || this.#pool.queueSize === 0) return;
    for (let lane = 0; lane < this.lanes; lane++) {
      if (Atomics.load(this.#control, laneLaunchIndex(this.lanes, lane)) !== this.#launches[lane]) {
        this.#cancels[lane]?.abort(new Error('its thread ended before the lane started'));
      }
    }
  }

  /**
   * A lane's task rejected: its phase threw, or its thread died (also while idle or starting,
   * e.g. terminated from outside). A lane lost before it began the command in flight left its
   * slice untouched: its share is done here and the command goes on. Otherwise it is Gone, so
   * the next command relaunches it, and the command in flight fails. A synchronous command
   * already counted a throw through the LaneFailed word, and a task from before a relaunch is
   * old news: both are ignored.
   */
  #lost(lane: number, launch: number, cause: unknown): void {
    if (launch !== this.#launches[lane] || this.#destroyed) return;
    this.#taskLive[lane] = false;
    const seq = this.#awaiting;
    if (seq !== 0 && this.#takeOver(Atomics.load(this.#control, Ctl.Phase) as Phase, lane, seq)) return this.#wake();
    Atomics.store(this.#control, Ctl.LaneState + lane, LaneState.Gone);
    if (seq === 0) return;
    const why = describe(cause instanceof Error && cause.name === 'AbortError' ? cause.cause : cause);
    this.#laneErrors[lane] = new StepError(`worker lane ${lane} failed: ${why}`, { cause, stateCorrupted: false });
    this.#wake();
  }

  /** Wakes the coordinator's wait so it counts the lanes again now. */
  #wake(): void {
    Atomics.add(this.#control, Ctl.Progress, 1);
    Atomics.notify(this.#control, Ctl.Progress);
  }

  /**
   * Waits until every lane has completed command `seq` or failed. Even after a failure it waits
   * for the others to settle, so no lane is still working when the next command is published.
   * The bound is the pool's one watchdog timer, re-armed for the phase (a timeout given to each
   * Atomics.waitAsync would stay queued in Node until it expires: a long run would pile up
   * millions of them). The timer also keeps the process alive while the phase is in flight.
   */
  async #awaitLanes(phase: Phase, seq: number): Promise<void> {
    this.#awaiting = seq;
    this.#armWatchdog();
    try {
      for (;;) {
        const progress = Atomics.load(this.#control, Ctl.Progress);
        const settled = this.#tally(phase, seq, false);
        if (settled === this.lanes) return this.#throwIfFailed();
        if (this.#expired === seq) {
          await this.#destroy();
          throw this.#timedOut(phase, settled);
        }
        const wait = Atomics.waitAsync(this.#control, Ctl.Progress, progress);
        if (wait.async) await wait.value;
      }
    } finally {
      this.#awaiting = 0;
      this.#watchdog?.unref(); // armed but idle: it neither keeps the process alive nor fires a phase
    }
  }

  #armWatchdog(): void {
    if (this.#watchdog === null) {
      this.#watchdog = setTimeout(() => {
        if (this.#awaiting === 0) return; // fired after its phase settled
        this.#expired = this.#awaiting;
        Atomics.notify(this.#control, Ctl.Progress); // wakes #awaitLanes
      }, this.#timeoutMs);
    } else {
      this.#watchdog.refresh();
    }
    this.#watchdog.ref();
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
    if (this.#watchdog !== null) clearTimeout(this.#watchdog);
    // terminates every thread, also one stuck in a kernel
    await this.#pool.destroy();
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

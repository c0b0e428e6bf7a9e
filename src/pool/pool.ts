/**
 * The worker pool: a piscina pool with one long-lived "lane" task per thread. A phase is
 * published through the shared control block (Atomics.store + notify), each lane runs the
 * kernels over its slice and counts itself done (Atomics.add + notify), and the coordinator
 * waits for the count — a step costs no messages, only atomics. One wait loop (`#settle`)
 * serves both ways of waiting: awaiting (Atomics.waitAsync, bounded by a watchdog timer) and
 * blocking the calling thread (Atomics.wait, bounded by a deadline).
 *
 * Lanes retire after lingering idle (so an idle optimizer lets the process exit) and are
 * relaunched through piscina on the next phase; see LaneState for the claim protocol. Their
 * threads end after a further idle period, so an optimizer nobody closes holds no threads.
 */
import { Piscina } from 'piscina';
import type { KernelName } from '../kernels/index.js';
import type { ArenaDescriptor, GroupViews } from '../memory/arena.js';
import { InlineExecutor, type Executor } from './executor.js';
import { tally } from './lane-tally.js';
import { Ctl, laneDoneIndex, laneLaunchIndex, LaneState, Phase, phaseName } from './protocol.js';
import { StepError } from './step-error.js';

/** What a lane task receives: shared memory only, nothing is copied. */
export interface LaneTask {
  readonly arena: ArenaDescriptor;
  readonly lane: number;
  readonly lanes: number;
  /** The kernel set's name; for a custom set, the URL of the module the lane's thread imports. */
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

/** What the wait loop asks its driver to block on. */
type Block =
  /** The Progress word while it still holds `progress`; when blocking the thread, at most `ms`. */
  | { readonly progress: number; readonly ms: number }
  /** The pool's teardown after a timeout: an awaiting driver lets the threads end first. */
  | { readonly teardown: Promise<void> };

export class PoolExecutor implements Executor {
  readonly lanes: number;
  readonly #arena: ArenaDescriptor;
  /** Runs on the calling thread a synchronous phase the lanes are not up for, or a lane's share. */
  readonly #inline: InlineExecutor;
  readonly #control: Int32Array;
  readonly #pool: Piscina;
  readonly #timeoutMs: number;
  readonly #lingerMs: number;
  readonly #kernels: KernelName;
  /** Failures of the command in flight, by lane (piscina's rejections, shares failed here). */
  readonly #laneErrors: Array<StepError | null>;
  /** Per lane, the number of its current launch: a task that settles after a relaunch is old news. */
  readonly #launches: number[];
  /** Seq of the asynchronous command being awaited, 0 when none: a lane lost meanwhile is taken over or fails it. */
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
  /** Set by a timeout or close(): the threads are being terminated and no command runs again. */
  #destroyed = false;

  /**
   * @param timeoutMs Bound on each phase's wait (stepTimeoutMs).
   * @param threadIdleMs How long piscina keeps a thread after its lane retired before ending it,
   *   so the next step's relaunch finds it started.
   * @param lingerMs How long an idle lane waits for a command before it retires.
   */
  constructor(
    arena: ArenaDescriptor,
    views: readonly GroupViews[],
    kernels: KernelName,
    lanes: number,
    timeoutMs: number,
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
      filename: new URL('../../workers/lane-entry.cjs', import.meta.url).href,
      // threads start with their lane and end threadIdleMs after it retires: none is held for good
      minThreads: 0,
      maxThreads: lanes,
      idleTimeout: threadIdleMs,
      // never reached: a lane has at most one task (it is relaunched only once its task ended)
      maxQueue: 'auto',
    });
    // piscina reports a dead thread on the pool too; the lane's task rejection carries it to the step.
    this.#pool.on('error', () => {});
    // piscina emits this before it forgets the thread: look once it has
    this.#pool.on('workerDestroy', () => queueMicrotask(() => this.#rescueQueued()));
  }

  /** Runs `phase` on the lanes, (re)launching those that are gone; settles when all have. */
  async run(phase: Phase): Promise<void> {
    if (this.#warming !== null) await this.#warming;
    this.#assertAlive();
    const seq = this.#claimAndPublish(phase, false)!; // an asynchronous claim always publishes
    await this.#awaitSettled(phase, seq);
  }

  /**
   * The synchronous form. Lanes can only be started by piscina through the event loop, which a
   * blocked thread does not run; so when every lane is up and idle (and no warm-up is in flight)
   * they are claimed and the calling thread waits on the control block (Atomics.wait, bounded),
   * and otherwise the calling thread runs the phase itself (the same bytes) and an asynchronous
   * warm-up starts the lanes for the next call.
   */
  runSync(phase: Phase): void {
    this.#assertAlive();
    const seq = this.#warming === null ? this.#claimAndPublish(phase, true) : null;
    if (seq !== null) return this.#waitSettled(phase, seq);
    this.#inline.runSync(phase);
    if (this.#warming === null) {
      this.#warming = this.run(Phase.Warm)
        .catch(() => {}) // a lane that fails to start is relaunched by the next command
        .finally(() => (this.#warming = null));
    }
  }

  /**
   * Claims the lanes for the next command and publishes it; returns its seq. Each idle lane is
   * claimed (Idle -> Reserved). Asynchronous: a Gone lane is relaunched, or, while its old task
   * has not ended, its share is done here. Synchronous (`allIdle`): every lane must be idle — if
   * one is not, none stays claimed, nothing is published and the result is null.
   */
  #claimAndPublish(phase: Phase, allIdle: boolean): number | null {
    const control = this.#control;
    const seq = Atomics.load(control, Ctl.Seq) + 1;
    for (let lane = 0; lane < this.lanes; lane++) {
      const previous = Atomics.compareExchange(control, Ctl.LaneState + lane, LaneState.Idle, LaneState.Reserved);
      this.#shareHere[lane] = 0;
      if (previous === LaneState.Idle) continue;
      if (allIdle) {
        for (let claimed = 0; claimed < lane; claimed++)
          Atomics.store(control, Ctl.LaneState + claimed, LaneState.Idle);
        return null;
      }
      if (previous !== LaneState.Gone) continue;
      if (this.#taskLive[lane]) {
        this.#shareHere[lane] = 1; // its old task has not ended yet: this command's share is done here
      } else {
        Atomics.store(control, Ctl.LaneState + lane, LaneState.Reserved);
        this.#launch(lane, seq - 1);
      }
    }
    this.#laneErrors.fill(null);
    Atomics.store(control, Ctl.Phase, phase);
    Atomics.store(control, Ctl.Seq, seq);
    Atomics.notify(control, Ctl.Seq);
    for (let lane = 0; lane < this.lanes; lane++) if (this.#shareHere[lane]) this.#runShareHere(phase, lane, seq);
    if (!allIdle) this.#rescueQueued();
    return seq;
  }

  /**
   * The wait for command `seq`, for both drivers: it counts the lanes and yields what to block
   * on until every lane has completed or failed — even after a failure it waits for the others,
   * so no lane is still working when the next command is published — then throws the first
   * failure, or the timeout (destroying the pool). `sync`: the driver blocks the thread, which
   * never hears that a lane's thread ended, so a lane that has not begun after
   * TAKE_OVER_AFTER_MS is revoked and its share done here (a live lane begins within
   * microseconds of the notify; a late one finds itself revoked and ends), and the deadline
   * bounds the wait. Otherwise `#lost` hears of lost lanes and the watchdog bounds the wait.
   */
  *#settle(phase: Phase, seq: number, sync: boolean): Generator<Block, void, void> {
    const start = performance.now();
    const deadline = start + this.#timeoutMs;
    let tookOver = !sync;
    for (;;) {
      const progress = Atomics.load(this.#control, Ctl.Progress);
      const { settled, failure } = tally(this.#control, this.lanes, this.#laneErrors, seq, phase, sync);
      if (settled === this.lanes) {
        if (failure !== null) throw failure;
        return;
      }
      const now = performance.now();
      if (!tookOver && now - start >= TAKE_OVER_AFTER_MS) {
        tookOver = true;
        for (let lane = 0; lane < this.lanes; lane++) this.#takeOver(phase, lane, seq);
        continue;
      }
      if (sync ? now >= deadline : this.#expired === seq) {
        yield { teardown: this.#destroy() };
        throw this.#timedOut(phase, settled, failure);
      }
      yield { progress, ms: Math.min(deadline, tookOver ? Infinity : start + TAKE_OVER_AFTER_MS) - now };
    }
  }

  /**
   * Drives `#settle` by awaiting. The bound is the pool's one watchdog timer, re-armed for the
   * phase (a timeout given to each Atomics.waitAsync would stay queued in Node until it expires:
   * a long run would pile up millions of them). The timer also keeps the process alive while
   * the phase is in flight.
   */
  async #awaitSettled(phase: Phase, seq: number): Promise<void> {
    this.#awaiting = seq;
    this.#armWatchdog();
    try {
      const wait = this.#settle(phase, seq, false);
      for (let next = wait.next(); next.done !== true; next = wait.next()) {
        const block = next.value;
        if ('teardown' in block) {
          await block.teardown;
        } else {
          const progress = Atomics.waitAsync(this.#control, Ctl.Progress, block.progress);
          if (progress.async) await progress.value;
        }
      }
    } finally {
      this.#awaiting = 0;
      this.#watchdog?.unref(); // armed but idle: it neither keeps the process alive nor fires a phase
    }
  }

  /** Drives `#settle` by blocking the calling thread (Atomics.wait, bounded). */
  #waitSettled(phase: Phase, seq: number): void {
    for (const block of this.#settle(phase, seq, true)) {
      // a blocked thread cannot wait for the teardown: the threads end after the step has failed
      if (!('teardown' in block)) Atomics.wait(this.#control, Ctl.Progress, block.progress, block.ms);
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

  #timedOut(phase: Phase, settled: number, failure: StepError | null): StepError {
    return new StepError(
      `${phaseName(phase)} phase timed out after ${this.#timeoutMs} ms (${settled} of ${this.lanes} lanes finished); ` +
        'the worker threads were terminated',
      { stateCorrupted: true, cause: failure ?? undefined },
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
   * e.g. terminated from outside). A lane lost before it began the awaited command left its
   * slice untouched: its share is done here and the command goes on. Otherwise it is Gone, so
   * the next command relaunches it, and the awaited command fails. With no command awaited
   * (between commands, or after a synchronous one, which counted a throw through the LaneFailed
   * word) it is only marked Gone; a task from before a relaunch is old news and is ignored.
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

  #armWatchdog(): void {
    if (this.#watchdog === null) {
      // the idle timer stays queued until it fires: through a WeakRef it does not keep an
      // unreachable pool (and its arena) alive that long
      const self = new WeakRef(this);
      this.#watchdog = setTimeout(() => {
        const pool = self.deref();
        if (pool !== undefined) pool.#expire();
      }, this.#timeoutMs);
    } else {
      this.#watchdog.refresh();
    }
    this.#watchdog.ref();
  }

  #expire(): void {
    if (this.#awaiting === 0) return; // fired after its phase settled
    this.#expired = this.#awaiting;
    Atomics.notify(this.#control, Ctl.Progress); // wakes #awaitSettled
  }

  /** Tells the lanes to exit and terminates the threads. */
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

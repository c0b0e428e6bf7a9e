import type { ArenaDescriptor, GroupViews } from './arena.js';
import { kernelSets, type KernelName } from './kernels/index.js';
import type { KernelSet } from './kernels/types.js';
import { ALL_CHUNKS, runPhase } from './phases.js';
import { FaultKind, Phase } from './protocol.js';

/** Runs a phase over every chunk and resolves once all of it is done (a step barrier). */
export interface Executor {
  /** Worker threads in use; 0 = the calling thread. */
  readonly lanes: number;
  run(phase: Phase): Promise<void>;
  /** `run`, returning when the phase is done (blocks the calling thread; every wait still bounded). */
  runSync(phase: Phase): void;
  close(): Promise<void>;
  /** @internal test hook: make lane `lane` fail with `kind` at its next `phase`. */
  injectFault(lane: number, phase: Phase, kind: (typeof FaultKind)[keyof typeof FaultKind]): void;
}

/** workers = 0: the kernels run on the calling thread, synchronously. */
export class InlineExecutor implements Executor {
  readonly lanes = 0;
  readonly #arena: ArenaDescriptor;
  readonly #views: readonly GroupViews[];
  readonly #kernels: KernelSet;
  /** Test hook: the phase that fails next (any fault kind fails the same way on this thread). */
  #faultPhase: Phase | null = null;

  constructor(arena: ArenaDescriptor, views: readonly GroupViews[], kernels: KernelName) {
    this.#arena = arena;
    this.#views = views;
    this.#kernels = kernelSets[kernels];
  }

  run(phase: Phase): Promise<void> {
    try {
      this.runSync(phase);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  runSync(phase: Phase): void {
    if (this.#faultPhase === phase) {
      this.#faultPhase = null;
      throw new Error('injected fault');
    }
    runPhase(this.#kernels, phase, this.#arena, this.#views, ALL_CHUNKS);
  }

  /** One lane's share of a phase, on the calling thread (for a pool lane that never began it). */
  runShare(phase: Phase, lane: number): void {
    if (phase === Phase.Norm || phase === Phase.Update) runPhase(this.#kernels, phase, this.#arena, this.#views, lane);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  injectFault(_lane: number, phase: Phase): void {
    this.#faultPhase = phase;
  }
}

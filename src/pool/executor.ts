import { kernelSet, type KernelName } from '../kernels/index.js';
import type { KernelSet } from '../kernels/types.js';
import type { ArenaDescriptor, GroupViews } from '../memory/arena.js';
import { ALL_CHUNKS, runPhase } from './phases.js';
import { runsOverChunks, type Phase } from './protocol.js';

/** Runs a phase over every chunk and resolves once all of it is done (a step barrier). */
export interface Executor {
  /** Worker threads in use; 0 = the calling thread. */
  readonly lanes: number;
  run(phase: Phase): Promise<void>;
  /** `run`, returning when the phase is done (blocks the calling thread; every wait still bounded). */
  runSync(phase: Phase): void;
  close(): Promise<void>;
}

/** workers = 0: the kernels run on the calling thread, synchronously. */
export class InlineExecutor implements Executor {
  readonly lanes = 0;
  readonly #arena: ArenaDescriptor;
  readonly #views: readonly GroupViews[];
  readonly #kernels: KernelSet;

  constructor(arena: ArenaDescriptor, views: readonly GroupViews[], kernels: KernelName) {
    this.#arena = arena;
    this.#views = views;
    this.#kernels = kernelSet(kernels);
  }

  run(phase: Phase): Promise<void> {
    // runs now, on this thread; a throw becomes the rejection
    return new Promise((resolve) => {
      this.runSync(phase);
      resolve();
    });
  }

  runSync(phase: Phase): void {
    runPhase(this.#kernels, phase, this.#arena, this.#views, ALL_CHUNKS);
  }

  /** One lane's share of a phase, on the calling thread (for a pool lane that never began it). */
  runShare(phase: Phase, lane: number): void {
    if (runsOverChunks(phase)) runPhase(this.#kernels, phase, this.#arena, this.#views, lane);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

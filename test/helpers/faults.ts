import type { RMSprop } from '../../dist/src/index.js';

/** The optimizer's internal test hook (stripped from the published types). */
interface FaultHook {
  _injectFault(lane: number, phase: 'norm' | 'update', kind: 'throw' | 'exit' | 'hang'): void;
}

/** Makes lane `lane` fail with `kind` at its next `phase`. */
export const injectFault = (opt: RMSprop, ...args: Parameters<FaultHook['_injectFault']>): void =>
  (opt as unknown as FaultHook)._injectFault(...args);

/**
 * How many threads a step uses: the bound on `workers`, and what 'auto' resolves to for a
 * model's size and kernel set. Thread policy, apart from the options that ask for it.
 */
import { availableParallelism } from 'node:os';
import { isBuiltinKernels, type BuiltinKernelName, type KernelName } from '../kernels/index.js';

/**
 * The most worker threads an optimizer may start: 4 per core, at least 16. More threads than
 * cores only add switching, and a typo such as `workers: 100000` must not start thousands.
 */
export function maxWorkers(): number {
  return Math.max(16, 4 * availableParallelism());
}

/**
 * 'auto' uses threads only when each would get at least this many elements. Waking the pool
 * costs tens of microseconds a phase (bench/step.ts measures it); on a 2-core machine
 * two lanes of SIMD kernels overtake the calling thread at about 500k parameters, the JS
 * kernels (8-10 times slower on one thread) much sooner. A custom kernel set counts as 'js' (its speed is unknown).
 */
export const MIN_ELEMENTS_PER_WORKER: Readonly<Record<BuiltinKernelName, number>> = Object.freeze({
  wasm: 1 << 18,
  js: 1 << 15,
});

/** 'auto': every core, but only when each thread gets enough elements to pay for itself. */
export function resolveLanes(workers: number | 'auto', totalElements: number, kernels: KernelName = 'wasm'): number {
  if (workers !== 'auto') return workers;
  const perWorker = MIN_ELEMENTS_PER_WORKER[isBuiltinKernels(kernels) ? kernels : 'js'];
  const lanes = Math.min(availableParallelism(), Math.floor(totalElements / perWorker));
  return lanes >= 2 ? lanes : 0;
}

/**
 * The smallest custom kernel set: the built-in 'js' kernels, counting their calls per kind of
 * thread in shared memory (handed to the pool's threads as `worker_threads` environment data,
 * created by the first import, on the test's thread). Registered by this module's URL.
 */
import { threadId } from 'node:worker_threads';
import { kernelSet, registerKernels } from '../../dist/src/kernels/index.js'; // rmsprop-pool/kernels
import { environmentWords } from './environment-words.mjs';

const KEY = 'rmsprop-pool/test/counting-kernels';
const Word = { Owner: 0, CallingThread: 1, PoolThreads: 2, Length: 3 };

const counts = environmentWords(KEY, Word.Length, Word.Owner);

/** Kernel calls since the last reset, on the test's thread and on every other thread. */
export function kernelCalls() {
  return {
    callingThread: Atomics.load(counts, Word.CallingThread),
    poolThreads: Atomics.load(counts, Word.PoolThreads),
  };
}

export function resetKernelCalls() {
  Atomics.store(counts, Word.CallingThread, 0);
  Atomics.store(counts, Word.PoolThreads, 0);
}

function count() {
  const here = threadId === Atomics.load(counts, Word.Owner) ? Word.CallingThread : Word.PoolThreads;
  Atomics.add(counts, here, 1);
}

/**
 * @param {import('../../dist/src/kernels/index.js').Kernels} inner
 * @returns {import('../../dist/src/kernels/index.js').Kernels}
 */
function counting(inner) {
  return {
    sumSquares(views, begin, end, scalars, varParams) {
      count();
      inner.sumSquares(views, begin, end, scalars, varParams);
    },
    update(views, begin, end, scalars, varParams) {
      count();
      inner.update(views, begin, end, scalars, varParams);
    },
    sumShards(views, begin, end, scalars, varParams) {
      count();
      inner.sumShards(views, begin, end, scalars, varParams);
    },
  };
}

const js = kernelSet('js');
/** The `kernels` option that runs these kernels: this module's URL. */
export const countingKernels = registerKernels(import.meta.url, {
  float32: counting(js.float32),
  float64: counting(js.float64),
});

/**
 * The binding to MPI (native/mpi/mpi-binding.c, built by `npm run build` where Open MPI is
 * installed), loaded only when asked for. It moves bytes and nothing else: every floating-point
 * sum stays in this library's kernels, in a fixed order, where MPI's own reductions change their
 * tree with the number of ranks. All its MPI calls run on one thread of its own
 * (`MPI_THREAD_FUNNELED`), each call a promise, so the event loop never blocks; buffers are the
 * caller's typed arrays, shared memory included, never copied.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Collectives } from './collectives.js';

/** How to get MPI, for the error that says it is missing. */
export const MPI_INSTALL_HINT =
  'apt-get install openmpi-bin libopenmpi-dev, then npm rebuild rmsprop-pool (in its own repository: npm run build)';

/** The binding's functions, as native/mpi/mpi-binding.c exports them: the collectives, and opening the world. */
export interface MpiBinding extends Collectives {
  /** Starts the MPI thread and `MPI_Init_thread`; once per process. */
  open(): Promise<{ rank: number; size: number; threadLevel: number }>;
}

/** Where `npm run build` puts the binding: dist/native/mpi.node. */
export const MPI_BINDING_PATH = fileURLToPath(new URL('../../native/mpi.node', import.meta.url));

let loaded: MpiBinding | null = null;

/** The MPI binding, loaded on first use; a clear error naming how to get it when it was not built. */
export function mpiBinding(path = MPI_BINDING_PATH): MpiBinding {
  if (loaded !== null && path === MPI_BINDING_PATH) return loaded;
  if (!existsSync(path)) {
    throw new Error(
      `MPI is not available: the binding ${path} was not built (no Open MPI at build time): ${MPI_INSTALL_HINT}`,
    );
  }
  let binding: MpiBinding;
  try {
    binding = createRequire(import.meta.url)(path) as MpiBinding;
  } catch (cause) {
    throw new Error(`MPI is not available: loading ${path} failed (${String(cause)}): ${MPI_INSTALL_HINT}`, { cause });
  }
  if (path === MPI_BINDING_PATH) loaded = binding;
  return binding;
}

/**
 * `rmsprop-pool train` across the ranks of an MPI world: `mpirun -np 4 npx rmsprop-pool train`
 * (or `--world mpi`). Every rank runs the synthetic MLP job over the same batches and computes
 * its block of the micro-batches; the optimizer shards its update and slots across the ranks.
 * Rank 0 prints the report, with each rank's figures (gathered: steps per second, bytes sent per
 * step against the 2(N-1)/N bound and the collectives they took, slot memory); the other ranks print nothing but errors.
 */
import type { World } from '../distributed/world.js';
import type { RMSprop } from '../optimizer/optimizer.js';
import { jobFigures, type JobResult } from './figures.js';

export type WorldChoice = 'auto' | 'mpi' | 'none';

/** Whether `mpirun` (Open MPI, or a PMI launcher) started this process. */
export function launchedByMpirun(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['OMPI_COMM_WORLD_SIZE', 'PMIX_RANK', 'PMI_RANK'].some((key) => env[key] !== undefined);
}

/** The world `choice` names: MPI's ('auto': when mpirun started this process), or none. */
export async function openWorld(choice: WorldChoice): Promise<World | null> {
  if (choice === 'none' || (choice === 'auto' && !launchedByMpirun())) return null;
  const { mpiWorld } = await import('../distributed/world.js'); // the binding loads only now
  return await mpiWorld();
}

/**
 * Micro-batches for a world of N ranks: N times the largest power of two, at most the cores,
 * that divides the batch evenly among them (each rank's block is a subtree of their sum's tree).
 */
export function worldMicroBatches(ranks: number, batchSize: number, cores: number): number {
  let block = 1;
  while (block * 2 <= cores && batchSize % (ranks * block * 2) === 0) block *= 2;
  return ranks * block;
}

/** Runs `work` with console.log silent on every rank but 0 (their reports would repeat rank 0's). */
export async function onRankZero<T>(world: World | null, work: () => Promise<T>): Promise<T> {
  if (world === null || world.rank === 0) return await work();
  const log = console.log;
  console.log = () => undefined;
  try {
    return await work();
  } finally {
    console.log = log;
  }
}

/** Figures gathered per rank: steps per second, bytes sent per step, collectives per step, slot bytes. */
const PER_RANK = 4;

/**
 * Every rank's figures for the job it trained (`optimizer` its built optimizer), gathered to
 * every rank; the lines rank 0 prints. `before`: the world's tallies when the job started.
 */
export async function rankReport(
  world: World,
  result: JobResult,
  optimizer: RMSprop,
  before: { readonly sent: number; readonly calls: number },
): Promise<string[]> {
  const figures = jobFigures(result);
  const all = new Float64Array(PER_RANK * world.size);
  all.set(
    [
      1000 / figures.msPerTrainingStep,
      (world.sent - before.sent) / figures.steps,
      (world.calls - before.calls) / figures.steps,
      optimizer.slotBytes,
    ],
    PER_RANK * world.rank,
  );
  const counts = Int32Array.from({ length: world.size }, () => PER_RANK);
  const at = Int32Array.from({ length: world.size }, (_, r) => PER_RANK * r);
  await world.allgatherv(null, all, counts, at, 8);
  const gradientBytes = 4 * result.parameters;
  const bound = ((2 * (world.size - 1)) / world.size) * gradientBytes;
  const slotsAlone = Array.from({ length: world.size }, (_, r) => all[PER_RANK * r + 3]!).reduce((a, b) => a + b, 0);
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return [
    `world: ${world.size} ranks (MPI), ${result.microBatches} micro-batches (${result.microBatches / world.size} per rank); ` +
      `gradient ${mb(gradientBytes)}, the 2(N-1)/N bound ${mb(bound)} per step`,
    ...Array.from({ length: world.size }, (_, r) => {
      const [stepsPerSecond, sent, calls, slots] = all.subarray(PER_RANK * r, PER_RANK * (r + 1));
      return (
        `rank ${r}: ${stepsPerSecond!.toFixed(2)} steps/s, sent ${mb(sent!)} per step in ${calls!.toFixed(1)} collectives ` +
        `(${bound > 0 ? (sent! / bound).toFixed(3) : '-'} of the bound), slots ${mb(slots!)} ` +
        `(${((100 * slots!) / slotsAlone).toFixed(1)}% of one process's)`
      );
    }),
  ];
}

/**
 * `rmsprop-pool train` across a world, what does not need mpirun: the world's micro-batches,
 * how a launch by mpirun is recognised, and the jobs a world refuses (the runs under mpirun are
 * in test/distributed/mpi-world.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchedByMpirun, worldMicroBatches } from '../../dist/src/cli/world-train.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));

describe('train across a world', () => {
  it('micro-batches: the ranks times the largest power of two, at most the cores, that divides the batch among them', () => {
    expect(worldMicroBatches(2, 128, 2)).toBe(4);
    expect(worldMicroBatches(4, 128, 16)).toBe(64);
    expect(worldMicroBatches(3, 96, 16)).toBe(48); // 3 × 16: at most the cores
    expect(worldMicroBatches(3, 90, 16)).toBe(6); // 90 / 3 = 30: blocks of 2
    expect(worldMicroBatches(2, 7, 4)).toBe(2); // nothing divides: one micro-batch per rank
  });

  it('recognises a launch by mpirun from its environment', () => {
    expect(launchedByMpirun({ OMPI_COMM_WORLD_SIZE: '4' })).toBe(true);
    expect(launchedByMpirun({ PMIX_RANK: '0' })).toBe(true);
    expect(launchedByMpirun({})).toBe(false);
  });

  it('--world mpi with a job that runs in one process is refused by name, before MPI is asked for', () => {
    const run = spawnSync(process.execPath, [CLI, 'train', '--world', 'mpi', '--job', 'iris'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(
      /--world mpi trains the synthetic job across the ranks; the iris job runs in one process/,
    );
  });
});

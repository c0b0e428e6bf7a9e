/**
 * Data-parallel training over a world of ranks in one process: each rank's trainer computes its
 * block of the micro-batches on its own replica threads; the values, every slot, and every loss
 * and metric are one process's, for any ranks × replicas with the same micro-batches. A rank
 * whose replica fails fails the step on the others, naming it, and changes nothing: the run then
 * goes on as if the step had not been tried; so does a step whose batch differs on one rank. The
 * MPI runs are in mpi-world.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { StepError } from '../../dist/src/index.js';
import { localWorld, type World } from '../../dist/src/distributed/world.js';
import { evaluateRank, trainRank } from '../modules/world-train.mjs';

type Run = Parameters<typeof trainRank>[1];

async function ranksOf(ranks: number, run: Run) {
  const worlds: Array<World | null> = ranks === 0 ? [null] : localWorld(ranks);
  return await Promise.all(worlds.map((world) => trainRank(world, run)));
}

describe('training over a world of ranks', () => {
  it('1, 2 and 4 ranks × 1 and 2 replicas: one process’s values, slots, losses and metrics', async () => {
    const [alone] = await ranksOf(0, { microBatches: 4, replicas: 2 });
    for (const [ranks, replicas] of [
      [1, 2],
      [2, 1],
      [2, 2],
      [4, 1],
    ] as const) {
      const seen = await ranksOf(ranks, { microBatches: 4, replicas });
      for (const s of seen) {
        expect(s.hash, `${ranks} ranks × ${replicas} replicas, rank ${s.rank}`).toBe(alone!.hash);
        expect(s.losses).toEqual(alone!.losses);
      }
    }
  });

  it('a replica failing on rank 1: its error there, a StepError naming rank 1 on rank 0, nothing changed', async () => {
    const fail = new Int32Array(new SharedArrayBuffer(4));
    fail[0] = 4; // micro-batch 3: rank 1's of 2 ranks × 4 micro-batches
    const seen = await Promise.allSettled(
      localWorld(2).map((world) => trainRank(world, { microBatches: 4, replicas: 1, steps: 1, fail })),
    );
    const [zero, one] = seen.map((s) => (s as PromiseRejectedResult).reason as StepError);
    expect(one!.message).toMatch(/replica 0 on micro-batch 3: micro-batch 3 refused on purpose; nothing was changed/);
    expect(zero).toBeInstanceOf(StepError);
    expect(zero!.rank).toBe(1);
    expect(zero!.stateCorrupted).toBe(false);
    expect(zero!.message).toMatch(/rank 1 of the world failed its part of the step .*nothing was changed/);
  });

  it('after such a failure, the step taken again leaves the bytes of a run that never failed', async () => {
    const [alone] = await ranksOf(0, { microBatches: 4, replicas: 1 });
    const fail = new Int32Array(new SharedArrayBuffer(4));
    fail[0] = 4;
    const seen = await ranksOf(2, { microBatches: 4, replicas: 1, fail, retry: true });
    expect(seen.map((s) => s.failures.length)).toEqual([1, 1]);
    for (const s of seen) {
      expect(s.hash).toBe(alone!.hash);
      expect(s.losses).toEqual(alone!.losses);
    }
  });

  it('a rank given another batch: every rank refuses the step, naming it, before any gradient; nothing changed', async () => {
    const [alone] = await ranksOf(0, { microBatches: 4, replicas: 1 });
    const seen = await ranksOf(4, { microBatches: 4, replicas: 1, otherBatch: { rank: 2, step: 1 }, retry: true });
    for (const s of seen) {
      expect(s.failures).toEqual([
        "step 2 of the trainer: rank 2's batch differs from rank 0's; every rank of a world passes the same whole " +
          'batch, and each computes its own micro-batches of it (nothing changed)',
      ]);
      expect(s.hash).toBe(alone!.hash); // the step taken again with the same batch: as if never refused
      expect(s.losses).toEqual(alone!.losses);
    }
  });

  it('a run many times longer than stepTimeoutMs: every bound is per wait, none fires, the bytes are one process’s', async () => {
    // 30 steps of micro-batches that take 20 ms each: at least 600 ms, four times the 150 ms bound
    const run = { microBatches: 2, replicas: 1, steps: 30 };
    const [alone] = await ranksOf(0, run);
    const seen = await ranksOf(2, { ...run, stepTimeoutMs: 150, slowMs: 20 });
    for (const s of seen) {
      expect(s.hash).toBe(alone!.hash);
      expect(s.losses).toEqual(alone!.losses);
    }
  });

  it("evaluate(): each rank its share of the chunks, every rank one process's values; a failed chunk named by rank", async () => {
    const run = { replicas: 1, chunkRows: 9 }; // 61 rows: 7 chunks, shares of 3 ranks 2, 2 and 3
    const alone = await evaluateRank(null, run);
    expect(alone.rows).toEqual([9, 9, 9, 9, 9, 9, 7]);
    for (const ranks of [2, 3]) {
      const seen = await Promise.all(localWorld(ranks).map((world) => evaluateRank(world, run)));
      for (const s of seen) expect(s).toEqual(alone);
    }
    // chunk 5 (rows 45 to 54) is rank 2's of 3: it fails there, and names rank 2 on the others
    const failed = await Promise.allSettled(localWorld(3).map((world) => evaluateRank(world, { ...run, failOn: 45 })));
    const reasons = failed.map((f) => String((f as PromiseRejectedResult).reason));
    expect(reasons[2]).toMatch(/evaluate\(\) failed: replica 0 on rows 45 to 54: rows from 12345 refused on purpose/);
    for (const r of [0, 1]) expect(reasons[r]).toMatch(/evaluate\(\): rank 2 of the world failed its chunks/);
  });
});

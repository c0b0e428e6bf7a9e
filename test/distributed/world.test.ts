/**
 * The in-process world (`localWorld`), the world the slicing and the fixed trees above MPI
 * will be tested with: held to the same checks as MPI under mpirun (world-checks.mjs), and
 * refusing ranks that disagree on the collective.
 */
import { describe, expect, it } from 'vitest';
import { IntReduction, localWorld } from '../../dist/src/distributed/world.js';
import { exercise, expectedOf } from '../modules/world-checks.mjs';

describe('a world of ranks in this process', () => {
  it.each([1, 2, 3, 4])('%i ranks: every collective moves the bytes MPI moves', async (size) => {
    const seen = await Promise.all(localWorld(size).map((world) => exercise(world)));
    seen.forEach((s, rank) => {
      const { ticks, refused, ...moved } = s;
      expect(moved).toEqual(expectedOf(rank, size));
      if (rank !== 0) expect(ticks, 'timers ran while waiting in the barrier').toBeGreaterThan(5);
      expect(refused).toMatch(/root 9|root \d+ is not a rank/);
    });
  });

  it('ranks that call different collectives are all refused, each call named', async () => {
    const [a, b] = localWorld(2) as [ReturnType<typeof localWorld>[number], ReturnType<typeof localWorld>[number]];
    const results = await Promise.allSettled([a.barrier(), b.allreduceInt(BigInt64Array.of(1n), IntReduction.Sum)]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect(String((result as PromiseRejectedResult).reason)).toMatch(/rank 0 barrier, rank 1 allreduceInt/);
    }
    // the world goes on with the next collective
    const values = [BigInt64Array.of(2n), BigInt64Array.of(5n)];
    await Promise.all([a.allreduceInt(values[0]!, IntReduction.Max), b.allreduceInt(values[1]!, IntReduction.Max)]);
    expect(values.map((v) => v[0])).toEqual([5n, 5n]);
  });

  it('a closed world refuses calls by rank; a bad size is refused by value', async () => {
    const world = localWorld(2);
    await Promise.all(world.map((t) => t.close()));
    await expect(world[1]!.barrier()).rejects.toThrow(/rank 1: the local world is closed/);
    expect(() => localWorld(0)).toThrow(/size must be a positive integer, got 0/);
  });
});

/**
 * The sharded update over a world of ranks in one process (`localWorld`): the same bytes as one
 * process, for every world size, kernel set and thread count with the same micro-batches, through
 * every exchange (norms per variable and global, loss scaling's skipped step, accumulation, EMA,
 * half precision); what a world refuses; a failed or silent rank failing the step on the others.
 * The same runs go through MPI in mpi-world.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RMSprop, StepError, Variable } from '../../dist/src/index.js';
import { localWorld, type World } from '../../dist/src/distributed/world.js';
import { failNext, faultyKernels } from '../modules/faulty-kernels.mjs';
import { runRank, SETTINGS } from '../modules/world-run.mjs';

type Run = Parameters<typeof runRank>[1];

/** Every rank of a local world of `ranks` (0: one process, no world) runs `run`; their hashes and iterations. */
async function hashes(ranks: number, run: Run): Promise<string[]> {
  const worlds: Array<World | null> = ranks === 0 ? [null] : localWorld(ranks);
  const seen = await Promise.all(worlds.map((world) => runRank(world, run)));
  return seen.map(({ hash, iterations }) => `${hash} after ${iterations} iterations`);
}

describe('a sharded step over a world of ranks', () => {
  for (const setting of Object.keys(SETTINGS) as Array<Run['setting']>) {
    it(`${setting}: 1, 2 and 4 ranks leave one process's bytes, with either kernel set and any threads`, async () => {
      const alone = await hashes(0, { setting, microBatches: 4 });
      for (const [ranks, kernels, workers] of [
        [1, 'wasm', 0],
        [2, 'wasm', 0],
        [4, 'wasm', 0],
        [2, 'js', 2],
        [4, 'wasm', 1],
      ] as const)
        expect(
          await hashes(ranks, { setting, microBatches: 4, kernels, workers }),
          `${ranks} ranks, ${kernels}`,
        ).toEqual(Array<string>(ranks).fill(alone[0]!));
      // blocks of several micro-batches per rank: each rank sums its own first (the shard-sum phase)
      const eight = await hashes(0, { setting, microBatches: 8 });
      expect(eight[0]).not.toBe(alone[0]); // another mean: the check below could fail
      expect(await hashes(2, { setting, microBatches: 8, workers: 2 })).toEqual(Array<string>(2).fill(eight[0]!));
    });
  }

  it('ranks whose slice is empty (fewer numpy buffers than ranks) still take part and leave the same bytes', async () => {
    const run: Run = { setting: 'clipnorm', microBatches: 4, sizes: [10, 3] };
    const alone = await hashes(0, run);
    expect(await hashes(4, run)).toEqual(Array<string>(4).fill(alone[0]!));
  });
});

describe('what a rank sends and holds', () => {
  it('a step sends about 2(N-1)/N of the gradient’s bytes, and each rank holds its slice of the slots', async () => {
    const sizes = [300_000, 5, 200_001];
    const model = () => sizes.map((n, i) => new Variable(new Float32Array(n).fill(1), { name: `v${i}` }));
    const gradientBytes = sizes.reduce((a, n) => a + 4 * n, 0);
    const alone = new RMSprop({ microBatches: 4, workers: 0, momentum: 0.9, clipnorm: 1 });
    alone.build(model());
    for (const ranks of [2, 4]) {
      const worlds = localWorld(ranks);
      const optimizers = worlds.map(
        (world) => new RMSprop({ world, microBatches: 4, workers: 0, momentum: 0.9, clipnorm: 1 }),
      );
      optimizers.forEach((o) => o.build(model()));
      await Promise.all(optimizers.map((o) => o.step())); // the first step also agrees on the build
      const before = worlds.map((w) => w.sent);
      const callsBefore = worlds.map((w) => w.calls);
      await Promise.all(optimizers.map((o) => o.step()));
      const bound = ((2 * (ranks - 1)) / ranks) * gradientBytes;
      worlds.forEach((w, r) => {
        const sent = w.sent - before[r]!;
        expect(sent, `rank ${r} of ${ranks}`).toBeGreaterThan(0.9 * bound);
        expect(sent, `rank ${r} of ${ranks}`).toBeLessThan(1.05 * bound + 4096);
        // the gradients to their owners, the norms' partial sums to all, the new values to all:
        // each after the ranks' word on the step so far (an integer reduction)
        expect(w.calls - callsBefore[r]!, `rank ${r} of ${ranks}`).toBe(6);
      });
      const slots = optimizers.map((o) => o.slotBytes);
      expect(slots.reduce((a, b) => a + b, 0)).toBe(alone.slotBytes); // the slices tile the slots
      for (const held of slots) expect(Math.abs(held - alone.slotBytes / ranks)).toBeLessThan(0.05 * alone.slotBytes);
      await Promise.all(optimizers.map((o) => o.close()));
    }
    await alone.close();
  });
});

describe('what a world refuses', () => {
  const [world] = localWorld(4) as [World];

  it('micro-batches that are not the world size times a power of two, by value', () => {
    expect(() => new RMSprop({ world, microBatches: 6 })).toThrow(
      /`microBatches` must be the world's size \(4\) times a power of two .*got 6 \(number\)/,
    );
    expect(() => new RMSprop({ world, microBatches: 12 })).toThrow(RangeError);
    expect(() => new RMSprop({ world, microBatches: 8 })).not.toThrow();
  });

  it('a world that is not one, by value', () => {
    expect(() => new RMSprop({ world: { rank: 0, size: 2 } as never })).toThrow(
      /`world` must be a World \(await mpiWorld\(\), or localWorld\(size\)\[rank\]\) or null, got/,
    );
  });

  it('ranks that built differently, at their first exchange, on every rank: the first rank and line that differ', async () => {
    const shapes = [[10], [10], [12]];
    const optimizers = localWorld(3).map((world, r) => {
      const optimizer = new RMSprop({ world, microBatches: 3, workers: 0, rho: r === 2 ? 0.8 : 0.9 });
      optimizer.build([new Variable(new Float32Array(shapes[r]![0]!), { name: 'v', shape: shapes[r] })]);
      return optimizer;
    });
    const seen = await Promise.allSettled(optimizers.map((o) => o.step()));
    for (const s of seen)
      expect(String((s as PromiseRejectedResult).reason)).toMatch(
        /the ranks of the world disagree: rank 2 differs from rank 0 in what they built: rank 0 has variable 0: 'v', shape \[10\], float32; rank 2 has variable 0: 'v', shape \[12\], float32/,
      );
    const rho = localWorld(2).map((world, r) => new RMSprop({ world, microBatches: 2, workers: 0, rho: 0.9 - r / 10 }));
    rho.forEach((o) => o.build([new Variable(new Float32Array(10), { name: 'v' })]));
    const refused = await Promise.allSettled(rho.map((o) => o.gatheredVariables()));
    for (const s of refused)
      expect(String((s as PromiseRejectedResult).reason)).toMatch(
        /rank 1 differs from rank 0 .*rank 0 has option rho: 0.9; rank 1 has option rho: 0.8/,
      );
  });

  it('apply() with a gradient on some ranks only: refused on every rank, naming it, nothing changed; then applied', async () => {
    const sizes = [3000, 5000];
    const model = () => sizes.map((n, i) => new Variable(new Float32Array(n).fill(1), { name: `v${i}` }));
    const grads = () => sizes.map((n, i) => Float32Array.from({ length: n }, (_, k) => Math.sin(k + i)));
    const alone = new RMSprop({ microBatches: 2, workers: 0, momentum: 0.9 });
    const aloneVariables = model();
    alone.build(aloneVariables);
    const fill = (variables: Variable[]) =>
      variables.forEach((v, i) => v.gradShards.forEach((shard) => shard.set(grads()[i]!)));
    fill(aloneVariables);
    await alone.step();
    const worlds = localWorld(2);
    const ranks = worlds.map((world) => ({
      optimizer: new RMSprop({ world, microBatches: 2, workers: 0, momentum: 0.9 }),
      variables: model(),
    }));
    ranks.forEach(({ optimizer, variables }) => optimizer.build(variables));
    const before = ranks.map(({ variables }) => variables.map((v) => v.value.slice()));
    const refused = await Promise.allSettled(
      ranks.map(({ optimizer, variables }, r) => optimizer.apply(r === 1 ? [grads()[0]!, null] : grads(), variables)),
    );
    for (const s of refused) {
      const error = (s as PromiseRejectedResult).reason as StepError;
      expect(error.message).toMatch(
        /rank 1 has gradients for other variables than rank 0: every rank gives a gradient for the same variables/,
      );
      expect(error.stateCorrupted).toBe(false);
    }
    ranks.forEach(({ variables }, r) => variables.forEach((v, i) => expect(v.value).toEqual(before[r]![i])));
    expect(ranks.map(({ optimizer }) => optimizer.iterations)).toEqual([0, 0]);
    await Promise.all(ranks.map(({ optimizer, variables }) => optimizer.apply(grads(), variables)));
    for (const { variables } of ranks) variables.forEach((v, i) => expect(v.value).toEqual(aloneVariables[i]!.value));
    await Promise.all([alone, ...ranks.map((r) => r.optimizer)].map((o) => o.close()));
  });

  it('synchronous steps, and slots listed whole on one rank', () => {
    const optimizer = new RMSprop({ world, microBatches: 4, workers: 0 });
    const v = new Variable(new Float32Array(10), { name: 'v' });
    optimizer.build([v]);
    expect(() => optimizer.stepSync()).toThrow(/rank 0 of a world of 4: its steps exchange data; await step\(\)/);
    expect(() => optimizer.variables).toThrow(/holds the slots of its slice only; await gatheredVariables\(\)/);
  });
});

describe('a failing rank', () => {
  const model = () => [new Variable(new Float32Array(20_000).fill(1), { name: 'w' })];

  it('fails the step on every rank: its own error on it, a StepError naming it on the others', async () => {
    const optimizers = localWorld(2).map(
      (world) => new RMSprop({ world, microBatches: 2, workers: 0, kernels: faultyKernels }),
    );
    optimizers.forEach((o) => o.build(model()));
    failNext({ phase: 'update', kind: 'throw' }); // the first rank to update: rank 0
    const [failed, other] = await Promise.allSettled(optimizers.map((o) => o.step()));
    expect(failed!.status).toBe('rejected');
    expect(String((failed as PromiseRejectedResult).reason)).toMatch(/failed in the update phase/);
    const error = (other as PromiseRejectedResult).reason as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.rank).toBe(0);
    expect(error.message).toMatch(/rank 0 of the world failed its part of the step \(before the all-gather/);
    // both are broken: their values may disagree
    for (const o of optimizers) await expect(o.step()).rejects.toThrow(/must be rebuilt/);
  });

  it('a rank that never steps: the others fail once stepTimeoutMs has passed, not hang', async () => {
    const [world] = localWorld(2) as [World];
    const optimizer = new RMSprop({ world, microBatches: 2, workers: 0, stepTimeoutMs: 200 });
    optimizer.build(model());
    const started = Date.now();
    await expect(optimizer.step()).rejects.toThrow(
      /rank 0: the ranks' builds did not complete within stepTimeoutMs \(200 ms\): another rank stopped answering/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

/**
 * The micro-batches' sum order (src/memory/shard-tree.ts), as the kernels run it: step() over M
 * gradient shards gives the bytes of apply() of their mean summed in the tree the recursive
 * definition states (test/helpers/shard-tree.ts), for every M up to 40 and up to the bound, on
 * both kernel sets; the tree's blocks of a power-of-two size sum apart into the same bits, which
 * a left fold's would not.
 */
import { describe, expect, it } from 'vitest';
import { RMSprop, Variable } from '../../dist/src/index.js';
import { MAX_SHARDS, SHARD_TREE_LEVELS } from '../../dist/src/memory/shard-tree.js';
import { MAX_MICRO_BATCHES } from '../../dist/src/optimizer/options.js';
import { shardTree } from '../helpers/shard-tree.js';

const add = (a: number, b: number) => Math.fround(a + b);
/** float32 values whose sums depend on their order. */
const values = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) =>
    Math.fround(Math.sin(i * 12.9898 + seed) * 43758.5453 * 2 ** ((i * 7 + seed) % 13)),
  );

describe("the micro-batches' tree", () => {
  it('bounds: the tree’s levels hold the most micro-batches', () => {
    expect(MAX_MICRO_BATCHES).toBe(MAX_SHARDS);
    expect(2 ** (SHARD_TREE_LEVELS - 1)).toBe(MAX_SHARDS);
  });

  it.each(['js', 'wasm'] as const)(
    'kernels %s: step() over M shards applies their mean summed in the tree, M = 2..40, 64, 100, 1023, 1024',
    async (kernels) => {
      const n = 9; // one vector and a scalar tail
      const counts = [...Array.from({ length: 39 }, (_, k) => k + 2), 64, 100, 1023, 1024];
      for (const m of counts) {
        const shards = Array.from({ length: m }, (_, j) => values(n, 31 * m + j));
        const mean = Float32Array.from({ length: n }, (_, i) =>
          Math.fround(
            shardTree(
              shards.map((g) => g[i]!),
              add,
            ) / m,
          ),
        );
        const sharded = new RMSprop({ kernels, workers: 0, microBatches: m });
        const plain = new RMSprop({ kernels: 'js', workers: 0 });
        try {
          const [a, b] = [0, 1].map(() => new Variable(new Float32Array(n).fill(1), { name: 'w' })) as [
            Variable,
            Variable,
          ];
          sharded.build([a]);
          a.gradShards.forEach((g, j) => g.set(shards[j]!));
          await sharded.step();
          await plain.apply([mean], [b]);
          expect(Array.from(a.value), `${m} shards`).toEqual(Array.from(b.value));
        } finally {
          await Promise.all([sharded.close(), plain.close()]);
        }
      }
    },
  );

  it('blocks of 2^j shards summed apart, then their sums in the tree, give the same bits (a process’s micro-batches)', () => {
    for (const [count, blocks] of [
      [16, [1, 2, 4, 8, 16]],
      [12, [3, 6, 12]], // blocks of 4, 2, 1
      [24, [3, 6, 12, 24]],
    ] as const) {
      const x = values(count, count);
      const whole = shardTree(x, add);
      for (const n of blocks) {
        const size = count / n;
        const sums = Array.from({ length: n }, (_, b) => shardTree(x.slice(b * size, (b + 1) * size), add));
        expect(shardTree(sums, add), `${count} shards as ${n} blocks`).toBe(whole);
      }
    }
  });

  it('is not a left fold (the order before), whose blocks would not combine', () => {
    const differs = [3, 4, 5, 8, 12].filter((n) => {
      const x = values(n, 7);
      return shardTree(x, add) !== x.reduce(add);
    });
    expect(differs.length).toBeGreaterThan(0);
  });
});

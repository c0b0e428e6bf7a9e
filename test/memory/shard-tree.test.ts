/**
 * The micro-batches' sum order: the counter the kernels follow (src/memory/shard-tree.ts) builds
 * the tree the recursive definition states (test/helpers/shard-tree.ts), for every count up to
 * the bound; blocks of a power-of-two size sum apart into the same bits; a left fold does not.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SHARDS, SHARD_TREE_LEVELS, shardTreeSum } from '../../dist/src/memory/shard-tree.js';
import { MAX_MICRO_BATCHES } from '../../dist/src/optimizer/options.js';
import { shardTree } from '../helpers/shard-tree.js';

const add = (a: number, b: number) => Math.fround(a + b);
/** Values whose float32 sums depend on their order. */
const values = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) =>
    Math.fround(Math.sin(i * 12.9898 + seed) * 43758.5453 * 2 ** ((i * 7 + seed) % 13)),
  );

describe("the micro-batches' tree", () => {
  it('the counter sums in the recursive definition’s tree, for every count up to the bound', () => {
    expect(MAX_MICRO_BATCHES).toBe(MAX_SHARDS);
    expect(2 ** (SHARD_TREE_LEVELS - 1)).toBe(MAX_SHARDS);
    for (let n = 1; n <= MAX_SHARDS; n += n < 70 ? 1 : 37) {
      const x = values(n, n);
      expect(
        shardTreeSum(n, (k) => x[k]!, add),
        `${n} shards`,
      ).toBe(shardTree(x, add));
    }
    const x = values(MAX_SHARDS, 3);
    expect(shardTreeSum(MAX_SHARDS, (k) => x[k]!, add)).toBe(shardTree(x, add));
  });

  it('blocks of 2^j shards summed apart, then their sums in the tree, give the same bits (a process’s micro-batches)', () => {
    for (const [count, blocks] of [
      [16, [1, 2, 4, 8, 16]],
      [12, [3, 6, 12]], // blocks of 4, 2, 1
      [24, [3, 6, 12, 24]],
    ] as const) {
      const x = values(count, count);
      const whole = shardTreeSum(count, (k) => x[k]!, add);
      for (const n of blocks) {
        const size = count / n;
        const sums = Array.from({ length: n }, (_, b) => shardTreeSum(size, (k) => x[b * size + k]!, add));
        expect(
          shardTreeSum(n, (b) => sums[b]!, add),
          `${count} shards as ${n} blocks`,
        ).toBe(whole);
      }
    }
  });

  it('is not a left fold (the order before), which blocks could not reproduce', () => {
    const differs = [3, 4, 5, 8, 12].filter((n) => {
      const x = values(n, 7);
      return shardTreeSum(n, (k) => x[k]!, add) !== x.reduce(add);
    });
    expect(differs.length).toBeGreaterThan(0);
  });
});

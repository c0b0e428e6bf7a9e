/**
 * The ranks' word (src/distributed/ranks-word.ts), over ranks in one process: the lowest failed
 * rank, and whether every rank's 64-bit digest is the same, told to every rank; a difference in
 * either half, or only in its sign, found and named by the first rank that differs.
 */
import { describe, expect, it } from 'vitest';
import { RanksWord } from '../../dist/src/distributed/ranks-word.js';
import { localWorld } from '../../dist/src/distributed/world.js';

/** Every rank's word after one exchange with `digests[r]` (low, high) and `failed[r]`. */
async function exchanged(digests: Array<[number, number]>, failed: boolean[] = digests.map(() => false)) {
  const words = localWorld(digests.length).map((world) => new RanksWord(world));
  await Promise.all(
    words.map((word, r) => {
      word.digest.set(digests[r]!);
      return word.exchange(failed[r]!);
    }),
  );
  return words.map(({ failedRank, differingRank }) => ({ failedRank, differingRank }));
}

describe("the ranks' word", () => {
  it('the same digests: none failed, none differs', async () => {
    expect(
      await exchanged([
        [7, -3],
        [7, -3],
        [7, -3],
      ]),
    ).toEqual(Array(3).fill({ failedRank: 3, differingRank: -1 }));
  });

  it('a digest that differs in its low half, its high half or its sign: the first rank that differs, on every rank', async () => {
    const cases: Array<[Array<[number, number]>, number]> = [
      [
        [
          [1, 0],
          [1, 0],
          [2, 0],
          [1, 0],
        ],
        2,
      ],
      [
        [
          [1, 5],
          [1, 6],
          [1, 5],
          [1, 5],
        ],
        1,
      ],
      [
        [
          [0, 0x7fffffff],
          [0, 0x7fffffff],
          [0, 0x7fffffff],
          [0, -0x80000000],
        ],
        3,
      ],
      [
        [
          [-1, -1],
          [-1, -1],
          [0, 0],
          [-1, -1],
        ],
        2,
      ],
    ];
    for (const [digests, differs] of cases)
      expect(await exchanged(digests)).toEqual(Array(4).fill({ failedRank: 4, differingRank: differs }));
  });

  it('failed ranks: the lowest, on every rank, and digests left uncompared', async () => {
    const seen = await exchanged(
      [
        [1, 0],
        [2, 0],
        [3, 0],
      ],
      [false, true, true],
    );
    expect(seen).toEqual(Array(3).fill({ failedRank: 1, differingRank: -1 }));
  });
});

/**
 * The micro-batches' sum order (src/memory/shard-tree.ts), defined independently of its counter:
 * blocks of 2^b shards for the set bits b of the count, largest first, each a perfect tree of
 * halves, added left to right.
 */
export function shardTree(values: readonly number[], add: (a: number, b: number) => number): number {
  const perfect = (from: number, size: number): number =>
    size === 1 ? values[from]! : add(perfect(from, size / 2), perfect(from + size / 2, size / 2));
  let sum: number | null = null;
  let from = 0;
  for (let bit = 31 - Math.clz32(values.length); bit >= 0; bit--) {
    if (((values.length >> bit) & 1) === 0) continue;
    const block = perfect(from, 2 ** bit);
    sum = sum === null ? block : add(sum, block);
    from += 2 ** bit;
  }
  return sum!;
}

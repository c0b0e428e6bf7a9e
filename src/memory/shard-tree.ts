/**
 * The order the micro-batches' gradients are summed in, stated once (the kernels' emitters write
 * it: `shardMean` in emit-js.ts and wasm/wat-ops.ts): a binary tree built left to right, as a
 * binary counter counts. Shard k joins as a leaf; while the two last subtrees have
 * the same size they merge, left + right; when every shard is in, the subtrees left (one per set
 * bit of the count, largest first) are added left to right. For a power-of-two count it is the
 * perfect tree.
 *
 * A block of 2^j shards that starts at a multiple of 2^j is a subtree, and the tree over such
 * blocks, each taken as a leaf, is the same tree: so blocks summed apart (a process's micro-
 * batches) combine into the same bytes as one sum over all of them. A left fold,
 * ((s0 + s1) + s2) + ..., has no such blocks.
 */

/** The most shards a sum takes (the `microBatches` option's bound). */
export const MAX_SHARDS = 1024;
/** The subtrees a sum of up to MAX_SHARDS shards holds at once: one per bit of the count. */
export const SHARD_TREE_LEVELS = Math.log2(MAX_SHARDS) + 1;

/**
 * The shards' sum in their tree, over any values: `leaf(k)` is shard k's, `add` one sum rounded
 * as the kernels round it (numbers on the coordinator; expressions, where the emitters spell the
 * tree out for a count known when they write it), `scratch` SHARD_TREE_LEVELS subtrees' sums.
 */
export function shardTreeSum<T>(
  count: number,
  leaf: (k: number) => T,
  add: (left: T, right: T) => T,
  scratch: { [level: number]: T },
): T {
  for (let k = 0; k < count; k++) {
    let value = leaf(k);
    let level = 0;
    for (let n = k + 1; (n & 1) === 0; n >>= 1, level++) value = add(scratch[level]!, value);
    scratch[level] = value;
  }
  let sum: T | undefined;
  for (let level = SHARD_TREE_LEVELS - 1; level >= 0; level--) {
    if (((count >> level) & 1) === 0) continue;
    sum = sum === undefined ? scratch[level]! : add(sum, scratch[level]!);
  }
  return sum!;
}

/**
 * Shard counts the kernels sum by a tree spelled out when they are written (no per-element
 * loop): the counts data-parallel training runs most (one micro-batch per core, powers of two).
 */
export const SPELLED_OUT_SHARDS = [2, 3, 4, 8] as const;

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

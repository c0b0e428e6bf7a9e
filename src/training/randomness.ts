/**
 * The randomness of a training step, fixed by what the step is rather than by who computes it:
 * micro-batch j of the optimizer's call t draws from a stream seeded by the trainer's seed, t and
 * j. So a replica's random ops (Dropout's masks, noise layers) give the same values
 * whichever thread runs the micro-batch and whatever that thread ran before: the same bytes for
 * any number of replicas, and run to run.
 */

/** murmur3's step: `h` with the 32-bit word `k` mixed in (the order of the words matters). */
function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e2d51);
  x = Math.imul((x << 15) | (x >>> 17), 0x1b873593);
  const y = h ^ x;
  return (Math.imul((y << 13) | (y >>> 19), 5) + 0xe6546b64) >>> 0;
}

/** murmur3's finaliser: every bit of `h` reaches every bit of the result. */
function finish(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The seed of micro-batch `index` of the optimizer's call `call` (counted from 0) under the trainer's `seed`: a uint32. */
export function microBatchSeed(seed: number, call: number, index: number): number {
  const high = Math.floor(call / 2 ** 32);
  return finish(mix(mix(mix(mix(0x5eed, seed >>> 0), call >>> 0), high >>> 0), index >>> 0));
}

/**
 * A stream of doubles in [0, 1) from a uint32 seed (SplitMix32: each draw a mixed counter), the
 * shape of `Math.random`. Allocates nothing per draw.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return ((z ^ (z >>> 15)) >>> 0) / 2 ** 32;
  };
}

/**
 * tfjs's random ops — `randomUniform`, `randomNormal`, `truncatedNormal`, `randomGamma`,
 * `multinomial`, and through them `dropout` and the layers built on it (Dropout, SpatialDropout,
 * AlphaDropout, GaussianDropout, GaussianNoise, a recurrent layer's dropouts) — are JavaScript on
 * every backend, and each one given no seed draws its seed from `Math.random()`, once per call.
 * So running a micro-batch with `Math.random` as the micro-batch's own stream fixes every random
 * value it draws, whichever thread runs it and whatever that thread ran before.
 */

/** Runs `compute` (synchronous) with `Math.random` as `random`, then puts the thread's own back. */
export function withRandom<T>(random: () => number, compute: () => T): T {
  const own = Math.random;
  Math.random = random;
  try {
    return compute();
  } finally {
    Math.random = own;
  }
}

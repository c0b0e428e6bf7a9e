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

/** A layer as far as its randomness shows: its name and class, and its config's `seed`. */
export interface SeededLayer {
  readonly name: string;
  getClassName(): string;
  getConfig(): { seed?: unknown };
  /** A nested model's own layers. */
  readonly layers?: readonly SeededLayer[];
}

/**
 * The layers whose randomness the trainer's seed cannot reach: those built with a `seed` of their
 * own (a Dropout or SpatialDropout1D given `seed`), for which tfjs draws the same mask at every
 * call. Their bytes still do not depend on the replica count, but their masks do not change from
 * step to step or micro-batch to micro-batch, which is rarely what was meant. Named, one line each.
 */
export function fixedSeedLayers(layers: readonly SeededLayer[]): string[] {
  const all = (list: readonly SeededLayer[]): SeededLayer[] => list.flatMap((l) => [l, ...all(l.layers ?? [])]);
  return all(layers)
    .filter((layer) => typeof layer.getConfig().seed === 'number')
    .map(
      (layer) =>
        `${layer.getClassName()} layer '${layer.name}' has its own seed (${String(layer.getConfig().seed)}): ` +
        "tfjs draws the same mask at every step and micro-batch, and the trainer's `seed` does not reach it",
    );
}

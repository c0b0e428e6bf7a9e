/** Seeded randomness for the demos and examples, so every run prints the same numbers. */

/** A uniform generator on [0, 1) (32-bit LCG). */
export function uniform(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** Fisher-Yates, in place. */
export function shuffle(items: { [index: number]: number; readonly length: number }, random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/**
 * Named float64 words in shared memory, with typed accessors: the step's scalars and the
 * per-variable parameters are declared as lists of names (in `rmsprop-words.ts`), and their indices,
 * block lengths and accessors all follow from those lists, so no index is written by hand.
 */

/** A view of one block of words: `view.learningRate = x` writes that word. */
export type WordView<N extends string> = { [K in N]: number };

export interface WordBlock<N extends string> {
  readonly names: readonly N[];
  /** Index of each word in its block. */
  readonly index: Readonly<Record<N, number>>;
  /** Words per block. */
  readonly length: number;
  /** A typed view of the block at `base` in `words` (made once, then read and written without allocating). */
  view(words: Float64Array, base?: number): WordView<N>;
}

/** Declares a block of words, in storage order. */
export function wordBlock<const N extends string>(names: readonly N[]): WordBlock<N> {
  const index = Object.fromEntries(names.map((name, i) => [name, i])) as Record<N, number>;
  class View {
    constructor(
      readonly words: Float64Array,
      readonly base: number,
    ) {}
  }
  names.forEach((name, i) => {
    Object.defineProperty(View.prototype, name, {
      get(this: View): number {
        return this.words[this.base + i]!;
      },
      set(this: View, value: number) {
        this.words[this.base + i] = value;
      },
    });
  });
  return Object.freeze({
    names: Object.freeze([...names]),
    index: Object.freeze(index),
    length: names.length,
    view: (words: Float64Array, base = 0) => new View(words, base) as unknown as WordView<N>,
  });
}

/**
 * Per-variable words: block `i` (at `i * length`) belongs to variable `i`. `get`/`set` take the
 * variable's index, so a loop over variables allocates nothing.
 */
export class VariableWords<N extends string> {
  readonly #words: Float64Array;
  readonly #block: WordBlock<N>;
  constructor(block: WordBlock<N>, words: Float64Array) {
    this.#block = block;
    this.#words = words;
  }
  get(variable: number, word: N): number {
    return this.#words[variable * this.#block.length + this.#block.index[word]]!;
  }
  set(variable: number, word: N, value: number): void {
    this.#words[variable * this.#block.length + this.#block.index[word]] = value;
  }
  /** Sets `word` of every variable. */
  fill(word: N, value: number): void {
    for (let i = this.#block.index[word]; i < this.#words.length; i += this.#block.length) this.#words[i] = value;
  }
}

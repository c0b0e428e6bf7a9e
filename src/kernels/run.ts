/**
 * Running the programs over chunks: the part both kernel sets share. A set only says how to
 * get a specialisation's function for a group (`KernelTable`); which program runs where, and
 * with which specialisation, is decided here once for both.
 */
import type { GroupViews } from '../memory/arena.js';
import { Chunk, CHUNK_STRIDE } from '../memory/layout.js';
import { variantOf, type Program } from './program.js';
import { AccumulationMode, STEP_WORDS, VARIABLE_WORDS } from './rmsprop-words.js';
import { ACCUMULATE, NO_GRADIENT, PROGRAMS, SUM_SHARDS, SUM_SQUARES, UPDATE } from './rmsprop.js';
import { signatureOf } from './signature.js';
import type { Kernels } from './types.js';

/**
 * One specialisation over `n` elements from `first`: the step's words, the variable's words at
 * `base`. A sum of squares returns numpy's pairwise sum of the `n` squares (n at most one buffer).
 */
export type Kernel = (
  views: GroupViews,
  first: number,
  n: number,
  step: Float64Array,
  words: Float64Array,
  base: number,
) => number | void;

/** Specialisations, made on first use and kept; null for one that would change nothing. */
export class KernelTable {
  readonly #made = new Map<Program, Array<Kernel | null | undefined>>();
  constructor(readonly make: (program: Program, variant: number) => Kernel) {
    for (const program of PROGRAMS) this.#made.set(program, []);
  }
  get(program: Program, variant: number): Kernel | null {
    const made = this.#made.get(program)!;
    let kernel = made[variant];
    if (kernel === undefined) {
      kernel = signatureOf(program).writes[variant] ? this.make(program, variant) : null;
      made[variant] = kernel;
    }
    return kernel;
  }
}

const S = STEP_WORDS.index;
const V = VARIABLE_WORDS.index;

/**
 * The most chunks one update call covers. V8 runs a WebAssembly function in baseline code until
 * its optimised code is ready, and swaps that in between calls, never within one: a whole
 * 1e8-element variable in one call ran the first step in baseline code (1e9 parameters: 1.1 s
 * against 0.43 s for the steps after). 256 chunks (1 MiB of each field) keep a call's own cost
 * negligible.
 */
export const MAX_CHUNKS_PER_CALL = 256;

/** The end of the run of `variable`'s chunks that starts at chunk `c` (before `end`). */
function runEnd(chunks: Int32Array, c: number, end: number, variable: number): number {
  let next = c + 1;
  while (next < end && chunks[next * CHUNK_STRIDE + Chunk.Variable] === variable) next++;
  return next;
}

/** The Kernels of a set whose functions for a group come from `tableOf`. */
export function chunkKernels(tableOf: (views: GroupViews) => KernelTable): Kernels {
  /**
   * One sum per numpy buffer, written at the buffer's first chunk (0 at the others): the lanes
   * hold whole buffers (see `Chunk.SumLength`). The specialisation is looked up once per run of
   * a variable's chunks.
   */
  function sumSquares(views: GroupViews, begin: number, end: number, step: Float64Array, words: Float64Array): void {
    const table = tableOf(views);
    const { chunks, partials } = views;
    partials.fill(0, begin, end);
    for (let c = begin; c < end;) {
      const variable = chunks[c * CHUNK_STRIDE + Chunk.Variable]!;
      const next = runEnd(chunks, c, end, variable);
      const base = variable * VARIABLE_WORDS.length;
      if (words[base + V.hasGradient] !== 0) {
        const kernel = table.get(SUM_SQUARES, variantOf(SUM_SQUARES, step, words, base, views))!;
        for (; c < next; c++) {
          const n = chunks[c * CHUNK_STRIDE + Chunk.SumLength]!;
          if (n > 0)
            partials[c] = kernel(views, chunks[c * CHUNK_STRIDE + Chunk.Start]!, n, step, words, base) as number;
        }
      }
      c = next;
    }
  }

  /**
   * `programOf` over chunks [begin, end): one call per run (consecutive chunks of the same
   * variable are contiguous elements), cut every MAX_CHUNKS_PER_CALL chunks.
   */
  function elementwise(
    views: GroupViews,
    begin: number,
    end: number,
    step: Float64Array,
    words: Float64Array,
    programOf: (base: number) => Program,
  ): void {
    const table = tableOf(views);
    const { chunks } = views;
    for (let c = begin; c < end;) {
      const variable = chunks[c * CHUNK_STRIDE + Chunk.Variable]!;
      const next = runEnd(chunks, c, Math.min(end, c + MAX_CHUNKS_PER_CALL), variable);
      const first = chunks[c * CHUNK_STRIDE + Chunk.Start]!;
      const n = chunks[(next - 1) * CHUNK_STRIDE + Chunk.End]! - first;
      const base = variable * VARIABLE_WORDS.length;
      const program = programOf(base);
      table.get(program, variantOf(program, step, words, base, views))?.(views, first, n, step, words, base);
      c = next;
    }
  }

  function update(views: GroupViews, begin: number, end: number, step: Float64Array, words: Float64Array): void {
    const accumulating = step[S.accumulation] === AccumulationMode.Accumulate;
    elementwise(views, begin, end, step, words, (base) =>
      words[base + V.hasGradient] === 0 ? NO_GRADIENT : accumulating ? ACCUMULATE : UPDATE,
    );
  }

  function sumShards(views: GroupViews, begin: number, end: number, step: Float64Array, words: Float64Array): void {
    elementwise(views, begin, end, step, words, () => SUM_SHARDS);
  }

  return { sumSquares, update, sumShards };
}

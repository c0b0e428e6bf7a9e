/**
 * How a per-element program is stated and what is derived from it. A program is a function
 * of an `Ops` (the operations the kernels may use: IEEE add, sub, mul, div, sqrt, neg, min,
 * max, each rounded to the dtype) and of its specialisation flags. Emitters implement `Ops` to
 * write WebAssembly text or JavaScript; `signature.ts` derives the program's parameters.
 */
import type { GroupViews } from '../memory/arena.js';
import type { Field } from '../memory/slots.js';
import type { StepWord, VariableWord } from './rmsprop-words.js';

/** An expression in the emitter's language. */
export type Expr = string & { readonly __expr: unique symbol };

export interface Ops {
  /** This element of an array, read here (before any later store). */
  load(array: Field): Expr;
  /**
   * The mean of this element over the array's shards (micro-batch gradients): summed in the
   * shards' tree (memory/shard-tree.ts), then divided by the views' `shardDivisor` (the world's
   * micro-batches; 1 for a rank's partial sum). Only with two or more shards.
   */
  shardMean(array: Field): Expr;
  /** Writes this element of an array; returns the value, bound (usable again). */
  store(array: Field, x: Expr): Expr;
  /** A step word, as the dtype. */
  step(word: StepWord): Expr;
  /** One of the variable's words, as the dtype. */
  variable(word: VariableWord): Expr;
  add(a: Expr, b: Expr): Expr;
  sub(a: Expr, b: Expr): Expr;
  mul(a: Expr, b: Expr): Expr;
  div(a: Expr, b: Expr): Expr;
  min(a: Expr, b: Expr): Expr;
  max(a: Expr, b: Expr): Expr;
  neg(a: Expr): Expr;
  sqrt(a: Expr): Expr;
  zero(): Expr;
  /** Evaluates `x` once, for use more than once. */
  bind(x: Expr): Expr;
  /** `word != 0 ? a : b`, decided once per call from a step word (a switch, not a specialisation). */
  pick(word: StepWord, a: Expr, b: Expr): Expr;
  /**
   * `body`'s operations rounded to float32 instead of a half dtype (the others: no change): a
   * half-precision gradient divided by Keras's float32 loss scale is a float32 gradient.
   */
  inFloat32<T>(body: () => T): T;
  /**
   * `body`'s operations are numpy's own operators on the arrays (Keras's `g / scale`,
   * `g + accumulator`, `v * scale`), exact in the array's dtype. Outside, each operation is a
   * Keras op, which Keras's numpy backend computes for a float64 array in float32 (see
   * `computeDType`); for the other dtypes the two are the same.
   */
  inNumpy<T>(body: () => T): T;
  /** `x` rounded to the dtype: Keras's `ops.cast(gradient, variable.dtype)` (a no-op but for a float32 value in a half kernel). */
  cast(x: Expr): Expr;
}

/** An emitter's open scopes of one kind (`Ops.inFloat32`, `Ops.inNumpy`): `run` enters one for `body`, `active` says whether any is open. */
export class Scopes {
  #depth = 0;
  get active(): boolean {
    return this.#depth > 0;
  }
  run<T>(body: () => T): T {
    this.#depth++;
    try {
      return body();
    } finally {
      this.#depth--;
    }
  }
}

/** Where a flag's value comes from when a kernel runs: the step, the variable's words, its slots. */
export type FlagReader = (step: Float64Array, words: Float64Array, base: number, views: GroupViews) => number;

export interface FlagSpec {
  /** How many values the flag takes (2 for a boolean). */
  readonly values: number;
  readonly read: FlagReader;
}

export type Flags<N extends string> = Readonly<Record<N, number>>;

export interface Program<N extends string = string> {
  readonly name: string;
  /** Specialisation flags, in variant-number order. */
  readonly flags: Readonly<Record<N, FlagSpec>>;
  /** Elementwise: the statements for one element. Reduction: the float64-summed term of one element. */
  readonly kind: 'elementwise' | 'sumOfSquares';
  /** (A method, so a program with particular flags is a Program.) */
  body(x: Ops, f: Flags<N>): Expr | void;
}

export function elementwise<const N extends string>(
  name: string,
  flags: Record<N, FlagSpec>,
  body: (x: Ops, f: Flags<N>) => void,
): Program<N> {
  return { name, flags, kind: 'elementwise', body };
}

/**
 * A sum of squares: the program returns the element's term (its square, rounded as the program
 * says); kernels add it in float64 with eight accumulators — element k to accumulator k mod 8, then
 * ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) — an order the SIMD lanes can follow for any
 * partition into chunks, with four independent vector sums in flight.
 */
export function sumOfSquares<const N extends string>(
  name: string,
  flags: Record<N, FlagSpec>,
  body: (x: Ops, f: Flags<N>) => Expr,
): Program<N> {
  return { name, flags, kind: 'sumOfSquares', body };
}

/** A boolean flag. */
export function when(test: (...a: Parameters<FlagReader>) => boolean): FlagSpec {
  return { values: 2, read: (...a) => (test(...a) ? 1 : 0) };
}

/** Number of specialisations: the product of the flags' value counts. */
export function variantCount(program: Program): number {
  return Object.values<FlagSpec>(program.flags).reduce((n, f) => n * f.values, 1);
}

/** The flags of variant `variant` (mixed radix, first flag lowest). */
export function flagsOf<N extends string>(program: Program<N>, variant: number): Flags<N> {
  const flags = {} as Record<N, number>;
  for (const [name, spec] of Object.entries<FlagSpec>(program.flags)) {
    flags[name as N] = variant % spec.values;
    variant = Math.floor(variant / spec.values);
  }
  return flags;
}

/** The variant a kernel runs for this step and variable (allocates nothing). */
export function variantOf(
  program: Program,
  step: Float64Array,
  words: Float64Array,
  base: number,
  views: GroupViews,
): number {
  let variant = 0;
  let radix = 1;
  for (const name in program.flags) {
    const spec = program.flags[name]!;
    variant += spec.read(step, words, base, views) * radix;
    radix *= spec.values;
  }
  return variant;
}

/**
 * The JS kernels, generated from the programs in `rmsprop.ts`: one function per program and
 * specialisation, one pass over a run of elements, every operation rounded to the dtype
 * (Math.fround for float32; half precision: stored as bits, widened by table, rounded through
 * float32) in the program's order — no fused or reassociated arithmetic.
 * Compiled on first use, per thread.
 */
import { computeDType, isHalf, roundingFor, type DType } from '../memory/dtype.js';
import { exactHalfBits, widenTable } from '../memory/half.js';
import { accumulatorDType, PAIRWISE_LEAF } from '../memory/numpy-sum.js';
import { SHARD_TREE_LEVELS, SPELLED_OUT_SHARDS, shardTreeSum } from '../memory/shard-tree.js';
import type { Field } from '../memory/slots.js';
import { flagsOf, Scopes, type Expr, type Ops, type Program } from './program.js';
import { STEP_WORDS, VARIABLE_WORDS, type StepWord, type VariableWord } from './rmsprop-words.js';
import type { Kernel } from './run.js';
import { signatureOf } from './signature.js';

/** Writes one element's program as JavaScript statements over element `index`. */
class JsOps implements Ops {
  readonly statements: string[] = [];
  /** The locals made so far: binding one again would only copy. */
  readonly #bound = new Set<Expr>();
  /** Inside `inFloat32`: a half dtype's operations round to float32 (`F`). */
  readonly #float32 = new Scopes();
  /** Inside `inNumpy`: float64 operations are float64's. */
  readonly #numpy = new Scopes();
  constructor(
    readonly index: string,
    readonly dtype: DType,
  ) {}

  /** Whether operations are Keras ops on float64: float32 arithmetic on float32 operands (`computeDType`). */
  get #narrowed(): boolean {
    return this.dtype === 'float64' && !this.#numpy.active;
  }
  #round(e: string): Expr {
    if (this.dtype === 'float64') return (this.#narrowed ? `F(${e})` : `(${e})`) as Expr;
    return (this.#float32.active && isHalf(this.dtype) ? `F(${e})` : `R(${e})`) as Expr;
  }
  /** An operand: a Keras op first converts a float64 array to float32. */
  #operand(a: Expr): string {
    return this.#narrowed ? `F(${a})` : a;
  }
  inFloat32<T>(body: () => T): T {
    return this.#float32.run(body);
  }
  inNumpy<T>(body: () => T): T {
    return this.#numpy.run(body);
  }
  cast(x: Expr): Expr {
    return isHalf(this.dtype) ? (`R(${x})` as Expr) : x;
  }
  /** An element as a number: half precision is stored as bits, widened by table (`W`). */
  #element(at: string): string {
    return isHalf(this.dtype) ? `W[${at}]` : at;
  }
  load(array: Field): Expr {
    return this.bind(this.#element(`a_${array}[${this.index}]`) as Expr); // read where the program reads it, before later stores
  }
  shardMean(array: Field): Expr {
    // the mean the caller would have passed Keras: an array of the dtype, made with numpy's operators
    // summed in the shards' tree (memory/shard-tree.ts): spelled out for the common counts (no
    // loop's bookkeeping per element), else its subtrees' sums in the scratch `S`
    return this.inNumpy(() => {
      const sum = `m${this.statements.length}`;
      const shard = (k: number) => this.#element(`a_${array}_shards[${this.index} + ${k} * shardStride]`);
      const spelled = (count: number) => shardTreeSum(count, shard, (a, b) => this.#round(`${a} + ${b}`) as string, []);
      this.statements.push(
        `let ${sum} = NaN;`,
        ...SPELLED_OUT_SHARDS.map((count) => `if (shardCount === ${count}) ${sum} = ${spelled(count)}; else`),
        '{',
        `  for (let k = 0, j = ${this.index}; k < shardCount; k++, j += shardStride) {`,
        `    let v = ${this.#element(`a_${array}_shards[j]`)}, l = 0;`,
        `    for (let n = k + 1; (n & 1) === 0; n >>= 1, l++) v = ${this.#round('S[l] + v')};`,
        '    S[l] = v;',
        '  }',
        `  for (let l = ${SHARD_TREE_LEVELS - 1}, first = true; l >= 0; l--) {`,
        `    if ((shardCount >> l) & 1) (${sum} = first ? S[l] : ${this.#round(`${sum} + S[l]`)}), (first = false);`,
        '  }',
        '}',
      );
      return this.bind(this.#round(`${sum} / shardDivisor`));
    });
  }
  store(array: Field, x: Expr): Expr {
    const bound = this.bind(x);
    // a half value is rounded already: `B` only encodes it
    this.statements.push(`a_${array}[${this.index}] = ${isHalf(this.dtype) ? `B(${bound})` : bound};`);
    return bound;
  }
  step(word: StepWord): Expr {
    return `s_${word}` as Expr;
  }
  variable(word: VariableWord): Expr {
    return `w_${word}` as Expr;
  }
  add(a: Expr, b: Expr): Expr {
    return this.#round(`${this.#operand(a)} + ${this.#operand(b)}`);
  }
  sub(a: Expr, b: Expr): Expr {
    return this.#round(`${this.#operand(a)} - ${this.#operand(b)}`);
  }
  mul(a: Expr, b: Expr): Expr {
    return this.#round(`${this.#operand(a)} * ${this.#operand(b)}`);
  }
  div(a: Expr, b: Expr): Expr {
    return this.#round(`${this.#operand(a)} / ${this.#operand(b)}`);
  }
  min(a: Expr, b: Expr): Expr {
    return `Math.min(${this.#operand(a)}, ${this.#operand(b)})` as Expr; // exact, and NaN-propagating like the SIMD min
  }
  max(a: Expr, b: Expr): Expr {
    return `Math.max(${this.#operand(a)}, ${this.#operand(b)})` as Expr;
  }
  neg(a: Expr): Expr {
    return `(-${a})` as Expr;
  }
  sqrt(a: Expr): Expr {
    return this.#round(`Math.sqrt(${this.#operand(a)})`);
  }
  zero(): Expr {
    return '0' as Expr;
  }
  bind(x: Expr): Expr {
    if (this.#bound.has(x)) return x;
    const name = `t${this.#bound.size}` as Expr;
    this.statements.push(`const ${name} = ${x};`);
    this.#bound.add(name);
    return name;
  }
  pick(word: StepWord, a: Expr, b: Expr): Expr {
    return `(k_${word} ? ${a} : ${b})` as Expr;
  }
}

/** The JavaScript source of one specialisation (exported for inspection and tests). */
export function jsSource(program: Program, variant: number, dtype: DType): string {
  const W32 = (e: string): string => (dtype === 'float32' ? `R(${e})` : e);
  const name = `${program.name}_${dtype}_${variant}`;
  const flags = flagsOf(program, variant);
  const sig = signatureOf(program);
  const prologue = [
    ...sig.arrays.map((a) => `const a_${a} = views.${a};`),
    // a half dtype's words are cast by their writers (some are float32 on purpose: loss scaling)
    ...sig.stepWords.map((w) => `const s_${w} = ${W32(`step[${STEP_WORDS.index[w]}]`)};`),
    ...sig.variableWords.map((w) => `const w_${w} = ${W32(`words[base + ${VARIABLE_WORDS.index[w]}]`)};`),
    ...sig.switches.map((w) => `const k_${w} = step[${STEP_WORDS.index[w]}] !== 0;`),
    ...(sig.shards
      ? [
          'const a_grad_shards = views.gradShards, shardCount = views.shardCount, shardStride = views.shardStride;',
          'const shardDivisor = views.shardDivisor;',
        ]
      : []),
    'const end = first + n;',
  ];
  let body: string[];
  if (program.kind === 'elementwise') {
    const ops = new JsOps('i', dtype);
    program.body(ops, flags);
    body = ['for (let i = first; i < end; i++) {', ...ops.statements.map((s) => `  ${s}`), '}'];
  } else {
    // numpy's pairwise_sum of the n squares (memory/numpy-sum.ts): above PAIRWISE_LEAF, this
    // function on each half (cut at a multiple of 8); else element k to accumulator k mod 8,
    // combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), then the rest in order
    // (eight zero accumulators and no whole eight: n < 8 is summed in order from 0, as numpy does)
    const add = (a: string, b: string): string =>
      accumulatorDType(computeDType(dtype)) === 'float64' ? `(${a} + ${b})` : `F(${a} + ${b})`;
    const term = (offset: number, into: string): string => {
      const ops = new JsOps(offset === 0 ? 'i' : `i + ${offset}`, dtype);
      const term = program.body(ops, flags) as Expr;
      return `{ ${[...ops.statements, `${into} = ${add(into, term)};`].join(' ')} }`;
    };
    const eight = [0, 1, 2, 3, 4, 5, 6, 7];
    body = [
      `if (n > ${PAIRWISE_LEAF}) {`,
      '  const split = (n >> 1) & ~7;',
      `  return ${add(`${name}(views, first, split, step, words, base)`, `${name}(views, first + split, n - split, step, words, base)`)};`,
      '}',
      'let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;',
      'let i = first;',
      'for (const whole = first + (n & ~7); i < whole; i += 8) {',
      ...eight.map((k) => `  ${term(k, `s${k}`)}`),
      '}',
      `let s = ${add(add(add('s0', 's1'), add('s2', 's3')), add(add('s4', 's5'), add('s6', 's7')))};`,
      `for (; i < end; i++) ${term(0, 's')}`,
      'return s;',
    ];
  }
  return [
    // the shards' tree's scratch: made once per compiled kernel, on its thread
    ...(sig.shards ? [`const S = new Float64Array(${SHARD_TREE_LEVELS});`] : []),
    `return function ${name}(views, first, n, step, words, base) {`,
    ...[...prologue, ...body].map((line) => `  ${line}`),
    '};',
  ].join('\n');
}

/** Compiles one specialisation. */
export function compileJs(program: Program, variant: number, dtype: DType): Kernel {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the source is generated from the programs, not input
  const factory = new Function('R', 'W', 'B', 'F', jsSource(program, variant, dtype)) as (
    round: (x: number) => number,
    widen: Float32Array | null,
    bits: ((x: number) => number) | null,
    float32: (x: number) => number,
  ) => Kernel;
  return isHalf(dtype)
    ? factory(roundingFor(dtype), widenTable(dtype), exactHalfBits(dtype), Math.fround)
    : factory(roundingFor(dtype), null, null, Math.fround);
}

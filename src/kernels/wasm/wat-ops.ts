/**
 * One element's program as WebAssembly text (`WatOps`, the `Ops` the wasm emitter writes
 * programs with) and how each dtype maps onto SIMD lanes (`SimdShape`). Every operation is one
 * IEEE SIMD or scalar instruction, rounded to the dtype: half formats in f32x4 lanes rounded by
 * `half-wat.ts`, float64 as Keras's ops compute it (in float32, `f32x4.demote_f64x2_zero` and back).
 */
import type { DType, HalfDType } from '../../memory/dtype.js';
import type { Field } from '../../memory/slots.js';
import { Scopes, type Expr, type Ops } from '../program.js';
import type { StepWord, VariableWord } from '../rmsprop-words.js';
import { SHARD_TREE_LEVELS, SPELLED_OUT_SHARDS, shardTreeSum } from '../../memory/shard-tree.js';
import { narrowExactWat, roundToHalfWat, widenWat } from './half-wat.js';

/** How one dtype maps onto WebAssembly SIMD. */
export interface SimdShape {
  readonly dtype: DType;
  /** Scalar type. */
  readonly t: 'f32' | 'f64';
  /** Vector type (16 bytes). */
  readonly v: 'f32x4' | 'f64x2';
  /** Bytes of one element in memory. */
  readonly bytes: 2 | 4 | 8;
  /** The half format held in f32x4 lanes, or null. */
  readonly half: HalfDType | null;
}

/** Bytes of memory one vector of lanes covers. */
export const vectorBytes = (shape: SimdShape): number => (16 / (shape.t === 'f32' ? 4 : 8)) * shape.bytes;

/**
 * Writes one element's program for a whole vector (`v128` locals, splatted parameters) or for
 * one element (scalar locals). The byte cursor `$o` (plus `offset`) addresses every array.
 */
export class WatOps implements Ops {
  readonly statements: string[] = [];
  /** Parameters the vector form splats once before its loop: [local, setup]. */
  readonly splats = new Map<string, string>();
  readonly locals: string[] = [];
  /** Expressions that are a local already: binding them again would only copy. */
  readonly #bound = new Set<Expr>();
  /** Whether values live in v128 lanes: the vector form, and every form of a half dtype. */
  readonly lanes: boolean;
  /** Inside `inFloat32`: a half dtype's operations are left in float32. */
  readonly #float32 = new Scopes();
  /** Inside `inNumpy`: float64 operations are float64's. */
  readonly #numpy = new Scopes();
  constructor(
    readonly shape: SimdShape,
    /** Whether memory is accessed a whole vector at a time (else one element). */
    readonly vector: boolean,
    /** Distinguishes the locals of several copies of a program in one function. */
    readonly suffix: string,
    readonly offset = 0,
  ) {
    this.lanes = vector || shape.half !== null;
  }

  get #prefix(): string {
    return this.lanes ? this.shape.v : this.shape.t;
  }
  get #type(): string {
    return this.lanes ? 'v128' : this.shape.t;
  }
  /** The element(s) at `address`, as values. */
  #loadAt(address: string): Expr {
    const { half } = this.shape;
    if (half === null) return `(${this.#type}.load ${address})` as Expr;
    const bits = this.vector ? `(v128.load16x4_u ${address})` : `(i32x4.splat (i32.load16_u ${address}))`;
    return widenWat(half, bits, this.#scratch('h'), this.#scratch('m'), this.#constant) as Expr;
  }
  /** A constant of four equal i32 lanes, in a local set once before the loop (like the splats). */
  readonly #constant = (value: string): string => {
    this.splats.set(`$k${value}`, `(local.set $k${value} (v128.const i32x4 ${value} ${value} ${value} ${value}))`);
    return `(local.get $k${value})`;
  };
  /** A v128 scratch local of this copy of the program (used inside one expression at a time). */
  #scratch(name: string): string {
    const local = `$${name}${this.suffix}`;
    if (!this.locals.includes(`(local ${local} v128)`)) this.locals.push(`(local ${local} v128)`);
    return local;
  }
  /** Stores `x` (a local) at `address`: a half dtype's value is rounded already, narrowing only encodes it. */
  #storeAt(address: string, x: Expr): string {
    const { half } = this.shape;
    if (half === null) return `(${this.#type}.store ${address} ${x})`;
    const bits = narrowExactWat(half, x.slice('(local.get '.length, -1), this.#scratch('a'), this.#constant);
    return this.vector
      ? `(v128.store64_lane 0 ${address} (i16x8.narrow_i32x4_u ${bits} (v128.const i64x2 0 0)))` // lanes hold 0..0xffff: no saturation
      : `(i32.store16 ${address} (i32x4.extract_lane 0 ${bits}))`;
  }
  #address(array: Field): string {
    const at = `(i32.add (local.get $a_${array}) (local.get $o))`;
    return this.offset === 0 ? at : `(i32.add ${at} (i32.const ${this.offset}))`;
  }
  #parameter(name: string): Expr {
    if (!this.lanes) return `(local.get $${name})` as Expr;
    this.splats.set(`$${name}_v`, `(local.set $${name}_v (${this.shape.v}.splat (local.get $${name})))`);
    return `(local.get $${name}_v)` as Expr;
  }
  /** Whether operations are Keras ops on float64: float32 arithmetic on float32 operands (`computeDType`). */
  get #narrowed(): boolean {
    return this.shape.dtype === 'float64' && !this.#numpy.active;
  }
  /** A float64 value rounded to float32 (and widened back, exactly). */
  #toFloat32(x: string): Expr {
    return (
      this.lanes
        ? `(f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero ${x}))`
        : `(f64.promote_f32 (f32.demote_f64 ${x}))`
    ) as Expr;
  }
  #op(name: string, ...args: Expr[]): Expr {
    if (this.#narrowed) return `(${this.#prefix}.${name} ${args.map((a) => this.#toFloat32(a)).join(' ')})` as Expr;
    return `(${this.#prefix}.${name} ${args.join(' ')})` as Expr;
  }
  /** An arithmetic operation, rounded to the dtype (f32 and f64 operations are already; float64 as Keras's ops: to float32). */
  #rounded(name: string, ...args: Expr[]): Expr {
    const { half } = this.shape;
    if (this.#narrowed) return this.#toFloat32(this.#op(name, ...args));
    if (half === null || this.#float32.active) return this.#op(name, ...args);
    const raw = this.bind(this.#op(name, ...args));
    return roundToHalfWat(half, raw.slice('(local.get '.length, -1), this.#scratch('a'), this.#constant) as Expr;
  }
  load(array: Field): Expr {
    return this.bind(this.#loadAt(this.#address(array)));
  }
  shardMean(array: Field): Expr {
    // the mean the caller would have passed Keras: an array of the dtype, made with numpy's operators
    return this.inNumpy(() => this.#shardMean(array));
  }
  /**
   * The shards' sum in their tree (memory/shard-tree.ts): the subtrees' sums by size in locals
   * `L0..`, read and written through a br_table on the level; each shard merges with the
   * subtrees it completes, then the subtrees left, largest first, are added left to right.
   * Statements are pushed in order, so that a rounding's bound locals land inside its loop.
   */
  #shardMean(array: Field): Expr {
    const type = this.#type;
    const id = `${this.locals.length}${this.suffix}`;
    const local = (name: string) => `$m${name}${id}`;
    const [value, left, sum] = ['v', 'x', 's'].map(local) as [string, string, string];
    const [at, k, n, level, has] = ['p', 'k', 'n', 'l', 'h'].map(local) as [string, string, string, string, string];
    const levels = Array.from({ length: SHARD_TREE_LEVELS }, (_, l) => local(`L${l}_`));
    this.locals.push(
      ...[value, left, sum, ...levels].map((name) => `(local ${name} ${type})`),
      ...[at, k, n, level, has].map((name) => `(local ${name} i32)`),
    );
    const get = (name: string) => `(local.get ${name})` as Expr;
    const asFloat = `(${this.shape.t}.convert_i32_u (local.get $shardDivisor))`;
    let divisor = asFloat as Expr;
    if (this.lanes) {
      this.splats.set('$shardDivisor_v', `(local.set $shardDivisor_v (${this.shape.v}.splat ${asFloat}))`);
      divisor = '(local.get $shardDivisor_v)' as Expr;
    }
    const push = (...lines: string[]) => this.statements.push(...lines);
    /** `action(l)` for the level in `$level`: a br_table into one of nested blocks. */
    const onLevel = (label: string, action: (l: number) => string) => {
      push(`(block $${label}${id}`);
      for (let l = SHARD_TREE_LEVELS - 1; l >= 0; l--) push(`(block $${label}${l}_${id}`);
      push(`(br_table ${levels.map((_, l) => `$${label}${l}_${id}`).join(' ')} ${get(level)}))`);
      // each line closes the next level's block; the last closes the outer one
      levels.forEach((_, l) => push(`${action(l)} (br $${label}${id}))`));
    };
    push(`(local.set ${at} ${this.#address(array)})`);
    // the common counts: the tree spelled out, each leaf and sum in a local of its own
    let fresh = 0;
    const bound = (expression: string): Expr => {
      const name = local(`t${fresh++}_`);
      this.locals.push(`(local ${name} ${type})`);
      push(`(local.set ${name} ${expression})`);
      return get(name);
    };
    // (not for half precision: its widening and rounding per leaf would double the module for a rare case)
    const spelledOut = this.shape.half === null ? SPELLED_OUT_SHARDS : [];
    for (const count of spelledOut) {
      push(`(if (i32.eq (local.get $shardCount) (i32.const ${count})) (then`);
      const shard = (j: number) =>
        bound(this.#loadAt(`(i32.add ${get(at)} (i32.mul (local.get $shardStride) (i32.const ${j})))`));
      const tree = shardTreeSum(count, shard, (a, b) => bound(this.#rounded('add', a, b)), []);
      push(`(local.set ${sum} ${tree})) (else`);
    }
    push(
      `(local.set ${k} (i32.const 0))`,
      `(loop $shards${id}`,
      `(local.set ${value} ${this.#loadAt(get(at))})`,
      `(local.set ${n} (i32.add ${get(k)} (i32.const 1)))`,
      `(local.set ${level} (i32.const 0))`,
      `(block $merged${id} (loop $merge${id}`,
      `(br_if $merged${id} (i32.and ${get(n)} (i32.const 1)))`,
    );
    onLevel('read', (l) => `(local.set ${left} ${get(levels[l]!)})`);
    const merged = this.#rounded('add', get(left), get(value));
    push(
      `(local.set ${value} ${merged})`,
      `(local.set ${n} (i32.shr_u ${get(n)} (i32.const 1)))`,
      `(local.set ${level} (i32.add ${get(level)} (i32.const 1)))`,
      `(br $merge${id})))`,
    );
    onLevel('write', (l) => `(local.set ${levels[l]!} ${get(value)})`);
    push(
      `(local.set ${at} (i32.add ${get(at)} (local.get $shardStride)))`,
      // (closes the loop)
      `(br_if $shards${id} (i32.lt_u (local.tee ${k} (i32.add ${get(k)} (i32.const 1))) (local.get $shardCount))))`,
      `(local.set ${has} (i32.const 0))`,
      `(local.set ${level} (i32.const ${SHARD_TREE_LEVELS}))`,
      `(block $summed${id} (loop $sum${id}`,
      `(br_if $summed${id} (i32.eqz ${get(level)}))`,
      `(local.set ${level} (i32.sub ${get(level)} (i32.const 1)))`,
      `(br_if $sum${id} (i32.eqz (i32.and (i32.shr_u (local.get $shardCount) ${get(level)}) (i32.const 1))))`,
    );
    onLevel('last', (l) => `(local.set ${left} ${get(levels[l]!)})`);
    push(`(if ${get(has)} (then`);
    const added = this.#rounded('add', get(sum), get(left));
    push(
      `(local.set ${sum} ${added}))`,
      `(else (local.set ${sum} ${get(left)}) (local.set ${has} (i32.const 1))))`,
      `(br $sum${id})))`,
      ')'.repeat(2 * spelledOut.length), // the spelled-out counts' (else and (if
    );
    return this.bind(this.div(get(sum), divisor));
  }
  store(array: Field, x: Expr): Expr {
    const bound = this.bind(x);
    this.statements.push(this.#storeAt(this.#address(array), bound));
    return bound;
  }
  step(word: StepWord): Expr {
    return this.#parameter(`s_${word}`);
  }
  variable(word: VariableWord): Expr {
    return this.#parameter(`w_${word}`);
  }
  add(a: Expr, b: Expr): Expr {
    return this.#rounded('add', a, b);
  }
  sub(a: Expr, b: Expr): Expr {
    return this.#rounded('sub', a, b);
  }
  mul(a: Expr, b: Expr): Expr {
    return this.#rounded('mul', a, b);
  }
  div(a: Expr, b: Expr): Expr {
    return this.#rounded('div', a, b);
  }
  min(a: Expr, b: Expr): Expr {
    return this.#op('min', a, b);
  }
  max(a: Expr, b: Expr): Expr {
    return this.#op('max', a, b);
  }
  neg(a: Expr): Expr {
    return this.#op('neg', a);
  }
  sqrt(a: Expr): Expr {
    return this.#rounded('sqrt', a);
  }
  zero(): Expr {
    return (this.lanes ? '(v128.const i64x2 0 0)' : `(${this.shape.t}.const 0)`) as Expr;
  }
  bind(x: Expr): Expr {
    if (this.#bound.has(x)) return x;
    const name = `$t${this.locals.length}${this.suffix}`;
    this.locals.push(`(local ${name} ${this.#type})`);
    this.statements.push(`(local.set ${name} ${x})`);
    const local = `(local.get ${name})` as Expr;
    this.#bound.add(local);
    return local;
  }
  inFloat32<T>(body: () => T): T {
    return this.#float32.run(body);
  }
  inNumpy<T>(body: () => T): T {
    return this.#numpy.run(body);
  }
  cast(x: Expr): Expr {
    const { half } = this.shape;
    if (half === null) return x;
    const value = this.bind(x);
    return roundToHalfWat(half, value.slice('(local.get '.length, -1), this.#scratch('a'), this.#constant) as Expr;
  }
  pick(word: StepWord, a: Expr, b: Expr): Expr {
    if (!this.lanes) return `(select ${a} ${b} (local.get $k_${word}))` as Expr;
    // all ones or all zeros: (0 - switch) in every lane
    this.splats.set(
      `$k_${word}_v`,
      `(local.set $k_${word}_v (i32x4.splat (i32.sub (i32.const 0) (local.get $k_${word}))))`,
    );
    return `(v128.bitselect ${a} ${b} (local.get $k_${word}_v))` as Expr;
  }
}

/**
 * Generates the WebAssembly text of the SIMD kernels from the programs in `../rmsprop.ts`: for
 * each dtype (f32x4, f64x2; float16 and bfloat16 as f32x4 lanes), program and specialisation,
 * one exported function making a single pass over a run of elements. Each program is emitted
 * twice, as the vector loop and as the scalar tail, so both do the same IEEE operations in the
 * same order as the JS kernels: no FMA, no relaxed SIMD, no reassociation. Parameters follow
 * the program's signature.
 *
 * Half precision has no WebAssembly type: four elements are loaded as their bits, widened to
 * f32x4 (exact), every operation's f32 result is rounded to the half format in integer SIMD
 * (`roundToHalfWat`), and stores narrow the bits back. Its scalar tail runs the same vector code
 * on one element's lanes, so both forms are one computation.
 */
import { computeDType, type DType, type HalfDType } from '../../memory/dtype.js';
import type { Field } from '../../memory/slots.js';
import { flagsOf, Scopes, variantCount, type Expr, type Ops, type Program } from '../program.js';
import type { StepWord, VariableWord } from '../rmsprop-words.js';
import { PROGRAMS } from '../rmsprop.js';
import { signatureOf } from '../signature.js';
import { accumulatorDType, PAIRWISE_LEAF } from '../../memory/numpy-sum.js';
import { narrowExactWat, roundToHalfWat, widenWat } from './half-wat.js';

/** How one dtype maps onto WebAssembly SIMD. */
interface SimdShape {
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

const SHAPES: readonly SimdShape[] = [
  { dtype: 'float32', t: 'f32', v: 'f32x4', bytes: 4, half: null },
  { dtype: 'float64', t: 'f64', v: 'f64x2', bytes: 8, half: null },
  { dtype: 'float16', t: 'f32', v: 'f32x4', bytes: 2, half: 'float16' },
  { dtype: 'bfloat16', t: 'f32', v: 'f32x4', bytes: 2, half: 'bfloat16' },
];

/** Bytes of memory one vector of lanes covers. */
const vectorBytes = (shape: SimdShape): number => (16 / (shape.t === 'f32' ? 4 : 8)) * shape.bytes;

const EXPORT_PREFIX: Readonly<Record<DType, string>> = {
  float32: 'f32',
  float64: 'f64',
  float16: 'f16',
  bfloat16: 'bf16',
};

/** The export name of one specialisation. */
export function exportName(dtype: DType, program: Program, variant: number): string {
  return `${EXPORT_PREFIX[dtype]}_${program.name}_${variant}`;
}

/**
 * Writes one element's program for a whole vector (`v128` locals, splatted parameters) or for
 * one element (scalar locals). The byte cursor `$o` (plus `offset`) addresses every array.
 */
class WatOps implements Ops {
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
  #shardMean(array: Field): Expr {
    const type = this.#type;
    const id = `${this.locals.length}${this.suffix}`;
    const [sum, at, k] = [`$m${id}`, `$mp${id}`, `$mk${id}`];
    this.locals.push(`(local ${sum} ${type})`, `(local ${at} i32)`, `(local ${k} i32)`);
    const asFloat = `(${this.shape.t}.convert_i32_u (local.get $shardCount))`;
    let count = asFloat as Expr;
    if (this.lanes) {
      this.splats.set('$shardCount_v', `(local.set $shardCount_v (${this.shape.v}.splat ${asFloat}))`);
      count = '(local.get $shardCount_v)' as Expr;
    }
    this.statements.push(
      `(local.set ${sum} ${this.#loadAt(this.#address(array))})`,
      `(local.set ${at} (i32.add ${this.#address(array)} (local.get $shardStride)))`,
      `(local.set ${k} (i32.const 1))`,
      `(loop $shards${id}`,
      `  (local.set ${sum} ${this.#rounded('add', `(local.get ${sum})` as Expr, this.#loadAt(`(local.get ${at})`))})`,
      `  (local.set ${at} (i32.add (local.get ${at}) (local.get $shardStride)))`,
      `  (br_if $shards${id} (i32.lt_u (local.tee ${k} (i32.add (local.get ${k}) (i32.const 1))) (local.get $shardCount))))`,
    );
    return this.bind(this.div(`(local.get ${sum})` as Expr, count));
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

/** `(param ...)` list of a program: the element count, then its signature. */
function parameters(shape: SimdShape, program: Program): string {
  const sig = signatureOf(program);
  return [
    '(param $n i32)',
    ...sig.arrays.map((a) => `(param $a_${a} i32)`),
    ...sig.stepWords.map((w) => `(param $s_${w} ${shape.t})`),
    ...sig.variableWords.map((w) => `(param $w_${w} ${shape.t})`),
    ...sig.switches.map((w) => `(param $k_${w} i32)`),
    ...(sig.shards ? ['(param $shardCount i32) (param $shardStride i32)'] : []),
  ].join(' ');
}

/** Locals and the splat setup of several emitters. */
function prologue(emitters: readonly WatOps[]): { locals: string; setup: string } {
  const splats = new Map(emitters.flatMap((e) => [...e.splats]));
  return {
    locals: [...[...splats.keys()].map((name) => `(local ${name} v128)`), ...emitters.flatMap((e) => e.locals)].join(
      ' ',
    ),
    setup: [...splats.values()].join('\n    '),
  };
}

/** A vector loop over whole vectors, then a scalar loop over the tail, both running the program. */
function elementwiseFunction(shape: SimdShape, program: Program, variant: number): string {
  const flags = flagsOf(program, variant);
  const vector = new WatOps(shape, true, '_v');
  const scalar = new WatOps(shape, false, '_s');
  program.body(vector, flags);
  program.body(scalar, flags);
  const { locals, setup } = prologue([vector, scalar]);
  return `
  (func (export "${exportName(shape.dtype, program, variant)}") ${parameters(shape, program)}
    (local $o i32) (local $end i32) ${locals}
    ${setup}
    (local.set $end (i32.and (i32.mul (local.get $n) (i32.const ${shape.bytes})) (i32.const ${-vectorBytes(shape)})))
    (block $vector_done (loop $vector
      (br_if $vector_done (i32.ge_u (local.get $o) (local.get $end)))
      ${vector.statements.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const ${vectorBytes(shape)})))
      (br $vector)))
    (local.set $end (i32.mul (local.get $n) (i32.const ${shape.bytes})))
    (block $scalar_done (loop $scalar
      (br_if $scalar_done (i32.ge_u (local.get $o) (local.get $end)))
      ${scalar.statements.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const ${shape.bytes})))
      (br $scalar))))`;
}

/** The arguments of a call to a function with `parameters(shape, program)`, its arrays `skip` elements on. */
function forwarded(shape: SimdShape, program: Program, n: string, skip: string | null): string {
  const sig = signatureOf(program);
  const array = (a: Field): string =>
    skip === null
      ? `(local.get $a_${a})`
      : `(i32.add (local.get $a_${a}) (i32.mul ${skip} (i32.const ${shape.bytes})))`;
  return [
    n,
    ...sig.arrays.map(array),
    ...sig.stepWords.map((w) => `(local.get $s_${w})`),
    ...sig.variableWords.map((w) => `(local.get $w_${w})`),
    ...sig.switches.map((w) => `(local.get $k_${w})`),
    ...(sig.shards ? ['(local.get $shardCount) (local.get $shardStride)'] : []),
  ].join(' ');
}

/**
 * A sum of squares (see `sumOfSquares` in program.ts): numpy's pairwise_sum of the n squares, in
 * its accumulators' precision (memory/numpy-sum.ts). An internal function recurses on the two
 * halves above PAIRWISE_LEAF (cut at a multiple of 8); below, eight accumulators — element k to
 * accumulator k mod 8, held in the lanes of registers $A, $B (f32x4) or $A..$D (f64x2) —
 * combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest in order. The
 * export widens the result to f64.
 */
function sumOfSquaresFunction(shape: SimdShape, program: Program, variant: number): string {
  const flags = flagsOf(program, variant);
  const square = (e: WatOps): Expr => program.body(e, flags) as Expr; // the program's term: a square
  const emitters: WatOps[] = [];
  const emitter = (vector: boolean, suffix: string, offset: number): WatOps => {
    const e = new WatOps(shape, vector, suffix, offset);
    emitters.push(e);
    return e;
  };
  const b = shape.bytes;
  const acc = shape.t; // float32 accumulators in the f32-lane shapes (float32 and the half formats)
  // float64 squares are float32 (Keras computes them so), summed in float32 in the f64 lanes
  const narrow = shape.t === 'f64' && accumulatorDType(computeDType(shape.dtype)) === 'float32';
  const vectorAdd = (x: string, y: string): string => {
    const sum = `(${shape.v}.add ${x} ${y})`;
    return narrow ? `(f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero ${sum}))` : sum;
  };
  const scalarAdd = (x: string, y: string): string => {
    const sum = `(${acc}.add ${x} ${y})`;
    return narrow ? `(f64.promote_f32 (f32.demote_f64 ${sum}))` : sum;
  };
  const registers = shape.t === 'f32' ? ['A', 'B'] : ['A', 'B', 'C', 'D'];
  const eight: string[] = [];
  registers.forEach((register, k) => {
    const e = emitter(true, `_v${k}`, vectorBytes(shape) * k);
    const sq = square(e);
    eight.push(...e.statements, `(local.set $${register} ${vectorAdd(`(local.get $${register})`, sq)})`);
  });
  const lane = (k: number): string => {
    const perRegister = 16 / (acc === 'f32' ? 4 : 8);
    return `(${shape.v}.extract_lane ${k % perRegister} (local.get $${registers[Math.floor(k / perRegister)]!}))`;
  };
  const pair = (i: number): string => scalarAdd(lane(i), lane(i + 1));
  const combined = scalarAdd(scalarAdd(pair(0), pair(2)), scalarAdd(pair(4), pair(6)));
  const tail = emitter(false, '_s', 0);
  const tailSquare = square(tail);
  const tailTerm = shape.half !== null ? `(f32x4.extract_lane 0 ${tailSquare})` : tailSquare;
  const { locals, setup } = prologue(emitters);
  const name = exportName(shape.dtype, program, variant);
  const widen = acc === 'f32' ? (x: string) => `(f64.promote_f32 ${x})` : (x: string) => x;
  return `
  (func $${name} ${parameters(shape, program)} (result ${acc})
    (local $o i32) (local $end i32) (local $split i32) (local $s ${acc}) ${registers.map((r) => `(local $${r} v128)`).join(' ')} ${locals}
    (if (i32.gt_u (local.get $n) (i32.const ${PAIRWISE_LEAF})) (then
      (local.set $split (i32.and (i32.shr_u (local.get $n) (i32.const 1)) (i32.const -8)))
      (return ${scalarAdd(
        `(call $${name} ${forwarded(shape, program, '(local.get $split)', null)})`,
        `(call $${name} ${forwarded(shape, program, '(i32.sub (local.get $n) (local.get $split))', '(local.get $split)')})`,
      )})))
    ${setup}
    (local.set $end (i32.mul (i32.and (local.get $n) (i32.const -8)) (i32.const ${b})))
    (block $done (loop $eight
      (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
      ${eight.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const ${8 * b})))
      (br $eight)))
    (local.set $s ${combined})
    (local.set $end (i32.mul (local.get $n) (i32.const ${b})))
    (block $tail_done (loop $tail
      (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
      ${tail.statements.join('\n      ')}
      (local.set $s ${scalarAdd('(local.get $s)', tailTerm)})
      (local.set $o (i32.add (local.get $o) (i32.const ${b})))
      (br $tail)))
    (local.get $s))
  (func (export "${name}") ${parameters(shape, program)} (result f64)
    ${widen(`(call $${name} ${forwarded(shape, program, '(local.get $n)', null)})`)})`;
}

/** The whole module: every specialisation that does something, of every program and dtype, over one shared memory. */
export function generateKernelsWat(): string {
  const functions: string[] = [];
  for (const shape of SHAPES) {
    for (const program of PROGRAMS) {
      const { writes } = signatureOf(program);
      for (let variant = 0; variant < variantCount(program); variant++) {
        if (!writes[variant]) continue;
        // the float32 gradient stage is the same arithmetic unless the dtype is half
        if (shape.half === null && (flagsOf(program, variant) as Record<string, number>).wide) continue;
        functions.push(
          program.kind === 'elementwise'
            ? elementwiseFunction(shape, program, variant)
            : sumOfSquaresFunction(shape, program, variant),
        );
      }
    }
  }
  return `(module
  (import "env" "memory" (memory 1 65536 shared))${functions.join('\n')}
)
`;
}

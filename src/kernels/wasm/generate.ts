/**
 * Generates the WebAssembly text of the SIMD kernels: for each dtype (f32x4, f64x2) and each
 * specialisation in `variants.ts`, one function that makes a single fused pass over a run of
 * elements. The per-element program is written once (`updateProgram`, ...) against an emitter
 * and emitted twice, as the vector loop and as the scalar tail, so both do the same IEEE
 * operations in the same order as the JS kernels: no FMA, no relaxed SIMD, no reassociation.
 */
import type { DType } from '../../dtype.js';
import { ClipMode } from '../rmsprop.js';
import {
  ACCUMULATE_VARIANTS,
  AccumulateBit,
  exportName,
  SUM_SQUARES_VARIANTS,
  SumSquaresBit,
  UPDATE_VARIANTS,
  updateFlags,
  type UpdateFlags,
} from './variants.js';

interface Lanes {
  readonly dtype: DType;
  /** Scalar type. */
  readonly t: 'f32' | 'f64';
  /** Vector shape. */
  readonly v: 'f32x4' | 'f64x2';
  readonly bytes: 4 | 8;
}

const LANES: readonly Lanes[] = [
  { dtype: 'float32', t: 'f32', v: 'f32x4', bytes: 4 },
  { dtype: 'float64', t: 'f64', v: 'f64x2', bytes: 8 },
];

/** Parameters of the exported functions, in call order (the loader's call sites follow this order). */
const UPDATE_POINTERS = ['value', 'grad', 'velocity', 'momentum', 'averageGradient', 'average', 'accumulator'] as const;
const UPDATE_SCALARS = [
  'lr',
  'rho',
  'oneMinusRho',
  'epsilon',
  'momentumFactor',
  'lossScale',
  'steps',
  'clip',
  'divisor',
  'weightDecay',
  'emaMomentum',
  'emaOneMinus',
] as const;
const ACCUMULATE_POINTERS = ['value', 'grad', 'average', 'accumulator'] as const;
const ACCUMULATE_SCALARS = ['lossScale', 'emaMomentum', 'emaOneMinus'] as const;
const SUM_SQUARES_POINTERS = ['grad', 'accumulator'] as const;
const SUM_SQUARES_SCALARS = ['lossScale', 'steps'] as const;

type Expr = string;

/**
 * Writes one element's program either for a whole vector (`v128` locals, splatted scalars) or
 * for one element (scalar locals). The byte cursor `$o` addresses every stream.
 */
class Emitter {
  readonly splats = new Set<string>();
  readonly locals = new Set<string>();
  /** Whether the program picks by the per-call `overwrite` flag (its vector form needs a mask). */
  usesOverwrite = false;
  constructor(
    readonly lanes: Lanes,
    readonly vector: boolean,
  ) {}

  private get prefix(): string {
    return this.vector ? this.lanes.v : this.lanes.t;
  }
  private address(stream: string, offset = 0): Expr {
    const at = `(i32.add (local.get $${stream}) (local.get $o))`;
    return offset === 0 ? at : `(i32.add ${at} (i32.const ${offset}))`;
  }
  load(stream: string, offset = 0): Expr {
    return `(${this.vector ? 'v128' : this.lanes.t}.load ${this.address(stream, offset)})`;
  }
  store(stream: string, value: Expr): Expr {
    return `(${this.vector ? 'v128' : this.lanes.t}.store ${this.address(stream)} ${value})`;
  }
  param(name: string): Expr {
    if (!this.vector) return `(local.get $${name})`;
    this.splats.add(name);
    return `(local.get $${name}_v)`;
  }
  op(name: 'add' | 'sub' | 'mul' | 'div' | 'min' | 'max', a: Expr, b: Expr): Expr {
    return `(${this.prefix}.${name} ${a} ${b})`;
  }
  unary(name: 'sqrt' | 'neg', a: Expr): Expr {
    return `(${this.prefix}.${name} ${a})`;
  }
  zero(): Expr {
    return this.vector ? '(v128.const i64x2 0 0)' : `(${this.lanes.t}.const 0)`;
  }
  /** `overwrite ? a : b`, decided once per call. */
  pickIfOverwrite(a: Expr, b: Expr): Expr {
    this.usesOverwrite = true;
    return this.vector
      ? `(v128.bitselect ${a} ${b} (local.get $overwrite_v))`
      : `(select ${a} ${b} (local.get $overwrite))`;
  }
  set(name: string, value: Expr): Expr {
    this.locals.add(name);
    return `(local.set $${name}${this.suffix} ${value})`;
  }
  tee(name: string, value: Expr): Expr {
    this.locals.add(name);
    return `(local.tee $${name}${this.suffix} ${value})`;
  }
  get(name: string): Expr {
    return `(local.get $${name}${this.suffix})`;
  }
  private get suffix(): string {
    return this.vector ? '_v' : '_s';
  }
  /** The vector form's splatted parameters (and overwrite mask): locals, then their setup. */
  splatPrologue(): { locals: string[]; init: string[] } {
    const locals = [...this.splats].map((x) => `(local $${x}_v v128)`);
    const init = [...this.splats].map((x) => `(local.set $${x}_v (${this.lanes.v}.splat (local.get $${x})))`);
    if (this.usesOverwrite) {
      locals.push('(local $overwrite_v v128)');
      init.push('(local.set $overwrite_v (i32x4.splat (i32.sub (i32.const 0) (local.get $overwrite))))');
    }
    return { locals, init };
  }
  declarations(): string[] {
    const type = this.vector ? 'v128' : this.lanes.t;
    return [...this.locals].map((name) => `(local $${name}${this.suffix} ${type})`);
  }
}

/** The gradient the update sees: unscaled, then the accumulated mean, then clipped. */
function effectiveGradient(
  e: Emitter,
  f: Pick<UpdateFlags, 'unscale' | 'applyAccumulated'> & { clip: number },
  out: Expr[],
): void {
  out.push(e.set('g', e.load('grad')));
  if (f.unscale) out.push(e.set('g', e.op('div', e.get('g'), e.param('lossScale'))));
  if (f.applyAccumulated) {
    out.push(e.set('g', e.op('div', e.op('add', e.get('g'), e.load('accumulator')), e.param('steps'))));
    out.push(e.store('accumulator', e.zero()));
  }
  if (f.clip === ClipMode.Norm)
    out.push(e.set('g', e.op('div', e.op('mul', e.get('g'), e.param('clip')), e.param('divisor'))));
  else if (f.clip === ClipMode.GlobalNorm) out.push(e.set('g', e.op('mul', e.get('g'), e.param('clip'))));
  else if (f.clip === ClipMode.Value) {
    out.push(e.set('g', e.op('min', e.op('max', e.get('g'), e.unary('neg', e.param('clip'))), e.param('clip'))));
  }
}

/** average = ema * average + (1 - ema) * p; on overwrite steps p = average. */
function movingAverage(e: Emitter, out: Expr[]): void {
  const next = e.op(
    'add',
    e.op('mul', e.param('emaMomentum'), e.load('average')),
    e.op('mul', e.param('emaOneMinus'), e.get('p')),
  );
  out.push(e.set('a', next), e.store('average', e.get('a')), e.set('p', e.pickIfOverwrite(e.get('a'), e.get('p'))));
}

/** One Keras RMSprop `apply` for one element (see the JS kernels for the same steps). */
function updateProgram(e: Emitter, f: UpdateFlags): Expr[] {
  const out: Expr[] = [];
  effectiveGradient(e, f, out);
  out.push(e.set('p', e.load('value')));
  if (f.decay) {
    out.push(
      e.set('p', e.op('sub', e.get('p'), e.op('mul', e.op('mul', e.get('p'), e.param('weightDecay')), e.param('lr')))),
    );
  }
  const g = e.get('g');
  const squared = e.op('mul', e.param('oneMinusRho'), e.op('mul', g, g));
  out.push(
    e.set('v', e.op('add', e.op('mul', e.param('rho'), e.load('velocity')), squared)),
    e.store('velocity', e.get('v')),
  );
  let denominator: Expr;
  if (f.centered) {
    const mean = e.op(
      'add',
      e.op('mul', e.param('rho'), e.load('averageGradient')),
      e.op('mul', e.param('oneMinusRho'), g),
    );
    out.push(e.set('mg', mean), e.store('averageGradient', e.get('mg')));
    denominator = e.op('add', e.op('sub', e.get('v'), e.op('mul', e.get('mg'), e.get('mg'))), e.param('epsilon'));
  } else {
    denominator = e.op('add', e.get('v'), e.param('epsilon'));
  }
  out.push(e.set('inc', e.op('div', e.op('mul', e.param('lr'), g), e.unary('sqrt', denominator))));
  if (f.momentum) {
    out.push(e.set('m', e.op('add', e.op('mul', e.param('momentumFactor'), e.load('momentum')), e.get('inc'))));
    out.push(e.store('momentum', e.get('m')), e.set('p', e.op('sub', e.get('p'), e.get('m'))));
  } else {
    out.push(e.set('p', e.op('sub', e.get('p'), e.get('inc'))));
  }
  if (f.ema) movingAverage(e, out);
  out.push(e.store('value', e.get('p')));
  return out;
}

/** Accumulation-only step: accumulator += grad (/ lossScale); the EMA still runs. */
function accumulateProgram(e: Emitter, unscale: boolean, ema: boolean): Expr[] {
  const out: Expr[] = [];
  const g = unscale ? e.op('div', e.load('grad'), e.param('lossScale')) : e.load('grad');
  out.push(e.store('accumulator', e.op('add', e.load('accumulator'), g)));
  if (ema) {
    out.push(e.set('p', e.load('value')));
    movingAverage(e, out);
    out.push(e.store('value', e.get('p')));
  }
  return out;
}

function signature(lanes: Lanes, pointers: readonly string[], scalars: readonly string[], overwrite: boolean): string {
  const params = [
    '(param $n i32)',
    ...pointers.map((p) => `(param $${p} i32)`),
    ...scalars.map((s) => `(param $${s} ${lanes.t})`),
    ...(overwrite ? ['(param $overwrite i32)'] : []),
  ];
  return params.join(' ');
}

/** A vector loop over whole vectors, then a scalar loop over the tail, both running `program`. */
function elementwiseFunction(
  lanes: Lanes,
  name: string,
  pointers: readonly string[],
  scalars: readonly string[],
  program: (e: Emitter) => Expr[],
): string {
  const vector = new Emitter(lanes, true);
  const scalar = new Emitter(lanes, false);
  const vectorBody = program(vector);
  const scalarBody = program(scalar);
  const splat = vector.splatPrologue();
  return `
  (func (export "${name}") ${signature(lanes, pointers, scalars, true)}
    (local $o i32) (local $end i32)
    ${[...splat.locals, ...vector.declarations(), ...scalar.declarations()].join(' ')}
    ${splat.init.join('\n    ')}
    (local.set $end (i32.and (i32.mul (local.get $n) (i32.const ${lanes.bytes})) (i32.const -16)))
    (block $vector_done (loop $vector
      (br_if $vector_done (i32.ge_u (local.get $o) (local.get $end)))
      ${vectorBody.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (br $vector)))
    (local.set $end (i32.mul (local.get $n) (i32.const ${lanes.bytes})))
    (block $scalar_done (loop $scalar
      (br_if $scalar_done (i32.ge_u (local.get $o) (local.get $end)))
      ${scalarBody.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const ${lanes.bytes})))
      (br $scalar))))`;
}

/**
 * Sum of squares of one chunk in float64 with four accumulators: element k of the chunk goes to
 * accumulator k mod 4, and the result is (s0 + s1) + (s2 + s3) — the order the JS kernel uses.
 * Accumulators 0,1 live in vector A and 2,3 in vector B.
 */
function sumSquaresFunction(lanes: Lanes, name: string, unscale: boolean, applyAccumulated: boolean): string {
  const e = new Emitter(lanes, true);
  const s = new Emitter(lanes, false);
  const gradient = (em: Emitter, offset: number): Expr => {
    let g = em.load('grad', offset);
    if (unscale) g = em.op('div', g, em.param('lossScale'));
    if (applyAccumulated) g = em.op('div', em.op('add', g, em.load('accumulator', offset)), em.param('steps'));
    return g;
  };
  let body: Expr[];
  if (lanes.t === 'f32') {
    body = [
      e.set('g', gradient(e, 0)),
      e.set('sq', e.op('mul', e.get('g'), e.get('g'))),
      `(local.set $A (f64x2.add (local.get $A) (f64x2.promote_low_f32x4 ${e.get('sq')})))`,
      `(local.set $B (f64x2.add (local.get $B) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${e.get('sq')} ${e.get('sq')}))))`,
    ];
  } else {
    body = [
      e.set('g', gradient(e, 0)),
      `(local.set $A (f64x2.add (local.get $A) (f64x2.mul ${e.get('g')} ${e.get('g')})))`,
      e.set('h', gradient(e, 16)),
      `(local.set $B (f64x2.add (local.get $B) (f64x2.mul ${e.get('h')} ${e.get('h')})))`,
    ];
  }
  const square = (offset: number): Expr => {
    const g = gradient(s, offset);
    const sq = `(${lanes.t}.mul ${s.tee('t', g)} ${s.get('t')})`;
    return lanes.t === 'f32' ? `(f64.promote_f32 ${sq})` : sq;
  };
  const addToLane = (acc: 'A' | 'B', lane: 0 | 1, offset: number): Expr =>
    `(local.set $${acc} (f64x2.replace_lane ${lane} (local.get $${acc}) (f64.add (f64x2.extract_lane ${lane} (local.get $${acc})) ${square(offset)})))`;
  const b = lanes.bytes;
  const tail = [addToLane('A', 0, 0), addToLane('A', 1, b), addToLane('B', 0, 2 * b)];
  const splat = e.splatPrologue();
  return `
  (func (export "${name}") ${signature(lanes, SUM_SQUARES_POINTERS, SUM_SQUARES_SCALARS, false)} (result f64)
    (local $o i32) (local $end i32) (local $rest i32) (local $A v128) (local $B v128)
    ${[...splat.locals, ...e.declarations(), ...s.declarations()].join(' ')}
    ${splat.init.join('\n    ')}
    (local.set $end (i32.mul (i32.and (local.get $n) (i32.const -4)) (i32.const ${b})))
    (block $done (loop $quad
      (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
      ${body.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const ${4 * b})))
      (br $quad)))
    (local.set $rest (i32.and (local.get $n) (i32.const 3)))
    (if (i32.ge_u (local.get $rest) (i32.const 1)) (then ${tail[0]}))
    (if (i32.ge_u (local.get $rest) (i32.const 2)) (then ${tail[1]}))
    (if (i32.ge_u (local.get $rest) (i32.const 3)) (then ${tail[2]}))
    (f64.add
      (f64.add (f64x2.extract_lane 0 (local.get $A)) (f64x2.extract_lane 1 (local.get $A)))
      (f64.add (f64x2.extract_lane 0 (local.get $B)) (f64x2.extract_lane 1 (local.get $B)))))`;
}

/** The whole module: every kernel of every dtype, over one imported shared memory. */
export function generateKernelsWat(): string {
  const functions: string[] = [];
  for (const lanes of LANES) {
    for (let variant = 0; variant < UPDATE_VARIANTS; variant++) {
      const flags = updateFlags(variant);
      const name = exportName(lanes.dtype, 'update', variant);
      functions.push(elementwiseFunction(lanes, name, UPDATE_POINTERS, UPDATE_SCALARS, (e) => updateProgram(e, flags)));
    }
    for (let variant = 0; variant < ACCUMULATE_VARIANTS; variant++) {
      const unscale = (variant & AccumulateBit.Unscale) !== 0;
      const ema = (variant & AccumulateBit.Ema) !== 0;
      const name = exportName(lanes.dtype, 'accumulate', variant);
      functions.push(
        elementwiseFunction(lanes, name, ACCUMULATE_POINTERS, ACCUMULATE_SCALARS, (e) =>
          accumulateProgram(e, unscale, ema),
        ),
      );
    }
    for (let variant = 0; variant < SUM_SQUARES_VARIANTS; variant++) {
      const unscale = (variant & SumSquaresBit.Unscale) !== 0;
      const applyAccumulated = (variant & SumSquaresBit.ApplyAccumulated) !== 0;
      functions.push(
        sumSquaresFunction(lanes, exportName(lanes.dtype, 'sumSquares', variant), unscale, applyAccumulated),
      );
    }
  }
  return `(module
  (import "env" "memory" (memory 1 65536 shared))${functions.join('\n')}
)
`;
}

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
import { computeDType, type DType } from '../../memory/dtype.js';
import type { Field } from '../../memory/slots.js';
import { accumulatorDType, PAIRWISE_LEAF } from '../../memory/numpy-sum.js';
import { flagsOf, variantCount, type Expr, type Program } from '../program.js';
import { PROGRAMS } from '../rmsprop.js';
import { signatureOf } from '../signature.js';
import { vectorBytes, WatOps, type SimdShape } from './wat-ops.js';

const SHAPES: readonly SimdShape[] = [
  { dtype: 'float32', t: 'f32', v: 'f32x4', bytes: 4, half: null },
  { dtype: 'float64', t: 'f64', v: 'f64x2', bytes: 8, half: null },
  { dtype: 'float16', t: 'f32', v: 'f32x4', bytes: 2, half: 'float16' },
  { dtype: 'bfloat16', t: 'f32', v: 'f32x4', bytes: 2, half: 'bfloat16' },
];

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

/** `(param ...)` list of a program: the element count, then its signature. */
function parameters(shape: SimdShape, program: Program): string {
  const sig = signatureOf(program);
  return [
    '(param $n i32)',
    ...sig.arrays.map((a) => `(param $a_${a} i32)`),
    ...sig.stepWords.map((w) => `(param $s_${w} ${shape.t})`),
    ...sig.variableWords.map((w) => `(param $w_${w} ${shape.t})`),
    ...sig.switches.map((w) => `(param $k_${w} i32)`),
    ...(sig.shards ? ['(param $shardCount i32) (param $shardStride i32) (param $shardDivisor i32)'] : []),
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
    ...(sig.shards ? ['(local.get $shardCount) (local.get $shardStride) (local.get $shardDivisor)'] : []),
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
        // a float32 variable's loss-scaled gradient is float32 already: nothing is wide
        if (shape.dtype === 'float32' && (flagsOf(program, variant) as Record<string, number>).wide) continue;
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

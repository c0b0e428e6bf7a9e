/**
 * Half precision in WebAssembly SIMD lanes, which have no half type: float16 and bfloat16 bits
 * (the low 16 bits of each i32 lane) widened to f32x4 exactly, and f32x4 narrowed to them with
 * round to nearest, ties to even, in integer SIMD. Overflow becomes infinity, subnormals are
 * rounded at their own last place, NaN becomes the quiet NaN with its sign. Eight values of a
 * Uint16Array are one v128: `i32x4.extend_low/high_i16x8_u` splits it, `i16x8.narrow_i32x4_u`
 * joins it (every lane holds at most 0xffff, so nothing saturates).
 */

/** A v128 of four equal i32 lanes. */
const i32x4 = (value: string) => `(v128.const i32x4 ${value} ${value} ${value} ${value})`;

/**
 * How the inline functions below get a constant of four equal i32 lanes (float constants by
 * their bits): inline by default; a kernel passes locals set once before its loop, so the
 * constants are not made again in every iteration.
 */
export type Constant = (value: string) => string;

/**
 * An f32x4 expression rounded to half precision, staying f32x4: what each operation of a half
 * kernel does to its float32 result (the exact result of an operation on half values, rounded once
 * more: exact, see ARCHITECTURE.md). `x` and `a` name v128 locals: `x` holds the value, `a` is
 * scratch. Inline text, so a kernel pays no call per operation.
 *
 * bfloat16's is only for a kernel operation's result: a NaN there has a zero low half (a widened
 * half's NaN, quieted, or the default NaN: WebAssembly's arithmetic makes no other), and stays a
 * NaN. float16's takes any float32.
 */
export function roundToHalfWat(dtype: 'float16' | 'bfloat16', x: string, a: string, k: Constant = i32x4): string {
  if (dtype === 'bfloat16') {
    // add 0x7fff plus the kept part's lowest bit, clear the low half (a carry past the largest
    // finite value reaches infinity; a NaN's zero low half carries nothing)
    return `(v128.and
        (i32x4.add (i32x4.add (local.get ${x}) ${k('0x7fff')})
          (v128.and (i32x4.shr_u (local.get ${x}) (i32.const 16)) ${k('1')}))
        ${k('0xffff0000')})`;
  }
  // the magnitude plus C minus C, C = 2^(e + 13) for its exponent e (at least -14): the sum's last
  // place is float16's at e (2^-24 below 2^-14), so float32's own rounding of the add is the
  // rounding to float16, ties to even, and the subtraction is exact. One select then takes the
  // sign, or at 65520 and up (a NaN compares false) the signed infinity, whatever the add gave.
  // Kernels wait on each rounding, so its chain is short: 3 integer steps, add, subtract, select.
  return `(v128.bitselect
      (v128.or (v128.and (local.get ${x}) ${k('0x80000000')}) ${k('0x7f800000')})
      (f32x4.sub
        (f32x4.add (v128.and (local.get ${x}) ${k('0x7fffffff')})
          (local.tee ${a}
            (i32x4.max_u (i32x4.add (v128.and (local.get ${x}) ${k('0x7f800000')}) ${k('0x06800000')}) ${k('0x3f000000')})))
        (local.get ${a}))
      (v128.or (f32x4.ge (v128.and (local.get ${x}) ${k('0x7fffffff')}) ${k('0x477ff000')}) ${k('0x80000000')}))`;
}

/**
 * Half-precision bits (the low 16 bits of each i32 lane of the expression `bits`) widened to
 * f32x4, exactly: inline text, so a kernel's load pays no call (a call spills every live v128).
 * `h` and `m` name v128 scratch locals.
 */
export function widenWat(
  dtype: 'float16' | 'bfloat16',
  bits: string,
  h: string,
  m: string,
  k: Constant = i32x4,
): string {
  if (dtype === 'bfloat16') return `(i32x4.shl ${bits} (i32.const 16))`;
  // the magnitude's bits moved under float32's exponent: normals rebased by 112 in the exponent,
  // infinities and NaNs (from 0x0f800000 moved) given float32's top exponent; subnormals given
  // exponent -14 (2^-14 times 1 + k/1024), minus 2^-14: exactly k * 2^-24, with no subnormal
  // float32 anywhere (x86 takes a slow path for those); then the sign
  return `(v128.or
      (v128.bitselect
        (f32x4.sub
          (i32x4.add
            (local.tee ${m} (i32x4.shl (v128.and (local.tee ${h} ${bits}) ${k('0x7fff')}) (i32.const 13)))
            ${k('0x38800000')})
          ${k('0x38800000')})
        (v128.bitselect
          (v128.or (local.get ${m}) ${k('0x7f800000')})
          (i32x4.add (local.get ${m}) ${k('0x38000000')})
          (i32x4.ge_u (local.get ${m}) ${k('0x0f800000')}))
        (i32x4.lt_u (local.get ${m}) ${k('0x00800000')}))
      (i32x4.shl (v128.and (local.get ${h}) ${k('0x8000')}) (i32.const 16)))`;
}

/**
 * An f32x4 of half-precision values (each already rounded to the dtype: a kernel's results) as
 * their bits in the low 16 bits of each i32 lane: no rounding left to do, only the encoding.
 * Inline text; `x` names the local holding the values, `a` a v128 scratch local.
 */
export function narrowExactWat(dtype: 'float16' | 'bfloat16', x: string, a: string, k: Constant = i32x4): string {
  // bfloat16 values are float32s with a zero low half; so is every NaN a kernel makes (widened
  // operands or the default NaN): the top half is the encoding
  if (dtype === 'bfloat16') return `(i32x4.shr_u (local.get ${x}) (i32.const 16))`;
  // normals: rebias the exponent; below 2^-14 the add of 0.5 puts the subnormal's bits at the
  // bottom; infinity 0x7c00, NaN 0x7e00; then the sign
  return `(v128.or
      (i32x4.shr_u (v128.and (local.get ${x}) ${k('0x80000000')}) (i32.const 16))
      (v128.bitselect
        (v128.bitselect ${k('0x7e00')} ${k('0x7c00')}
          (i32x4.gt_u (local.tee ${a} (v128.and (local.get ${x}) ${k('0x7fffffff')})) ${k('0x7f800000')}))
        (v128.bitselect
          (i32x4.sub (f32x4.add (local.get ${a}) ${k('0x3f000000')}) ${k('0x3f000000')})
          (i32x4.shr_u (i32x4.sub (local.get ${a}) ${k('0x38000000')}) (i32.const 13))
          (i32x4.lt_u (local.get ${a}) ${k('0x38800000')}))
        (i32x4.ge_u (local.get ${a}) ${k('0x7f800000')})))`;
}

/**
 * The kernels' pieces as WebAssembly text functions, each v128 -> v128, for tests to run over
 * every bit pattern: `$f16_widen`, `$bf16_widen`; `$f16_round`, `$bf16_round` (an operation's
 * result rounded); `$f16_narrow_exact`, `$bf16_narrow_exact` (a rounded value's bits); and
 * `$f16_narrow`, `$bf16_narrow`, the two in a row (what a kernel stores for an operation's result).
 */
export const HALF_FUNCTIONS = (['float16', 'bfloat16'] as const)
  .map((dtype) => {
    const name = dtype === 'float16' ? 'f16' : 'bf16';
    return `
  (func $${name}_widen (param $b v128) (result v128) (local $h v128) (local $m v128)
    ${widenWat(dtype, '(local.get $b)', '$h', '$m')})
  (func $${name}_round (param $x v128) (result v128) (local $a v128)
    ${roundToHalfWat(dtype, '$x', '$a')})
  (func $${name}_narrow_exact (param $x v128) (result v128) (local $a v128)
    ${narrowExactWat(dtype, '$x', '$a')})
  (func $${name}_narrow (param $x v128) (result v128) (local $a v128)
    (local.set $x ${roundToHalfWat(dtype, '$x', '$a')})
    ${narrowExactWat(dtype, '$x', '$a')})`;
  })
  .join('\n');

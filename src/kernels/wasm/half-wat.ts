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
 * WebAssembly text functions: `$f16_widen`, `$f16_narrow`, `$bf16_widen`, `$bf16_narrow`,
 * `$f16_round`, `$bf16_round`, each v128 -> v128.
 */
export const HALF_FUNCTIONS = `
  (func $f16_round (param $x v128) (result v128) (local $a v128)
    ${roundToHalfWat('float16', '$x', '$a')})
  (func $bf16_round (param $x v128) (result v128) (local $a v128)
    ${roundToHalfWat('bfloat16', '$x', '$a')})
  (func $f16_widen_inline (param $b v128) (result v128) (local $h v128) (local $m v128)
    ${widenWat('float16', '(local.get $b)', '$h', '$m')})
  (func $f16_narrow_exact (param $x v128) (result v128) (local $a v128)
    ${narrowExactWat('float16', '$x', '$a')})
  (func $bf16_narrow_exact (param $x v128) (result v128) (local $a v128)
    ${narrowExactWat('bfloat16', '$x', '$a')})
  ;; float16 bits -> f32: the magnitude's bits moved under float32's exponent, then rebased by 2^112
  ;; (exact for normals and subnormals); infinities and NaNs take float32's top exponent
  (func $f16_widen (param $h v128) (result v128)
    (local $magnitude v128) (local $f v128)
    (local.set $magnitude (i32x4.shl (v128.and (local.get $h) ${i32x4('0x7fff')}) (i32.const 13)))
    (local.set $f (f32x4.mul (local.get $magnitude) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112)))
    (local.set $f
      (v128.bitselect
        (v128.or (local.get $magnitude) ${i32x4('0x7f800000')})
        (local.get $f)
        (i32x4.eq (v128.and (local.get $h) ${i32x4('0x7c00')}) ${i32x4('0x7c00')})))
    (v128.or (local.get $f) (i32x4.shl (v128.and (local.get $h) ${i32x4('0x8000')}) (i32.const 16))))

  ;; f32 -> float16 bits, ties to even. Normals: rebias the exponent and round at bit 13 (add
  ;; 0xfff plus the kept part's lowest bit; a carry reaches infinity past 65504). Below 2^-14:
  ;; adding 0.5 in float32 rounds at 2^-24, the subnormals' last place. 65536 and up: infinity.
  (func $f16_narrow (param $x v128) (result v128)
    (local $a v128) (local $normal v128) (local $subnormal v128) (local $special v128)
    (local.set $a (v128.and (local.get $x) ${i32x4('0x7fffffff')}))
    (local.set $normal
      (i32x4.shr_u
        (i32x4.add
          (i32x4.add (local.get $a) ${i32x4('0xc8000fff')})
          (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) ${i32x4('1')}))
        (i32.const 13)))
    (local.set $subnormal
      (i32x4.sub (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5)) ${i32x4('0x3f000000')}))
    (local.set $special
      (v128.bitselect ${i32x4('0x7e00')} ${i32x4('0x7c00')} (i32x4.gt_u (local.get $a) ${i32x4('0x7f800000')})))
    (v128.or
      (i32x4.shr_u (v128.and (local.get $x) ${i32x4('0x80000000')}) (i32.const 16))
      (v128.bitselect
        (local.get $special)
        (v128.bitselect
          (local.get $subnormal)
          (local.get $normal)
          (i32x4.lt_u (local.get $a) ${i32x4('0x38800000')}))
        (i32x4.ge_u (local.get $a) ${i32x4('0x47800000')}))))

  ;; bfloat16 bits -> f32: they are its top half
  (func $bf16_widen (param $h v128) (result v128)
    (i32x4.shl (local.get $h) (i32.const 16)))

  ;; f32 -> bfloat16 bits, ties to even: add 0x7fff plus the kept part's lowest bit (a carry
  ;; reaches infinity past the largest finite value); NaN: the quiet NaN with its sign
  (func $bf16_narrow (param $x v128) (result v128)
    (v128.bitselect
      (v128.or (i32x4.shr_u (v128.and (local.get $x) ${i32x4('0x80000000')}) (i32.const 16)) ${i32x4('0x7fc0')})
      (i32x4.shr_u
        (i32x4.add
          (i32x4.add (local.get $x) ${i32x4('0x7fff')})
          (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) ${i32x4('1')}))
        (i32.const 16))
      (f32x4.ne (local.get $x) (local.get $x))))
`;

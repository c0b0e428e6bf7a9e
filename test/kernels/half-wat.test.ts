/**
 * Half precision in WebAssembly SIMD lanes (src/kernels/wasm/half-wat.ts), assembled with wabt
 * and run over memory: every float16 and bfloat16 bit pattern widened exactly, and float32 values
 * (every float16 tie and its neighbours, random bit patterns over the whole range, the edges)
 * narrowed as the half-precision helpers round them, which test/memory/half.test.ts holds to numpy.
 */
import wabtFactory from 'wabt';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bfloat16Bits,
  float16Bits,
  fromBfloat16Bits,
  fromFloat16Bits,
  roundToHalf,
} from '../../dist/src/memory/half.js';
import { HALF_FUNCTIONS } from '../../dist/src/kernels/wasm/half-wat.js';

/** A test module: each export converts `n` values (a multiple of 8) from offset 0 to offset OUT. */
const OUT = 8 << 20;
const loop = (name: string, body: string) => `
  (func (export "${name}") (param $n i32) (local $i i32)
    (loop $each
      ${body}
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $n)))))`;
const widen = (kind: string) =>
  loop(
    `${kind}_widen`,
    `(local.set $v (v128.load (i32.shl (local.get $i) (i32.const 1))))
      (v128.store (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 2)))
        (call $${kind}_widen (i32x4.extend_low_i16x8_u (local.get $v))))
      (v128.store offset=16 (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 2)))
        (call $${kind}_widen (i32x4.extend_high_i16x8_u (local.get $v))))`,
  ).replace('(local $i i32)', '(local $i i32) (local $v v128)');
/** A v128 -> v128 function over f32 lanes in, f32 (or i32 bits) lanes out, one vector at a time. */
const lanewise = (name: string, fn: string) =>
  loop(
    name,
    `(v128.store (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 2)))
        (call $${fn} (v128.load (i32.shl (local.get $i) (i32.const 2)))))
      (v128.store offset=16 (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 2)))
        (call $${fn} (v128.load offset=16 (i32.shl (local.get $i) (i32.const 2)))))`,
  );
const narrow = (kind: string) =>
  loop(
    `${kind}_narrow`,
    `(v128.store (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 1)))
        (i16x8.narrow_i32x4_u
          (call $${kind}_narrow (v128.load (i32.shl (local.get $i) (i32.const 2))))
          (call $${kind}_narrow (v128.load offset=16 (i32.shl (local.get $i) (i32.const 2))))))`,
  );

let run: (name: string, n: number) => void;
let memory: WebAssembly.Memory;

beforeAll(async () => {
  const wabt = await wabtFactory();
  const text = `(module (memory (export "memory") 256) ${HALF_FUNCTIONS}
    ${widen('f16')} ${narrow('f16')} ${widen('bf16')} ${narrow('bf16')}
    ${lanewise('f16_round', 'f16_round')} ${lanewise('bf16_round', 'bf16_round')}
    ${lanewise('f16_widen_lanes', 'f16_widen')} ${lanewise('f16_narrow_exact', 'f16_narrow_exact')}
    ${lanewise('bf16_narrow_exact', 'bf16_narrow_exact')})`;
  const features = { simd: true };
  const module = wabt.parseWat('half.wat', text, features);
  (module as unknown as { validate(f: typeof features): void }).validate(features);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(module.toBinary({}).buffer));
  module.destroy();
  memory = instance.exports.memory as WebAssembly.Memory;
  run = (name, n) => (instance.exports[name] as (n: number) => void)(n);
});

/** Widens every bit pattern 0..0xffff; returns the values. */
function widenAll(kind: 'f16' | 'bf16'): Float32Array {
  new Uint16Array(memory.buffer, 0, 0x10000).set(Uint16Array.from({ length: 0x10000 }, (_, i) => i));
  run(`${kind}_widen`, 0x10000);
  return new Float32Array(memory.buffer, OUT, 0x10000).slice();
}

/** Narrows `values` (padded to a multiple of 8); returns the bits. */
function narrowAll(kind: 'f16' | 'bf16', values: Float32Array): Uint16Array {
  const n = Math.ceil(values.length / 8) * 8;
  new Float32Array(memory.buffer, 0, n).fill(0).set(values);
  run(`${kind}_narrow`, n);
  return new Uint16Array(memory.buffer, OUT, values.length).slice();
}

/** float32 values to narrow: every float16 tie and its float32 neighbours, random bit patterns, the edges. */
function narrowCases(): Float32Array {
  const values: number[] = [];
  const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const valueOf = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0]!;
  for (let bits = 0; bits < 0x7c00; bits++) {
    const tie = Math.fround((fromFloat16Bits(bits) + fromFloat16Bits(bits + 1)) / 2);
    values.push(tie, -tie, valueOf(bitsOf(tie) - 1), valueOf(bitsOf(tie) + 1));
  }
  for (let k = 1; k <= 300_000; k++) values.push(valueOf(Math.imul(k, 2654435761) >>> 0));
  for (const edge of [0, -0, 65504, 65519.99609375, 65520, 65536, Infinity, -Infinity, NaN, 2 ** -24, 2 ** -25])
    values.push(edge);
  values.push(3 * 2 ** -26, 1e-45, 3.4028234663852886e38);
  return Float32Array.from(values);
}

/**
 * narrowCases as an operation's results can be: bfloat16's rounding is only for those, whose NaN
 * has a zero low half (tested below); float16's takes every case.
 */
function operationResults(dtype: 'float16' | 'bfloat16'): Float32Array {
  const all = narrowCases();
  const low = new Uint32Array(all.buffer).map((bits) => bits & 0xffff);
  return dtype === 'float16' ? all : all.filter((x, i) => !Number.isNaN(x) || low[i] === 0);
}

describe('half precision in SIMD lanes', () => {
  it('float16: every bit pattern widens to its exact value', () => {
    const wide = widenAll('f16');
    for (let bits = 0; bits < 0x10000; bits++) {
      const expected = fromFloat16Bits(bits);
      if (Number.isNaN(expected)) expect(wide[bits], bits.toString(16)).toBeNaN();
      else expect(Object.is(wide[bits], expected), bits.toString(16)).toBe(true);
    }
  });

  it('float16: float32 values narrow to nearest even, subnormals, overflow and NaN as IEEE says', () => {
    const values = narrowCases();
    const bits = narrowAll('f16', values);
    const wrong: string[] = [];
    values.forEach((x, i) => {
      const expected = float16Bits(x);
      const ok = Number.isNaN(x) ? (bits[i]! & 0x7fff) === 0x7e00 : bits[i] === expected;
      if (!ok && wrong.length < 5) wrong.push(`${x}: ${bits[i]!.toString(16)} not ${expected.toString(16)}`);
    });
    expect(wrong).toEqual([]);
    expect(values.length).toBeGreaterThan(400_000);
  });

  it('bfloat16: every bit pattern widens to its exact value; float32 values narrow to nearest even', () => {
    const wide = widenAll('bf16');
    for (let bits = 0; bits < 0x10000; bits++) {
      const expected = fromBfloat16Bits(bits);
      if (Number.isNaN(expected)) expect(wide[bits]).toBeNaN();
      else expect(Object.is(wide[bits], expected), bits.toString(16)).toBe(true);
    }
    const values = operationResults('bfloat16');
    const bits = narrowAll('bf16', values);
    const wrong = Array.from(values).filter((x, i) =>
      Number.isNaN(x) ? (bits[i]! & 0x7fff) !== 0x7fc0 : bits[i] !== bfloat16Bits(x),
    );
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  /** Runs a lanewise export over `input` (padded to a multiple of 8); returns the output's 32-bit lanes. */
  function lanes(name: string, input: Float32Array | Uint32Array): ArrayBuffer {
    const n = Math.ceil(input.length / 8) * 8;
    new Uint32Array(memory.buffer, 0, n).fill(0).set(new Uint32Array(input.buffer, input.byteOffset, input.length));
    run(name, n);
    return new Uint32Array(memory.buffer, OUT, input.length).slice().buffer;
  }

  it.each(['float16', 'bfloat16'] as const)(
    '%s: rounding an operation’s f32 result in the lanes (what every kernel operation does) is the helpers’ rounding',
    (dtype) => {
      const values = operationResults(dtype);
      const out = new Float32Array(lanes(dtype === 'float16' ? 'f16_round' : 'bf16_round', values));
      const wrong: string[] = [];
      values.forEach((x, i) => {
        const expected = roundToHalf(x, dtype);
        const ok = Number.isNaN(expected) ? Number.isNaN(out[i]) : Object.is(out[i], expected);
        if (!ok && wrong.length < 5) wrong.push(`${x}: ${out[i]} not ${expected}`);
      });
      expect(wrong).toEqual([]);
    },
  );

  it.each(['float16', 'bfloat16'] as const)(
    '%s: a NaN an operation makes (its low half zero: widened halves’ NaNs, the default NaN) stays a NaN with its sign',
    (dtype) => {
      const nans = Uint32Array.from(
        { length: 2 * 127 },
        (_, i) => ((i & 1) << 31) | 0x7f800000 | (((i >> 1) + 1) << 16),
      );
      const out = new Uint32Array(lanes(dtype === 'float16' ? 'f16_round' : 'bf16_round', nans));
      const wrong = Array.from(nans).filter(
        (bits, i) => (out[i]! & 0x7fffffff) <= 0x7f800000 || out[i]! >>> 31 !== bits >>> 31,
      );
      expect(wrong.map((b) => b.toString(16))).toEqual([]);
    },
  );

  it('the kernels’ inline widening and exact narrowing: every bit pattern there and back', () => {
    const all = Uint32Array.from({ length: 0x10000 }, (_, i) => i);
    const f16 = new Float32Array(lanes('f16_widen_lanes', all));
    const wrongWiden = Array.from(all).filter((bits) => {
      const expected = fromFloat16Bits(bits);
      return Number.isNaN(expected) ? !Number.isNaN(f16[bits]) : !Object.is(f16[bits], expected);
    });
    expect(wrongWiden).toEqual([]);
    for (const [dtype, wide] of [
      ['f16', f16],
      ['bf16', Float32Array.from(all, (b) => fromBfloat16Bits(b))],
    ] as const) {
      const back = new Uint32Array(lanes(`${dtype}_narrow_exact`, wide));
      const quiet = dtype === 'f16' ? 0x7e00 : 0x7fc0;
      const wrong = Array.from(all).filter((bits) =>
        Number.isNaN(wide[bits]) ? (back[bits]! & 0x7fff) !== quiet && back[bits] !== bits : back[bits] !== bits,
      );
      expect(wrong.slice(0, 5), dtype).toEqual([]);
    }
  });
});

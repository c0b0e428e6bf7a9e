/**
 * Half-precision bits: float16 as numpy rounds it (vendored cases: float32 and float64 inputs,
 * ties, subnormals, overflow), bfloat16 against float32's own bits rounded to even, and every
 * bit pattern of both formats read back to itself.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  bfloat16Bits,
  float16Bits,
  fromBfloat16Bits,
  fromFloat16Bits,
  exactHalfBits,
  fromHalfBits,
  roundFloat32ToBfloat16,
  roundFloat32ToFloat16,
  widenTable,
  roundToHalf,
  toHalfBits,
} from '../../dist/src/memory/half.js';
import { randomValues } from '../helpers/state.js';

interface NumpyCases {
  readonly float32: ReadonlyArray<readonly [string, number]>;
  readonly float64: ReadonlyArray<readonly [string, number]>;
}
const numpy = JSON.parse(
  readFileSync(new URL('../fixtures/half/float16-numpy.json', import.meta.url), 'utf8'),
) as NumpyCases;

const float32Of = (hex: string) => new Float32Array(new Uint32Array([parseInt(hex, 16)]).buffer)[0]!;
const float64Of = (hex: string) => new Float64Array(new BigUint64Array([BigInt(`0x${hex}`)]).buffer)[0]!;
const hex16 = (bits: number) => bits.toString(16).padStart(4, '0');

/** bfloat16 from float32 bits, the usual way: add 0x7fff plus the kept part's lowest bit, keep the top half. */
function bfloat16Reference(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  if (Number.isNaN(x)) return 0x7fc0;
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

describe('float16, as numpy rounds it', () => {
  it(`rounds ${numpy.float32.length} float32 values as np.float16 does (ties to even, subnormals, overflow)`, () => {
    const wrong = numpy.float32.filter(([hex, bits]) => float16Bits(float32Of(hex)) !== bits);
    expect(wrong.map(([hex, bits]) => `${hex}: ${hex16(float16Bits(float32Of(hex)))}, numpy ${hex16(bits)}`)).toEqual(
      [],
    );
    expect(numpy.float32.length).toBeGreaterThan(5000);
  });

  it(`rounds ${numpy.float64.length} doubles from their own value, as numpy does (no float32 detour)`, () => {
    const wrong = numpy.float64.filter(([hex, bits]) => float16Bits(float64Of(hex)) !== bits);
    expect(wrong.map(([hex]) => hex)).toEqual([]);
    // the cases can tell: through float32 some of them land on a tie and round the other way
    const detour = numpy.float64.filter(([hex, bits]) => float16Bits(Math.fround(float64Of(hex))) !== bits);
    expect(detour.length).toBeGreaterThan(10);
  });

  it('reads every bit pattern back to itself; NaNs read as NaN and round to the quiet NaN', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromFloat16Bits(bits);
      const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (isNaN) expect(value).toBeNaN();
      else expect(float16Bits(value), hex16(bits)).toBe(bits);
    }
    expect(float16Bits(NaN)).toBe(0x7e00);
  });

  it('has the format’s landmarks', () => {
    expect(fromFloat16Bits(0x7bff)).toBe(65504);
    expect(fromFloat16Bits(0x0001)).toBe(2 ** -24);
    expect(fromFloat16Bits(0x0400)).toBe(2 ** -14);
    expect(fromFloat16Bits(0x7c00)).toBe(Infinity);
    expect(fromFloat16Bits(0x8000)).toBe(-0);
    expect(float16Bits(65519.99)).toBe(0x7bff);
    expect(float16Bits(65520)).toBe(0x7c00);
    expect(float16Bits(-1e-10)).toBe(0x8000);
    expect(float16Bits(1e-7)).toBe(0x0002); // Keras's epsilon is subnormal in float16: 2 x 2^-24
  });
});

describe('bfloat16, float32 rounded to its top half', () => {
  it('rounds float32 values as the top-half rule does: random bit patterns and the edges', () => {
    // every float32 exponent: bit patterns from a multiplicative hash, then values in [-1, 1)
    const patterns = Uint32Array.from({ length: 200_000 }, (_, k) => Math.imul(k, 2654435761) >>> 0);
    const values = [...new Float32Array(patterns.buffer), ...randomValues(20_000, 5)];
    for (const edge of [
      0,
      -0,
      3.3895313892515355e38,
      3.4028234663852886e38,
      Infinity,
      -Infinity,
      2 ** -133,
      2 ** -134,
      1e-45,
    ])
      values.push(edge);
    const wrong = values.filter((x) => !Number.isNaN(x) && bfloat16Bits(x) !== bfloat16Reference(x));
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(bfloat16Bits(NaN)).toBe(0x7fc0);
  });

  it('reads every bit pattern back to itself', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromBfloat16Bits(bits);
      if ((bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0) expect(value).toBeNaN();
      else expect(bfloat16Bits(value), hex16(bits)).toBe(bits);
    }
  });
});

describe('arrays and rounding', () => {
  it('converts arrays both ways, into given arrays, and refuses a length that differs', () => {
    const values = new Float32Array([1, 0.1, -2.5, 65536, 1e-8]);
    const bits = toHalfBits(values, 'float16');
    expect(Array.from(bits, hex16)).toEqual(['3c00', '2e66', 'c100', '7c00', '0000']);
    expect(Array.from(fromHalfBits(bits, 'float16'))).toEqual([1, 0.0999755859375, -2.5, Infinity, 0]);
    const into = new Uint16Array(5);
    expect(toHalfBits(values, 'bfloat16', into)).toBe(into);
    expect(Array.from(into, hex16)).toEqual(['3f80', '3dcd', 'c020', '4780', '322c']);
    expect(() => toHalfBits(values, 'float16', new Uint16Array(4))).toThrow('toHalfBits: 5 values into 4 elements');
    expect(() => fromHalfBits(bits, 'float16', new Float32Array(6))).toThrow('fromHalfBits: 5 elements into 6 values');
  });

  it('rounds a number to the value a half-precision kernel holds', () => {
    expect(roundToHalf(0.1, 'float16')).toBe(0.0999755859375);
    expect(roundToHalf(0.1, 'bfloat16')).toBe(0.10009765625);
    expect(roundToHalf(1 + 2 ** -11, 'float16')).toBe(1); // a tie: to even
    expect(roundToHalf(1 + 3 * 2 ** -11, 'float16')).toBe(1 + 2 ** -9);
  });
});

describe("the kernels' fast paths, against the helpers numpy holds", () => {
  /** float32 values: every half tie and its float32 neighbours, 200k bit patterns, the edges. */
  function float32Cases(dtype: 'float16' | 'bfloat16'): Float32Array {
    const bits = new Uint32Array(1);
    const value = new Float32Array(bits.buffer);
    const neighbours = (x: number) => {
      value[0] = x;
      const b = bits[0]!;
      return [b - 1, b, b + 1].map((u) => ((bits[0] = u), value[0]!));
    };
    const from = dtype === 'float16' ? fromFloat16Bits : fromBfloat16Bits;
    const last = dtype === 'float16' ? 0x7c00 : 0x7f80;
    const out: number[] = [];
    for (let h = 0; h < last; h++) {
      const tie = Math.fround((from(h) + from(h + 1)) / 2);
      out.push(...neighbours(tie), ...neighbours(-tie));
    }
    for (let k = 1; k <= 200_000; k++) out.push(((bits[0] = Math.imul(k, 2654435761) >>> 0), value[0]!));
    out.push(0, -0, 65504, 65519.99609375, 65520, Infinity, -Infinity, NaN, 2 ** -24, 2 ** -25, 3.4028234663852886e38);
    return Float32Array.from(out);
  }

  it.each(['float16', 'bfloat16'] as const)(
    '%s: rounding through float32 is roundToHalf for every float32',
    (dtype) => {
      const fast = dtype === 'float16' ? roundFloat32ToFloat16 : roundFloat32ToBfloat16;
      const wrong = Array.from(float32Cases(dtype)).filter((x) => {
        const expected = roundToHalf(x, dtype);
        return Number.isNaN(expected) ? !Number.isNaN(fast(x)) : !Object.is(fast(x), expected);
      });
      expect(wrong.slice(0, 5)).toEqual([]);
    },
  );

  it.each(['float16', 'bfloat16'] as const)(
    '%s: the widening table and the exact encoding, every bit pattern',
    (dtype) => {
      const [bitsOf, valueOf] = dtype === 'float16' ? [float16Bits, fromFloat16Bits] : [bfloat16Bits, fromBfloat16Bits];
      const table = widenTable(dtype);
      const encode = exactHalfBits(dtype);
      const wrong: number[] = [];
      for (let h = 0; h < 0x10000; h++) {
        const x = valueOf(h);
        const widened = Number.isNaN(x) ? Number.isNaN(table[h]) : Object.is(table[h], x);
        // a NaN's payload and sign do not survive a JS number: it encodes as the quiet NaN
        const encoded = Number.isNaN(x) ? (encode(table[h]!) & 0x7fff) === bitsOf(NaN) : encode(x) === h;
        if (!widened || !encoded) wrong.push(h);
      }
      expect(wrong.slice(0, 5)).toEqual([]);
    },
  );
});

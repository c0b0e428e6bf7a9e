/**
 * Half precision as bits: IEEE binary16 (`float16`: 5 exponent bits, 10 fraction bits) and
 * bfloat16 (float32's 8 exponent bits, 7 fraction bits), stored as Uint16 bit patterns (neither
 * is a JS type). A number is rounded to the nearest representable value, ties to even, straight
 * from its exact value (no detour through float32, so no double rounding); past the largest
 * finite value it rounds to infinity as IEEE says, below the smallest subnormal to (signed)
 * zero, and NaN becomes the format's quiet NaN.
 */

/** A half-precision format: its fraction bits and exponent bias. */
interface HalfFormat {
  /** Stored fraction bits. */
  readonly fraction: number;
  /** Exponent bits. */
  readonly exponent: number;
}

const FLOAT16: HalfFormat = { fraction: 10, exponent: 5 };
const BFLOAT16: HalfFormat = { fraction: 7, exponent: 8 };

/** The half-precision dtypes: IEEE binary16 (`float16`) and `bfloat16`, stored as Uint16 bits. */
export type HalfDType = 'float16' | 'bfloat16';

const FORMATS: Readonly<Record<HalfDType, HalfFormat>> = { float16: FLOAT16, bfloat16: BFLOAT16 };

/** 2^k, exactly, for any k a double can scale by. */
const pow2 = (k: number): number => 2 ** k;

/** `q` rounded to an integer, ties to even (q is a double, so `q - floor(q)` is exact). */
function roundHalfEven(q: number): number {
  const floor = Math.floor(q);
  const rest = q - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The exponent e with 2^e <= a < 2^(e+1), for a finite a > 0. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  // log2 may land one off next to a power of two
  if (pow2(e) > a) e--;
  else if (pow2(e + 1) <= a) e++;
  return e;
}

/** The bits of `x` rounded to `format`. */
function toBits(x: number, format: HalfFormat): number {
  const { fraction, exponent } = format;
  const infinity = ((1 << exponent) - 1) << fraction;
  if (Number.isNaN(x)) return infinity | (1 << (fraction - 1)); // the quiet NaN
  const sign = x < 0 || Object.is(x, -0) ? 1 << (fraction + exponent) : 0;
  const a = Math.abs(x);
  const bias = (1 << (exponent - 1)) - 1;
  const minExponent = 1 - bias;
  // halfway between the largest finite value and the next power of two rounds (to even) up: infinity
  if (a >= (2 - pow2(-fraction - 1)) * pow2(bias)) return sign | infinity;
  if (a < pow2(minExponent)) {
    // subnormal: multiples of 2^(minExponent - fraction); a carry into the exponent field is the right encoding
    return sign | roundHalfEven(a * pow2(fraction - minExponent));
  }
  const e = exponentOf(a);
  // the significand scaled to [2^fraction, 2^(fraction+1)); a carry to 2^(fraction+1) lands in the next binade
  const significand = roundHalfEven(a * pow2(fraction - e));
  return sign | (((e + bias) << fraction) + significand - (1 << fraction));
}

/** The value of `bits` in `format` (every half value is exact in a double, and in a float32). */
function fromBits(bits: number, format: HalfFormat): number {
  const { fraction, exponent } = format;
  const bias = (1 << (exponent - 1)) - 1;
  const sign = bits & (1 << (fraction + exponent)) ? -1 : 1;
  const field = (bits >>> fraction) & ((1 << exponent) - 1);
  const stored = bits & ((1 << fraction) - 1);
  if (field === (1 << exponent) - 1) return stored === 0 ? sign * Infinity : NaN;
  if (field === 0) return sign * stored * pow2(1 - bias - fraction);
  return sign * (pow2(fraction) + stored) * pow2(field - bias - fraction);
}

/** The float16 bits of `x`, rounded to nearest, ties to even. */
export function float16Bits(x: number): number {
  return toBits(x, FLOAT16);
}

/** The value of float16 bits. */
export function fromFloat16Bits(bits: number): number {
  return fromBits(bits, FLOAT16);
}

/** The bfloat16 bits of `x`, rounded to nearest, ties to even. */
export function bfloat16Bits(x: number): number {
  return toBits(x, BFLOAT16);
}

/** The value of bfloat16 bits. */
export function fromBfloat16Bits(bits: number): number {
  return fromBits(bits, BFLOAT16);
}

/** `x` rounded to the nearest value of `dtype` (as a number: what a kernel computing in that dtype holds). */
export function roundToHalf(x: number, dtype: HalfDType): number {
  const format = FORMATS[dtype];
  return fromBits(toBits(x, format), format);
}

/** Writes `convert(source[i])` into `target`; a target of another length is refused with `mismatch`. */
function convertInto<T extends Uint16Array | Float32Array>(
  source: ArrayLike<number>,
  target: T,
  convert: (x: number) => number,
  mismatch: string,
): T {
  if (target.length !== source.length) throw new RangeError(mismatch);
  for (let i = 0; i < source.length; i++) target[i] = convert(source[i]!);
  return target;
}

/** Numbers (a Float32Array, an array) as `dtype`'s bits, each rounded to nearest, ties to even. */
export function toHalfBits(values: ArrayLike<number>, dtype: HalfDType, into?: Uint16Array): Uint16Array {
  const format = FORMATS[dtype];
  const bits = into ?? new Uint16Array(values.length);
  const mismatch = `toHalfBits: ${values.length} values into ${bits.length} elements`;
  return convertInto(values, bits, (x) => toBits(x, format), mismatch);
}

/** `dtype`'s bits as float32 values (exact: every half value is a float32). */
export function fromHalfBits(bits: ArrayLike<number>, dtype: HalfDType, into?: Float32Array): Float32Array {
  const format = FORMATS[dtype];
  const values = into ?? new Float32Array(bits.length);
  const mismatch = `fromHalfBits: ${bits.length} elements into ${values.length} values`;
  return convertInto(bits, values, (b) => fromBits(b, format), mismatch);
}

// ---- the kernels' fast paths ---------------------------------------------------------------

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * `x` rounded to float16 through float32: correct for the exact result of +, -, *, / or sqrt on
 * float16 values (float32's 24 bits are at least 2 * 11 + 2, so the double rounding is exact),
 * and for any float32. Not for an arbitrary double: use `roundToHalf`.
 */
export function roundFloat32ToFloat16(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0]!;
  const a = bits & 0x7fffffff;
  if (a >= 0x477ff000) return a > 0x7f800000 ? NaN : bits >>> 31 ? -Infinity : Infinity; // 65520 and up
  if (a < 0x38800000) {
    // below 2^-14: multiples of 2^-24, rounded by a double add at 2^28 (ulp 2^-24)
    const r = Math.abs(scratch[0]) + 2 ** 28 - 2 ** 28;
    return bits >>> 31 ? -r : r;
  }
  scratchBits[0] = (bits + 0xfff + ((bits >>> 13) & 1)) & 0xffffe000;
  return scratch[0];
}

/** `x` rounded to bfloat16 through float32: as `roundFloat32ToFloat16`, for bfloat16 (8 bits). */
export function roundFloat32ToBfloat16(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return NaN;
  scratchBits[0] = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  return scratch[0];
}

/** Every bit pattern's value, for widening by lookup. */
const widenTables = new Map<HalfDType, Float32Array>();
export function widenTable(dtype: HalfDType): Float32Array {
  let table = widenTables.get(dtype);
  if (table === undefined) {
    const format = FORMATS[dtype];
    table = Float32Array.from({ length: 0x10000 }, (_, bits) => fromBits(bits, format));
    widenTables.set(dtype, table);
  }
  return table;
}

/** The bits of `x`, a value of `dtype` already (a kernel's rounded result): no rounding to do, only the encoding. */
export function exactHalfBits(dtype: HalfDType): (x: number) => number {
  return dtype === 'bfloat16' ? bfloat16OfExact : float16OfExact;
}

function bfloat16OfExact(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0]!;
  return (bits & 0x7fffffff) > 0x7f800000 ? ((bits >>> 16) & 0x8000) | 0x7fc0 : bits >>> 16;
}

function float16OfExact(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const a = bits & 0x7fffffff;
  if (a >= 0x7f800000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (a >= 0x47800000) return sign | 0x7c00; // not a float16 value: infinity, as rounding would make it
  if (a < 0x38800000) return sign | (Math.abs(scratch[0]) * 2 ** 24);
  return sign | ((a - 0x38000000) >>> 13);
}

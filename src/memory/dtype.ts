/** Element types a variable can hold, and what each means for storage and arithmetic. */
import {
  bfloat16Bits,
  float16Bits,
  roundFloat32ToBfloat16,
  roundFloat32ToFloat16,
  roundToHalf,
  type HalfDType,
} from './half.js';

export type { HalfDType } from './half.js';

/**
 * A variable's element type. `float16` (IEEE binary16) and `bfloat16` are stored as their bit
 * patterns in a Uint16Array (JavaScript has no half type); the kernels compute each operation
 * exactly and round it to the dtype, as Keras's numpy backend does.
 */
export type DType = 'float32' | 'float64' | HalfDType;
/** Every dtype, in the order the arena keeps their step words. */
export const DTYPES: readonly DType[] = Object.freeze(['float32', 'float64', 'float16', 'bfloat16']);
/** The storage of a `DType`: a Uint16Array of bit patterns for float16 and bfloat16. */
export type FloatArray = Float32Array | Float64Array | Uint16Array;

/** Elements in an array of this shape (1 for a scalar's empty shape). */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function isHalf(dtype: DType): dtype is HalfDType {
  return dtype === 'float16' || dtype === 'bfloat16';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float32' ? 4 : dtype === 'float64' ? 8 : 2;
}

export function arrayConstructor(
  dtype: DType,
): Float32ArrayConstructor | Float64ArrayConstructor | Uint16ArrayConstructor {
  return dtype === 'float32' ? Float32Array : dtype === 'float64' ? Float64Array : Uint16Array;
}

const castFloat16 = (x: number): number => roundToHalf(x, 'float16');
const castBfloat16 = (x: number): number => roundToHalf(x, 'bfloat16');

/**
 * Rounding applied after every arithmetic operation so that JS doubles reproduce the dtype's
 * IEEE arithmetic: float32 ops are exact when each result is rounded with fround (double has more
 * than 2*24+2 bits), half ops likewise (through float32, which has more than 2*11+2), float64 ops
 * need nothing. For an operation's result, not for any double (see `hyperparameterCast`).
 */
export function roundingFor(dtype: DType): (x: number) => number {
  if (dtype === 'float32') return Math.fround;
  if (dtype === 'float64') return identity;
  return dtype === 'float16' ? roundFloat32ToFloat16 : roundFloat32ToBfloat16;
}

/**
 * How a hyperparameter (a Python float in Keras) reaches this dtype's arithmetic: float32 and
 * float64 variables get Keras's float32 hyperparameters; a half variable's operations cast the
 * double straight to its dtype (`convert_to_tensor(x, dtype)`), with no detour through float32.
 */
export function hyperparameterCast(dtype: DType): (x: number) => number {
  return dtype === 'float16' ? castFloat16 : dtype === 'bfloat16' ? castBfloat16 : Math.fround;
}

/** A value's storage element: the number for float32/float64, the rounded bits for a half dtype. */
export function storedElement(dtype: DType): (x: number) => number {
  return dtype === 'float16' ? float16Bits : dtype === 'bfloat16' ? bfloat16Bits : identity;
}

function identity(x: number): number {
  return x;
}

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'float16' || x === 'bfloat16';
}

/**
 * The dtype Keras's ops compute a variable's arithmetic in on its numpy backend: the variable's
 * own, but float64 is computed in float32 (Keras's `result_type` maps 64-bit dtypes to 32-bit on
 * every backend but TensorFlow, as JAX does without x64) and stored back as float64. numpy's own
 * operators (`g / scale`, `g + accumulator`, `v * scale`) still compute float64 in float64.
 */
export function computeDType(dtype: DType): DType {
  return dtype === 'float64' ? 'float32' : dtype;
}

/** The dtype Keras's arithmetic promotes a mix of dtypes to (jax's promotion: float16 with bfloat16 is float32; float64 computes as float32). */
export function promotedDType(dtypes: readonly DType[]): DType {
  const has = new Set(dtypes.map(computeDType));
  if (has.has('float32') || has.size !== 1) return 'float32';
  return computeDType(dtypes[0] ?? 'float32');
}

/** A typed array of `dtype` over (shared) memory. */
export function viewOf(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): FloatArray {
  const View = arrayConstructor(dtype) as Float32ArrayConstructor;
  return new View(buffer, byteOffset, length);
}

/** Element types a variable can hold, and what each means for the arithmetic. */
export type DType = 'float32' | 'float64';
/** The typed array of a `DType`. */
export type FloatArray = Float32Array | Float64Array;

/** Elements in an array of this shape (1 for a scalar's empty shape). */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float32' ? 4 : 8;
}

export function arrayConstructor(dtype: DType): Float32ArrayConstructor | Float64ArrayConstructor {
  return dtype === 'float32' ? Float32Array : Float64Array;
}

/**
 * Rounding applied after every arithmetic operation so that JS doubles reproduce the
 * dtype's IEEE arithmetic: float32 ops are exact when each result is rounded with fround
 * (double has more than 2*24+2 bits), float64 ops need nothing.
 */
export function roundingFor(dtype: DType): (x: number) => number {
  return dtype === 'float32' ? Math.fround : identity;
}

function identity(x: number): number {
  return x;
}

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64';
}

/** A typed array of `dtype` over (shared) memory. */
export function viewOf(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): FloatArray {
  return dtype === 'float32'
    ? new Float32Array(buffer, byteOffset, length)
    : new Float64Array(buffer, byteOffset, length);
}

/**
 * What the training kernels use of tfjs-wasm: its backend object (tensors live on the wasm heap,
 * found by data id), its own kernels to compose from, and the heap as typed arrays for the
 * kernels written here in JS. Stated structurally, so any tfjs 4.x copy fits.
 */
import type * as TF from '@tensorflow/tfjs-core';

export type Tf = typeof TF;
export type TensorInfo = TF.TensorInfo;
/** A tensor's bytes on the heap, as tfjs-wasm views them: float32, int32, or bool (one byte each). */
export type HeapArray = Float32Array | Int32Array | Uint8Array;

/** The parts of tfjs-wasm's `BackendWasm` the kernels touch. */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: TF.DataType): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  /** A view of the tensor's bytes on the heap: valid until the next allocation (the heap may grow). */
  typedArrayFromHeap(info: TensorInfo): HeapArray;
}

/**
 * The rows x columns each tensor's data was given to XNNPACK as, as a product's right operand:
 * one record for the process (installs come and go; XNNPACK's packing lives as long as the data).
 */
const rightOperands = new WeakMap<object, string>();

/** One call into tfjs-wasm's kernels, as kernels call each other: on the backend, no tape. */
export class WasmCalls {
  readonly tf: Tf;
  readonly backend: WasmBackend;
  /** tfjs's own kernels that the installed ones replaced, by name (the rest are looked up live). */
  readonly #originals: ReadonlyMap<string, TF.KernelFunc>;

  constructor(tf: Tf, backend: WasmBackend, originals: ReadonlyMap<string, TF.KernelFunc>) {
    this.tf = tf;
    this.backend = backend;
    this.#originals = originals;
  }

  /** Runs tfjs-wasm's kernel `name` (its own, even where ours replaced it). */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
    const kernel = this.#originals.get(name) ?? this.tf.getKernel(name, 'wasm')?.kernelFunc;
    if (kernel === undefined) throw new Error(`tfjs-wasm has no '${name}' kernel`);
    return single(name, kernel({ inputs, backend: this.backend, attrs: attrs as TF.NamedAttrMap }));
  }

  /**
   * Whether XNNPACK may take `b` as a product's right operand: tfjs-wasm caches XNNPACK's packed
   * operand by the tensor's data alone, so the same data under another shape (a reshape shares
   * it) would reuse the first shape's packing, give wrong values and write past the output.
   * Records `b`'s shape the first time its data is seen.
   */
  claimRightOperand(b: TensorInfo): boolean {
    const shape = `${b.shape.at(-2)}x${b.shape.at(-1)}`;
    const seen = rightOperands.get(b.dataId);
    if (seen === undefined) rightOperands.set(b.dataId, shape);
    return seen === undefined || seen === shape;
  }

  /** `b` itself if XNNPACK may take it as a right operand (see `claimRightOperand`), else a copy (dispose it). */
  rightOperand(b: TensorInfo): TensorInfo {
    if (this.claimRightOperand(b)) return b;
    const copy = this.output([...b.shape], b.dtype);
    this.heap(copy).set(this.heap(b));
    this.claimRightOperand(copy);
    return copy;
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** A new tensor of `shape` on the heap (uninitialised). */
  output(shape: number[], dtype: TF.DataType = 'float32'): TensorInfo {
    return this.backend.makeOutput(shape, dtype);
  }

  heap(info: TensorInfo): HeapArray {
    return this.backend.typedArrayFromHeap(info);
  }

  /** A heap view of a float32 tensor. */
  floats(info: TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(info) as Float32Array;
  }

  dispose(...infos: TensorInfo[]): void {
    for (const info of infos) this.backend.disposeData(info.dataId);
  }
}

/** The one output of a kernel that has one. */
export function single(name: string, out: TensorInfo | TensorInfo[]): TensorInfo {
  if (Array.isArray(out)) throw new Error(`tfjs-wasm's '${name}' kernel returned ${out.length} outputs, not one`);
  return out;
}

/** The same data under another shape (no copy, no reference taken: never dispose it). */
export function viewAs(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Copies a float32 tensor's values into `target`: on wasm straight from the heap (one copy, no
 * allocation), elsewhere through `dataSync`.
 */
export function readInto(tf: Tf, tensor: TF.Tensor, target: Float32Array | Float64Array): void {
  const backend = tf.backend() as Partial<WasmBackend>;
  if (tf.getBackend() === 'wasm' && typeof backend.typedArrayFromHeap === 'function') {
    target.set(backend.typedArrayFromHeap(tensor));
  } else {
    target.set(tensor.dataSync());
  }
}

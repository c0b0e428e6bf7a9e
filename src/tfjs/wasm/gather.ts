/**
 * `GatherV2` (`tf.gather`, an Embedding's forward pass) over the heap. tfjs-wasm's own computes
 * every element's source through strides in a generic loop, about 60 ns an element here: the
 * sentiment CNN's Embedding (6,400 rows of 128) took 49 ms a step. Here each gathered slice is one
 * `copyWithin` on the heap. Indices are checked first, as tfjs-wasm checks them, with its message.
 * With batch dimensions tfjs-wasm's own reads the wrong rows (`tf.gather(x, i, 1, 1)` of a
 * [2, 5, 3] tensor gives batch 1 rows of x[1, i + 2]); this one gives the cpu backend's.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { TensorInfo, WasmCalls } from './backend.js';

/** Below this many elements a slice is copied in a loop: a `copyWithin` call costs about as much as 16 copies. */
const SHORT = 16;

export interface GatherAttrs {
  axis: number;
  batchDims: number;
}

/**
 * x gathered along `axis` at `indices`, the first `batchDims` axes of both matched: float32 and
 * int32 here, else tfjs-wasm's own.
 */
export function gather(
  calls: WasmCalls,
  original: TF.KernelFunc,
  { x, indices }: { x: TensorInfo; indices: TensorInfo },
  attrs: GatherAttrs,
): TensorInfo {
  if (indices.dtype !== 'int32' || (x.dtype !== 'float32' && x.dtype !== 'int32')) {
    return original({ inputs: { x, indices }, backend: calls.backend, attrs: attrs as never }) as TensorInfo;
  }
  const { tf } = calls;
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0]!;
  const ids = calls.heap(indices) as Int32Array;
  const axisSize = x.shape[axis]!;
  for (const index of ids) {
    if (!(index >= 0 && index <= axisSize - 1)) {
      throw new Error(`GatherV2: the index value ${index} is not in [0, ${axisSize - 1}]`);
    }
  }
  // x as [batch, outer, axisSize, slice], the indices as [batch, count]: out[b, o, i] = x[b, o, ids[b, i]]
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, axis, attrs.batchDims ?? 0);
  const { batchSize, outerSize, sliceSize: slice } = info;
  const out = calls.output(info.outputShape, x.dtype);
  if (out.shape.reduce((n, d) => n * d, 1) === 0) return out;
  const count = ids.length / batchSize;
  // views after the allocation (it may grow the heap), as one heap array for copyWithin
  const [from, to, at] = [calls.heap(x), calls.heap(out), calls.heap(indices) as Int32Array];
  const heap = new Int32Array(from.buffer);
  const [fromBase, toBase] = [from.byteOffset >> 2, to.byteOffset >> 2];
  let target = toBase;
  for (let b = 0; b < batchSize; b++) {
    for (let o = 0; o < outerSize; o++) {
      const source = fromBase + (b * outerSize + o) * axisSize * slice;
      for (let i = b * count; i < (b + 1) * count; i++, target += slice) {
        const start = source + at[i]! * slice;
        if (slice >= SHORT) heap.copyWithin(target, start, start + slice);
        else for (let k = 0; k < slice; k++) heap[target + k] = heap[start + k]!;
      }
    }
  }
  return out;
}

/**
 * `Unpack` (`tf.unstack`): a recurrent layer unstacks its input into one tensor per time step.
 * tfjs-wasm's own runs one `Slice` per output, about half a millisecond each here (a GRU over
 * 240 steps spent 133 ms of a 706 ms step in it); here each output's rows are copied straight from
 * the heap in one pass.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { single, type TensorInfo, type WasmCalls } from './backend.js';

/** `value` split along `axis` into its slices, that axis dropped: float32 and int32 here, other dtypes by tfjs-wasm's own. */
export function unpack(
  calls: WasmCalls,
  original: TF.KernelFunc,
  { value }: { value: TensorInfo },
  attrs: { axis: number },
): TensorInfo[] {
  const rank = value.shape.length;
  const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
  if ((value.dtype !== 'float32' && value.dtype !== 'int32') || axis < 0 || axis >= rank) {
    const own = original({ inputs: { value }, backend: calls.backend, attrs });
    return Array.isArray(own) ? own : [single('Unpack', own)];
  }
  const count = value.shape[axis]!;
  const outer = value.shape.slice(0, axis).reduce((n, d) => n * d, 1);
  const inner = value.shape.slice(axis + 1).reduce((n, d) => n * d, 1);
  const shape = value.shape.filter((_, d) => d !== axis);
  const outputs = Array.from({ length: count }, () => calls.output(shape, value.dtype));
  // views after every allocation: making an output may grow the heap
  const from = calls.heap(value);
  for (let i = 0; i < count; i++) {
    const to = calls.heap(outputs[i]!);
    for (let o = 0; o < outer; o++) {
      const source = (o * count + i) * inner;
      const target = o * inner;
      for (let k = 0; k < inner; k++) to[target + k] = from[source + k]!;
    }
  }
  return outputs;
}

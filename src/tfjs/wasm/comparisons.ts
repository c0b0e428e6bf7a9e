/**
 * The comparisons and logical ops (`Equal`, `NotEqual`, `Greater`, `GreaterEqual`, `Less`,
 * `LessEqual`, `LogicalAnd`, `LogicalOr`) with tfjs's broadcasting. tfjs-wasm's own run a generic
 * loop of about 15 ns an element, and 135 ns broadcast: the gradient of a max-pool over time
 * (`Equal` of the input against its maximum) took 189 ms of the sentiment CNN's 588 ms step, and a
 * GRU's clipped activations spend 480 calls a step in them. Here one pass over the output, the
 * innermost axis in a plain loop; NaN compares false, as in tfjs.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { TensorInfo, WasmCalls } from './backend.js';

type Values = ArrayLike<number>;

/** The kernels, by tfjs's name: each a test of two values `x` and `y`, as JavaScript. */
export const COMPARISONS: Readonly<Record<string, string>> = {
  Equal: 'x === y',
  NotEqual: 'x !== y',
  Greater: 'x > y',
  GreaterEqual: 'x >= y',
  Less: 'x < y',
  LessEqual: 'x <= y',
  LogicalAnd: 'x !== 0 && y !== 0',
  LogicalOr: 'x !== 0 || y !== 0',
};

type Loop = (
  out: Uint8Array,
  a: Values,
  b: Values,
  outShape: readonly number[],
  as: readonly number[],
  bs: readonly number[],
) => void;

/**
 * out[i] = test(a at i, b at i), broadcast: the innermost axis a loop, the others an odometer
 * carrying the operands' offsets. Compiled once per test and dtype, so that V8 sees one kind of
 * array and one test at each site (a shared loop over a passed-in test ran near 10 ns an element).
 */
function compileLoop(test: string): Loop {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the tests are the constants above, never input
  return new Function(
    'out',
    'a',
    'b',
    'outShape',
    'as',
    'bs',
    `const rank = outShape.length;
    if (rank === 0) { const x = a[0], y = b[0]; out[0] = (${test}) ? 1 : 0; return; }
    const inner = outShape[rank - 1], sa = as[rank - 1], sb = bs[rank - 1];
    const index = new Array(rank - 1).fill(0);
    let ia = 0, ib = 0;
    for (let o = 0; o < out.length; o += inner) {
      for (let k = 0, i = ia, j = ib; k < inner; k++, i += sa, j += sb) { const x = a[i], y = b[j]; out[o + k] = (${test}) ? 1 : 0; }
      for (let d = rank - 2; d >= 0; d--) {
        ia += as[d]; ib += bs[d];
        if (++index[d] < outShape[d]) break;
        ia -= as[d] * outShape[d]; ib -= bs[d] * outShape[d];
        index[d] = 0;
      }
    }`,
  ) as Loop;
}

const loops = new Map<string, Loop>();

/** Element strides of `shape` as broadcast to `outShape` (0 along a broadcast axis), right-aligned. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let d = 1; d <= shape.length; d++) {
    const dim = shape[shape.length - d]!;
    if (dim !== 1) strides[outShape.length - d] = stride;
    stride *= dim;
  }
  return strides;
}

/**
 * The same walk over fewer axes: an axis merges into the next where both operands step over the
 * pair as over one axis (both contiguous, or both broadcast), so a scalar or a same-shape operand
 * leaves one loop over the whole output.
 */
function collapse(
  outShape: readonly number[],
  as: readonly number[],
  bs: readonly number[],
): { shape: number[]; as: number[]; bs: number[] } {
  const shape = [outShape[0]!];
  const [ma, mb] = [[as[0]!], [bs[0]!]];
  for (let d = 1; d < outShape.length; d++) {
    const dim = outShape[d]!;
    const last = shape.length - 1;
    if (ma[last] === as[d]! * dim && mb[last] === bs[d]! * dim) {
      shape[last]! *= dim;
      ma[last] = as[d]!;
      mb[last] = bs[d]!;
    } else {
      shape.push(dim);
      ma.push(as[d]!);
      mb.push(bs[d]!);
    }
  }
  return { shape, as: ma, bs: mb };
}

/** The comparison `name` of `a` and `b` (the same dtype, as tfjs casts them): a bool tensor of their broadcast shape. */
export function compare(calls: WasmCalls, name: string, { a, b }: { a: TensorInfo; b: TensorInfo }): TF.TensorInfo {
  const outShape = calls.tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const out = calls.output(outShape, 'bool');
  if (out.shape.reduce((n, d) => n * d, 1) === 0) return out;
  const key = `${name} ${a.dtype}`;
  let loop = loops.get(key);
  if (loop === undefined) {
    loop = compileLoop(COMPARISONS[name]!);
    loops.set(key, loop);
  }
  if (outShape.length === 0) outShape.push(1); // a scalar: one element on one axis
  const { shape, as, bs } = collapse(
    outShape,
    broadcastStrides(a.shape, outShape),
    broadcastStrides(b.shape, outShape),
  );
  loop(calls.heap(out) as Uint8Array, calls.heap(a), calls.heap(b), shape, as, bs);
  return out;
}

/**
 * `BatchMatMul` and `_FusedMatMul` for tfjs-wasm that never take its slow or wrong paths.
 *
 * tfjs-wasm hands a product to XNNPACK only when neither operand is transposed and the batch is
 * one matrix; everything else runs a naive loop (13x to 60x slower), which with a bias or a clamping
 * activation is also wrong (it adds the bias once per 48-wide block of the inner dimension, reads
 * it at the flat output index, and clamps partial sums). Here every product reaches XNNPACK as a
 * plain 2-D product: transposes become explicit (whichever costs fewer elements moved), a batch
 * is one product when its matrices can be stacked and one product per matrix otherwise, and a
 * fused product off XNNPACK's path is composed of correct kernels: product, bias, activation.
 * A right operand whose data XNNPACK already packed under another shape is copied first.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { single, sizeOf, viewAs, type TensorInfo, type WasmCalls } from './backend.js';

/** The product of 2-D `a` and `b`, each transposed or not: a new [m, n] tensor. */
export function product2d(calls: WasmCalls, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean): TensorInfo {
  const plain = (x: TensorInfo, y: TensorInfo) => {
    const right = calls.rightOperand(y);
    try {
      return calls.run('BatchMatMul', { a: x, b: right }, { transposeA: false, transposeB: false });
    } finally {
      if (right !== y) calls.dispose(right);
    }
  };
  if (!tA && !tB) return plain(a, b);
  const [sa, sb] = [sizeOf(a.shape), sizeOf(b.shape)];
  const m = a.shape[tA ? 1 : 0]!;
  const n = b.shape[tB ? 0 : 1]!;
  // elements moved: the explicit transposes, plus the right operand XNNPACK packs
  const direct = (tA ? sa : 0) + (tB ? sb : 0) + sb;
  const swapped = (tB ? 0 : sb) + (tA ? 0 : sa) + sa + m * n;
  const temps: TensorInfo[] = [];
  const transposed = (x: TensorInfo) => {
    const t = calls.transpose(x, [1, 0]);
    temps.push(t);
    return t;
  };
  let out: TensorInfo;
  if (direct <= swapped) {
    out = plain(tA ? transposed(a) : a, tB ? transposed(b) : b);
  } else {
    // op(a) op(b) = (op(b)^T op(a)^T)^T
    const outT = plain(tB ? b : transposed(b), tA ? a : transposed(a));
    temps.push(outT);
    out = calls.transpose(outT, [1, 0]);
  }
  calls.dispose(...temps);
  return out;
}

/** Shapes of a product: batch dims broadcast as tfjs allows, and the matrices' m, k, n. */
function productShapes(calls: WasmCalls, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean) {
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, kA, kB, n] = [tA ? ac : ar, tA ? ar : ac, tB ? bc : br, tB ? br : bc];
  if (kA !== kB) {
    throw new Error(
      `Error in matMul: inner shapes (${kA}) and (${kB}) of Tensors with shapes ${a.shape.join()} and ` +
        `${b.shape.join()} and transposeA=${tA} and transposeB=${tB} must match.`,
    );
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const outBatch = calls.tf.broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
  return { aMatrix: [ar, ac], bMatrix: [br, bc], aBatch, bBatch, outBatch, m, k: kA, n };
}

/** The flat index, in a batch of shape `shape`, that broadcasting reads for flat index `i` of `outShape`. */
function broadcastIndex(i: number, outShape: readonly number[], shape: readonly number[]): number {
  let index = 0;
  let stride = 1;
  let rest = i;
  for (let d = 1; d <= outShape.length; d++) {
    const outDim = outShape[outShape.length - d]!;
    const coordinate = rest % outDim;
    rest = Math.floor(rest / outDim);
    if (d > shape.length) continue;
    const dim = shape[shape.length - d]!;
    if (dim !== 1) index += coordinate * stride;
    stride *= dim;
  }
  return index;
}

/** A copy of the elements of `x` from `offset`, as a new tensor of `shape`. */
function copyOf(calls: WasmCalls, x: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const copy = calls.output(shape);
  calls.floats(copy).set(calls.floats(x).subarray(offset, offset + sizeOf(shape)));
  return copy;
}

/** `matMul(a, b, tA, tB)` for float32 tensors of rank >= 2: a new tensor. */
export function batchMatMul(calls: WasmCalls, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean): TensorInfo {
  const s = productShapes(calls, a, b, tA, tB);
  const outShape = [...s.outBatch, s.m, s.n];
  const [na, nb, nOut] = [sizeOf(s.aBatch), sizeOf(s.bBatch), sizeOf(s.outBatch)];
  if (s.m * s.n * nOut === 0) return calls.output(outShape);
  if (s.k === 0) {
    const zeros = calls.output(outShape);
    calls.floats(zeros).fill(0);
    return zeros;
  }
  if (nOut === 1) return viewAs(product2d(calls, viewAs(a, s.aMatrix), viewAs(b, s.bMatrix), tA, tB), outShape);
  if (nb === 1 && !tA) {
    // one matrix b: the batch of a stacks into one taller product
    const stacked = viewAs(a, [na * s.aMatrix[0]!, s.aMatrix[1]!]);
    return viewAs(product2d(calls, stacked, viewAs(b, s.bMatrix), false, tB), outShape);
  }
  const out = calls.output(outShape);
  const [aSize, bSize, outSize] = [sizeOf(s.aMatrix), sizeOf(s.bMatrix), s.m * s.n];
  let heldB: TensorInfo | null = null;
  let heldIndex = -1;
  try {
    for (let i = 0; i < nOut; i++) {
      const ib = broadcastIndex(i, s.outBatch, s.bBatch);
      if (ib !== heldIndex) {
        if (heldB !== null) calls.dispose(heldB);
        heldB = null;
        heldB = copyOf(calls, b, ib * bSize, s.bMatrix);
        heldIndex = ib;
      }
      const aCopy = copyOf(calls, a, broadcastIndex(i, s.outBatch, s.aBatch) * aSize, s.aMatrix);
      const product = product2d(calls, aCopy, heldB!, tA, tB);
      calls.floats(out).set(calls.floats(product), i * outSize);
      calls.dispose(aCopy, product);
    }
  } finally {
    if (heldB !== null) calls.dispose(heldB);
  }
  return out;
}

export interface FusedInputs {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

export interface FusedAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation: TF.fused.Activation;
  leakyreluAlpha?: number;
}

/** `x` broadcast to `shape` (a new tensor), for weights tfjs-wasm's per-channel PReLU cannot read. */
function broadcastTo(calls: WasmCalls, x: TensorInfo, shape: number[]): TensorInfo {
  const out = calls.output(shape);
  const [from, to] = [calls.floats(x), calls.floats(out)];
  for (let i = 0; i < to.length; i++) to[i] = from[broadcastIndex(i, shape, x.shape)]!;
  return out;
}

/** The activation after a product, as tfjs's cpu backend applies it: a new tensor; `y` is left alone. */
function activate(calls: WasmCalls, y: TensorInfo, inputs: FusedInputs, attrs: FusedAttrs): TensorInfo {
  switch (attrs.activation) {
    case 'relu':
      return calls.run('Relu', { x: y });
    case 'relu6':
      return calls.run('Relu6', { x: y });
    case 'elu':
      return calls.run('Elu', { x: y });
    case 'sigmoid':
      return calls.run('Sigmoid', { x: y });
    case 'leakyrelu':
      return calls.run('LeakyRelu', { x: y }, { alpha: attrs.leakyreluAlpha ?? 0.2 });
    case 'prelu': {
      const alpha = inputs.preluActivationWeights!;
      // XNNPACK's PReLU reads the weights as the innermost channels
      if (channelWise(alpha, y.shape)) return calls.run('Prelu', { x: y, alpha });
      const full = broadcastTo(calls, alpha, y.shape);
      try {
        return calls.run('Prelu', { x: y, alpha: full });
      } finally {
        calls.dispose(full);
      }
    }
    default:
      throw new Error(`fused matMul: unknown activation '${String(attrs.activation)}'`);
  }
}

/** Whether `weights` broadcast over `shape` as its innermost dimension (what XNNPACK's PReLU reads). */
function channelWise(weights: TensorInfo, shape: readonly number[]): boolean {
  const size = sizeOf(weights.shape);
  return size === 1 || (weights.shape.at(-1) === shape.at(-1) && size === shape.at(-1));
}

/** `fused.matMul`: XNNPACK's fused path where tfjs-wasm gets it right, else product, bias, activation. */
export function fusedMatMul(
  calls: WasmCalls,
  original: TF.KernelFunc,
  inputs: FusedInputs,
  attrs: FusedAttrs,
): TensorInfo {
  const { a, b, bias } = inputs;
  const { transposeA: tA, transposeB: tB, activation } = attrs;
  const s = productShapes(calls, a, b, tA, tB);
  const xnnpackPath =
    !tA &&
    !tB &&
    a.shape.length === 3 &&
    b.shape.length === 3 &&
    sizeOf(s.aBatch) === 1 &&
    sizeOf(s.bBatch) === 1 &&
    s.m * s.n * s.k > 0 &&
    // XNNPACK reads n bias values, and the PReLU weights as channels
    (bias === undefined || (bias.shape.length === 1 && bias.shape[0] === s.n)) &&
    (activation !== 'prelu' || channelWise(inputs.preluActivationWeights!, [s.m, s.n])) &&
    calls.claimRightOperand(b);
  if (xnnpackPath)
    return single('_FusedMatMul', original({ inputs: inputs as never, backend: calls.backend, attrs: attrs as never }));
  let y = batchMatMul(calls, a, b, tA, tB);
  if (bias !== undefined) {
    const withBias = calls.run('Add', { a: y, b: bias });
    calls.dispose(y);
    y = withBias;
  }
  if (activation === 'linear' || activation === undefined) return y;
  try {
    return activate(calls, y, inputs, attrs);
  } finally {
    calls.dispose(y);
  }
}

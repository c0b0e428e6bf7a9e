/**
 * The pooling gradients, NHWC, over the wasm heap: `MaxPoolGrad` and `AvgPoolGrad`. tfjs-wasm's
 * own walk every input pixel and, for each, every window that holds it (its max pool gradient
 * took 39 ms of a 900 ms CNN step); here each window is visited once, its channels innermost,
 * reading and writing consecutive floats.
 *
 * The max pool's gradient goes to the first largest pixel of each window in row-major order, as
 * tfjs's cpu backend chooses it (a window of NaN or -Infinity passes none); an average pool's to
 * every pixel of its window, divided by the window's full size, as tfjs's cpu backend divides.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { TensorInfo, WasmCalls } from './backend.js';

export interface PoolGradientAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | TF.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function poolGeometry(
  calls: WasmCalls,
  kernel: string,
  inputShape: readonly number[],
  dy: TensorInfo,
  attrs: PoolGradientAttrs,
): TF.backend_util.Conv2DInfo {
  const info = calls.tf.backend_util.computePool2DInfo(
    inputShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const expected = info.outShape;
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${kernel}: 'dy' has shape [${dy.shape.join()}]; this pooling's geometry needs [${expected.join()}]`,
    );
  }
  return info;
}

/** Calls `visit(dyPixel, rowStart, rowEnd, columnStart, columnEnd, image)` for each window: the input rows and columns it covers, clipped. */
function forEachWindow(
  info: TF.backend_util.Conv2DInfo,
  visit: (dyPixel: number, r0: number, r1: number, c0: number, c1: number, image: number) => void,
): void {
  const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight, effectiveFilterWidth } = info;
  const { top, left } = info.padInfo;
  for (let b = 0, pixel = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const r = oh * strideHeight - top;
      const [r0, r1] = [Math.max(0, r), Math.min(inHeight, r + effectiveFilterHeight)];
      for (let ow = 0; ow < outWidth; ow++, pixel++) {
        const c = ow * strideWidth - left;
        visit(pixel, r0, r1, Math.max(0, c), Math.min(inWidth, c + effectiveFilterWidth), b);
      }
    }
  }
}

/** dx of a max pool: each window's gradient onto its first largest input pixel. */
export function maxPoolGrad(
  calls: WasmCalls,
  { dy, input }: { dy: TensorInfo; input: TensorInfo },
  attrs: PoolGradientAttrs,
): TensorInfo {
  const info = poolGeometry(calls, 'MaxPoolGrad', input.shape, dy, attrs);
  const { inHeight, inWidth, inChannels: channels } = info;
  const dx = calls.output([...input.shape], input.dtype);
  const [dxs, xs, dys] = [calls.floats(dx), calls.floats(input), calls.floats(dy)];
  dxs.fill(0);
  // per channel: the largest value so far and where it is (-1: none yet)
  const best = new Float32Array(channels);
  const where = new Int32Array(channels);
  forEachWindow(info, (dyPixel, r0, r1, c0, c1, b) => {
    best.fill(Number.NEGATIVE_INFINITY);
    where.fill(-1);
    for (let r = r0; r < r1; r++) {
      for (let c = c0; c < c1; c++) {
        const at = ((b * inHeight + r) * inWidth + c) * channels;
        for (let d = 0; d < channels; d++) {
          const value = xs[at + d]!;
          if (value > best[d]!) {
            best[d] = value;
            where[d] = at + d;
          }
        }
      }
    }
    const from = dyPixel * channels;
    for (let d = 0; d < channels; d++) {
      if (where[d]! >= 0) dxs[where[d]!]! += dys[from + d]!;
    }
  });
  return dx;
}

/** dx of an average pool: each window's gradient over its pixels, divided by the window's size. */
export function avgPoolGrad(
  calls: WasmCalls,
  { dy, input }: { dy: TensorInfo; input: TensorInfo },
  attrs: PoolGradientAttrs,
): TensorInfo {
  const info = poolGeometry(calls, 'AvgPoolGrad', input.shape, dy, attrs);
  const { inHeight, inWidth, inChannels: channels } = info;
  const scale = 1 / (info.effectiveFilterHeight * info.effectiveFilterWidth);
  const dx = calls.output([...input.shape], input.dtype);
  const [dxs, dys] = [calls.floats(dx), calls.floats(dy)];
  dxs.fill(0);
  forEachWindow(info, (dyPixel, r0, r1, c0, c1, b) => {
    const from = dyPixel * channels;
    for (let r = r0; r < r1; r++) {
      for (let c = c0; c < c1; c++) {
        const at = ((b * inHeight + r) * inWidth + c) * channels;
        for (let d = 0; d < channels; d++) dxs[at + d]! += dys[from + d]! * scale;
      }
    }
  });
  return dx;
}

/**
 * `Conv2DBackpropFilter`, the filter's gradient (see conv-backprop.ts for the geometry): a
 * convolution on XNNPACK where it is one, an im2col product where that convolution would crop
 * its input, and a Conv1D of many filters by chunks of the transposed product, each the faster
 * where measured. Each call's sums run in a fixed order on one thread.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { viewAs, type TensorInfo, type WasmCalls } from './backend.js';
import {
  channelsLast,
  copyRows,
  geometry,
  PATCHES_LIMIT,
  zeros,
  type Conv2DBackpropFilterAttrs,
  type Shape4,
} from './conv-backprop.js';
import { writePatches } from './conv-patches.js';
import { product2d } from './matmul.js';

/**
 * dW, as [filterHeight, filterWidth, inChannels, outChannels]: a convolution where it is one, else
 * im2col(x)^T dy; a Conv1D of many filters by chunks of (dy^T im2col(x)).
 */
export function conv2dBackpropFilter(
  calls: WasmCalls,
  { x, dy }: { x: TensorInfo; dy: TensorInfo },
  attrs: Conv2DBackpropFilterAttrs,
): TensorInfo {
  const info = geometry(calls, 'Conv2DBackpropFilter', x.shape, attrs.filterShape, dy, attrs);
  if (byChunks(info)) return filterGradientByChunks(calls, x, dy, info, attrs.filterShape);
  const pads = filterGradientPadding(info);
  return pads !== null
    ? filterGradientByConvolution(calls, x, dy, info, pads)
    : filterGradientByProduct(calls, x, dy, info, attrs.filterShape);
}

/**
 * The paddings [top, bottom, left, right] of the convolution that gives dW (see
 * `filterGradientByConvolution`), or null where its bottom or right would have to crop the input.
 */
function filterGradientPadding(info: TF.backend_util.Conv2DInfo): [number, number, number, number] | null {
  const { inHeight, inWidth, filterHeight, filterWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left, bottom, right } = info.padInfo;
  // dy as a filter dilated by the stride spans (out - 1) * stride + 1 input pixels; one output per filter tap
  const spanHeight = (outHeight - 1) * strideHeight + 1;
  const spanWidth = (outWidth - 1) * strideWidth + 1;
  const cutBottom = bottom - (inHeight + top + bottom - spanHeight + 1 - filterHeight);
  const cutRight = right - (inWidth + left + right - spanWidth + 1 - filterWidth);
  return cutBottom >= 0 && cutRight >= 0 ? [top, cutBottom, left, cutRight] : null;
}

/**
 * dW[fh, fw, ci, co] = sum over (n, oh, ow) of x[n, oh * s + fh - top, ow * s + fw - left, ci] dy[n, oh, ow, co]:
 * a convolution of x seen as inChannels images of batchSize channels, [ci, h, w, n], with dy as
 * its filter, [oh, ow, n, co], dilated by the stride. XNNPACK runs it with no patch matrix.
 */
function filterGradientByConvolution(
  calls: WasmCalls,
  x: TensorInfo,
  dy: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
  [top, bottom, left, right]: [number, number, number, number],
): TensorInfo {
  const last = info.dataFormat === 'channelsLast';
  const images = calls.transpose(x, last ? [3, 1, 2, 0] : [1, 2, 3, 0]);
  const filter = calls.transpose(dy, last ? [1, 2, 0, 3] : [2, 3, 0, 1]);
  let taps: TensorInfo;
  try {
    const pad = [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ];
    const dilations = [info.strideHeight, info.strideWidth];
    taps = calls.run('Conv2D', { x: images, filter }, { strides: 1, pad, dataFormat: 'NHWC', dilations });
  } finally {
    calls.dispose(images, filter);
  }
  try {
    return calls.transpose(taps, [1, 2, 0, 3]);
  } finally {
    calls.dispose(taps);
  }
}

/** dW = im2col(x)^T dy: the patches a row per output pixel, in chunks of images. */
function filterGradientByProduct(
  calls: WasmCalls,
  x: TensorInfo,
  dy: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
  filterShape: Shape4,
): TensorInfo {
  const { batchSize, outHeight, outWidth, outChannels } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = outHeight * outWidth;
  const [xs, dyRows] = [channelsLast(calls, x, info), channelsLast(calls, dy, info)];
  const chunk = Math.max(1, Math.floor(PATCHES_LIMIT / Math.max(1, taps * perImage)));
  let result: TensorInfo | null = null;
  try {
    for (let first = 0; first < batchSize; first += chunk) {
      const images = Math.min(chunk, batchSize - first);
      const patches = calls.output([images * perImage, taps]);
      writePatches(calls, patches, xs, info, first, images);
      const gradient =
        images === batchSize
          ? viewAs(dyRows, [images * perImage, outChannels])
          : copyRows(calls, dyRows, first * perImage * outChannels, [images * perImage, outChannels]);
      const part = product2d(calls, patches, gradient, true, false);
      calls.dispose(patches, ...(gradient.dataId === dyRows.dataId ? [] : [gradient]));
      if (result === null) {
        result = part;
      } else {
        const [sum, add] = [calls.floats(result), calls.floats(part)];
        for (let i = 0; i < sum.length; i++) sum[i]! += add[i]!;
        calls.dispose(part);
      }
    }
  } finally {
    calls.dispose(...[xs, dyRows].filter((t, k) => t !== [x, dy][k]));
  }
  return viewAs(result ?? zeros(calls, [taps, outChannels]), [...filterShape]);
}

/**
 * Whether the chunked product beats the convolution, as measured here (batch 64): a Conv1D (one
 * row, tfjs runs it in 2-D) with at least 64 filters, where the convolution sees few wide images.
 * The sentiment CNN's (5 x 128 -> 250 over 100 words): 125 ms against 175 (forward: 92); with 16
 * filters the convolution is faster (1.6 ms against 2.7); 2-D layers too (the mnist-node CNN's
 * second: 66 ms against 96).
 */
function byChunks(info: TF.backend_util.Conv2DInfo): boolean {
  return info.inHeight === 1 && info.filterHeight === 1 && info.outChannels >= 64;
}

/** Elements of one chunk's patches in `filterGradientByChunks`: small enough to stay in cache between its write and its product. */
const FILTER_CHUNK = 1 << 18;

/**
 * dW = (dy^T im2col(x))^T, the images taken a few at a time: each chunk's patches (a row per
 * output pixel) are the product's right operand as written, its rows of dy transposed (small),
 * and the chunks' [outChannels, taps] sums added in chunk order.
 */
function filterGradientByChunks(
  calls: WasmCalls,
  x: TensorInfo,
  dy: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
  filterShape: Shape4,
): TensorInfo {
  const { batchSize, outHeight, outWidth, outChannels } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = outHeight * outWidth;
  const [xs, dyRows] = [channelsLast(calls, x, info), channelsLast(calls, dy, info)];
  const chunk = Math.min(batchSize, Math.max(1, Math.floor(FILTER_CHUNK / Math.max(1, taps * perImage))));
  const sum = calls.output([outChannels, taps]);
  try {
    for (let first = 0; first < batchSize; first += chunk) {
      const images = Math.min(chunk, batchSize - first);
      const pixels = images * perImage;
      const patches = calls.output([pixels, taps]);
      const gradientT = calls.output([outChannels, pixels]);
      writePatches(calls, patches, xs, info, first, images);
      const [from, to] = [calls.floats(dyRows), calls.floats(gradientT)];
      const base = first * perImage * outChannels;
      for (let p = 0; p < pixels; p++) {
        for (let c = 0, at = base + p * outChannels; c < outChannels; c++) to[c * pixels + p] = from[at + c]!;
      }
      const part = product2d(calls, gradientT, patches, false, false);
      calls.dispose(patches, gradientT);
      const [total, add] = [calls.floats(sum), calls.floats(part)];
      if (first === 0) total.set(add);
      else for (let i = 0; i < total.length; i++) total[i]! += add[i]!;
      calls.dispose(part);
    }
    const dw = calls.output([...filterShape]);
    const [total, out] = [calls.floats(sum), calls.floats(dw)];
    for (let c = 0; c < outChannels; c++)
      for (let t = 0; t < taps; t++) out[t * outChannels + c] = total[c * taps + t]!;
    return dw;
  } finally {
    calls.dispose(sum, ...[xs, dyRows].filter((t, k) => t !== [x, dy][k]));
  }
}

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
  const { outChannels } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const limit = PATCHES_LIMIT / Math.max(1, taps * info.outHeight * info.outWidth);
  const sum = sumOverImageChunks(calls, x, dy, info, limit, (patches, dyRows, first, pixels) => {
    const gradient =
      pixels === dyRows.shape.slice(0, 3).reduce((n, d) => n * d, 1)
        ? viewAs(dyRows, [pixels, outChannels])
        : copyRows(calls, dyRows, first * outChannels, [pixels, outChannels]);
    try {
      return product2d(calls, patches, gradient, true, false);
    } finally {
      if (gradient.dataId !== dyRows.dataId) calls.dispose(gradient);
    }
  });
  return viewAs(sum ?? zeros(calls, [taps, outChannels]), [...filterShape]);
}

/**
 * The sum, in chunk order, of `part(patches, dyRows, firstPixel, pixels)` over chunks of at most
 * `limit` images (at least one): `patches` holds im2col of the chunk's images, `dyRows` is dy as
 * NHWC. Null for an empty batch. Each part is disposed once added; the sum is the caller's.
 */
function sumOverImageChunks(
  calls: WasmCalls,
  x: TensorInfo,
  dy: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
  limit: number,
  part: (patches: TensorInfo, dyRows: TensorInfo, firstPixel: number, pixels: number) => TensorInfo,
): TensorInfo | null {
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = info.outHeight * info.outWidth;
  const chunk = Math.max(1, Math.floor(limit));
  const [xs, dyRows] = [channelsLast(calls, x, info), channelsLast(calls, dy, info)];
  let sum: TensorInfo | null = null;
  try {
    for (let first = 0; first < info.batchSize; first += chunk) {
      const images = Math.min(chunk, info.batchSize - first);
      const patches = calls.output([images * perImage, taps]);
      let added: TensorInfo;
      try {
        writePatches(calls, patches, xs, info, first, images);
        added = part(patches, dyRows, first * perImage, images * perImage);
      } finally {
        calls.dispose(patches);
      }
      if (sum === null) {
        sum = added;
      } else {
        const [total, add] = [calls.floats(sum), calls.floats(added)];
        for (let i = 0; i < total.length; i++) total[i]! += add[i]!;
        calls.dispose(added);
      }
    }
  } finally {
    calls.dispose(...[xs, dyRows].filter((t, k) => t !== [x, dy][k]));
  }
  return sum;
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
  const { outChannels } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const limit = FILTER_CHUNK / Math.max(1, taps * info.outHeight * info.outWidth);
  const sum = sumOverImageChunks(calls, x, dy, info, limit, (patches, dyRows, firstPixel, pixels) => {
    const gradientT = calls.output([outChannels, pixels]);
    const [from, to] = [calls.floats(dyRows), calls.floats(gradientT)];
    for (let p = 0; p < pixels; p++) {
      const at = (firstPixel + p) * outChannels;
      for (let c = 0; c < outChannels; c++) to[c * pixels + p] = from[at + c]!;
    }
    try {
      return product2d(calls, gradientT, patches, false, false);
    } finally {
      calls.dispose(gradientT);
    }
  });
  const dw = calls.output([...filterShape]);
  if (sum === null) {
    calls.floats(dw).fill(0);
    return dw;
  }
  const [total, out] = [calls.floats(sum), calls.floats(dw)];
  for (let c = 0; c < outChannels; c++) for (let t = 0; t < taps; t++) out[t * outChannels + c] = total[c * taps + t]!;
  calls.dispose(sum);
  return dw;
}

/**
 * A convolution's patches over the wasm heap: im2col (a row per output pixel, a column per
 * filter tap and channel) and its adjoint, col2im, for the gradients' product paths.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { TensorInfo, WasmCalls } from './backend.js';

/**
 * Calls `visit(inputPixel, patchOffset)` for each (output pixel, filter tap) of images
 * [first, first + images) that reads an input pixel: `inputPixel` indexes the NHWC input's pixels,
 * `patchOffset` the im2col matrix (row per output pixel, column (tapRow, tapColumn, channel)).
 */
function forEachPatchTap(
  info: TF.backend_util.Conv2DInfo,
  first: number,
  images: number,
  visit: (inputPixel: number, patchOffset: number) => void,
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  const rowLength = filterHeight * filterWidth * inChannels;
  for (let b = first; b < first + images; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const row = (((b - first) * outHeight + oh) * outWidth + ow) * rowLength;
        for (let fh = 0; fh < filterHeight; fh++) {
          const ih = oh * strideHeight - top + fh * dilationHeight;
          if (ih < 0 || ih >= inHeight) continue;
          for (let fw = 0; fw < filterWidth; fw++) {
            const iw = ow * strideWidth - left + fw * dilationWidth;
            if (iw < 0 || iw >= inWidth) continue;
            visit((b * inHeight + ih) * inWidth + iw, row + (fh * filterWidth + fw) * inChannels);
          }
        }
      }
    }
  }
}

/**
 * Writes im2col of images [first, first + images): a row per output pixel, (tapRow, tapColumn,
 * channel) across, zeros where a tap falls in the padding. Both live on the wasm heap, so each
 * run of taps that reads consecutive input pixels (every tap row, without a width dilation) is
 * one `copyWithin` there: no allocation, no per-element loop.
 */
export function writePatches(
  calls: WasmCalls,
  patches: TensorInfo,
  x: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
  first: number,
  images: number,
): void {
  const [patchView, xView] = [calls.floats(patches), calls.floats(x)];
  const heap = new Float32Array(patchView.buffer);
  const [patchBase, xBase] = [patchView.byteOffset >> 2, xView.byteOffset >> 2];
  const { inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  const tapRow = filterWidth * inChannels;
  let at = patchBase;
  for (let b = first; b < first + images; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const iw0 = ow * strideWidth - left;
        // the taps fw in [lo, hi) read inside the row
        const lo = Math.min(filterWidth, Math.max(0, Math.ceil(-iw0 / dilationWidth)));
        const hi = Math.max(lo, Math.min(filterWidth, Math.ceil((inWidth - iw0) / dilationWidth)));
        for (let fh = 0; fh < filterHeight; fh++, at += tapRow) {
          const ih = oh * strideHeight - top + fh * dilationHeight;
          if (ih < 0 || ih >= inHeight || lo === hi) {
            heap.fill(0, at, at + tapRow);
            continue;
          }
          if (lo > 0) heap.fill(0, at, at + lo * inChannels);
          if (hi < filterWidth) heap.fill(0, at + hi * inChannels, at + tapRow);
          const pixel = xBase + ((b * inHeight + ih) * inWidth + iw0) * inChannels;
          if (dilationWidth === 1) {
            heap.copyWithin(at + lo * inChannels, pixel + lo * inChannels, pixel + hi * inChannels);
          } else {
            for (let fw = lo; fw < hi; fw++) {
              const from = pixel + fw * dilationWidth * inChannels;
              heap.copyWithin(at + fw * inChannels, from, from + inChannels);
            }
          }
        }
      }
    }
  }
}

/** Adds each im2col column of images [first, first + images) onto the input pixel it reads: col2im. */
export function addPatches(
  dx: Float32Array,
  columns: Float32Array,
  info: TF.backend_util.Conv2DInfo,
  first: number,
  images: number,
): void {
  const channels = info.inChannels;
  forEachPatchTap(info, first, images, (pixel, at) => {
    const to = pixel * channels;
    for (let c = 0; c < channels; c++) dx[to + c]! += columns[at + c]!;
  });
}

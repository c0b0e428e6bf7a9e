/**
 * A convolution's two gradients on XNNPACK: `Conv2DBackpropInput` (also `conv2dTranspose`'s
 * forward pass) and `Conv2DBackpropFilter`. tfjs-wasm's own input gradient is a naive loop near
 * 1 GFLOP/s, and it has no filter gradient at all.
 *
 * - The input gradient at stride 1 is a forward convolution of the output's gradient with the
 *   filter flipped in space and its channels swapped, padded by what the forward convolution
 *   left out: tfjs-wasm's own `Conv2D`, on XNNPACK. At other strides it is a product, the
 *   output's gradient times the filter's transpose, one row per output pixel and one column per
 *   filter tap, scattered back onto the input (col2im).
 * - The filter gradient is a convolution too: the input seen as inChannels images of batchSize
 *   channels, convolved with the output's gradient as the filter, dilated by the stride (XNNPACK,
 *   no patch matrix). Where that convolution would have to crop the input, it is a product: the
 *   input's patches (im2col, one row per output pixel) transposed against the output's gradient.
 *
 * Shapes, padding and rounding come from tfjs's own `computeConv2DInfo`, so they follow tfjs's
 * cpu backend. NCHW data is transposed to NHWC and back. Each call's sums run in a fixed order on
 * one thread: the same inputs give the same bytes.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { sizeOf, viewAs, type TensorInfo, type WasmCalls } from './backend.js';
import { product2d } from './matmul.js';

/** Refuses a tensor whose shape is not what the convolution's geometry says (it would be read past its end). */
export function expectShape(
  kernel: string,
  name: string,
  actual: readonly number[],
  expected: readonly number[],
): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${kernel}: '${name}' has shape [${actual.join()}]; this convolution's geometry needs [${expected.join()}]`,
    );
  }
}

/** The bound on a product's patch matrix (elements): a larger batch is taken in chunks of images. */
const PATCHES_LIMIT = 1 << 22;

type Padding = 'valid' | 'same' | number | TF.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];

interface ConvGradientAttrs {
  strides: [number, number] | number;
  pad: Padding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export interface Conv2DBackpropFilterAttrs extends ConvGradientAttrs {
  filterShape: Shape4;
}

export interface Conv2DBackpropInputAttrs extends ConvGradientAttrs {
  inputShape: Shape4;
}

/** The convolution's geometry as tfjs computes it (channels last from here on), `dy` checked against it. */
function geometry(
  calls: WasmCalls,
  kernel: string,
  inputShape: readonly number[],
  filterShape: readonly number[],
  dy: TensorInfo,
  attrs: ConvGradientAttrs,
): TF.backend_util.Conv2DInfo {
  const { backend_util } = calls.tf;
  const info = backend_util.computeConv2DInfo(
    inputShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  expectShape(kernel, 'dy', dy.shape, info.outShape);
  return info;
}

/** `x` as NHWC: itself, or a transposed copy of NCHW data (the caller disposes a copy). */
function channelsLast(calls: WasmCalls, x: TensorInfo, info: TF.backend_util.Conv2DInfo): TensorInfo {
  return info.dataFormat === 'channelsLast' ? x : calls.transpose(x, [0, 2, 3, 1]);
}

/** dW, as [filterHeight, filterWidth, inChannels, outChannels]: a convolution where it is one, else im2col(x)^T dy. */
export function conv2dBackpropFilter(
  calls: WasmCalls,
  { x, dy }: { x: TensorInfo; dy: TensorInfo },
  attrs: Conv2DBackpropFilterAttrs,
): TensorInfo {
  const info = geometry(calls, 'Conv2DBackpropFilter', x.shape, attrs.filterShape, dy, attrs);
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

/** dx: the output's gradient carried back onto the input, [batch, height, width, inChannels] (or NCHW). */
export function conv2dBackpropInput(
  calls: WasmCalls,
  { dy, filter }: { dy: TensorInfo; filter: TensorInfo },
  attrs: Conv2DBackpropInputAttrs,
): TensorInfo {
  const info = geometry(calls, 'Conv2DBackpropInput', attrs.inputShape, filter.shape, dy, attrs);
  const dyRows = channelsLast(calls, dy, info);
  let dx: TensorInfo;
  try {
    const pads = transposedPadding(info);
    dx =
      pads !== null
        ? inputGradientByConvolution(calls, dyRows, filter, info, pads)
        : inputGradientByProduct(calls, dyRows, filter, info);
  } finally {
    if (dyRows !== dy) calls.dispose(dyRows);
  }
  if (info.dataFormat === 'channelsLast') return dx;
  const nchw = calls.transpose(dx, [0, 3, 1, 2]);
  calls.dispose(dx);
  return nchw;
}

/**
 * At stride 1, the paddings [top, bottom, left, right] of the convolution of dy that gives dx;
 * null where that is not a plain convolution (strides, or a forward padding wider than the filter).
 */
function transposedPadding(info: TF.backend_util.Conv2DInfo): [number, number, number, number] | null {
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  const { filterHeight, filterWidth, inHeight, inWidth, outHeight, outWidth, padInfo } = info;
  const top = filterHeight - 1 - padInfo.top;
  const left = filterWidth - 1 - padInfo.left;
  // the rows of dx the convolution must produce: inHeight = outHeight + top + bottom - filterHeight + 1
  const bottom = inHeight - outHeight - top + filterHeight - 1;
  const right = inWidth - outWidth - left + filterWidth - 1;
  return [top, bottom, left, right].every((p) => p >= 0) ? [top, bottom, left, right] : null;
}

/** dx = conv(dy, W flipped, channels swapped), on tfjs-wasm's XNNPACK convolution. */
function inputGradientByConvolution(
  calls: WasmCalls,
  dy: TensorInfo,
  filter: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
  [top, bottom, left, right]: [number, number, number, number],
): TensorInfo {
  const { filterHeight, filterWidth, inChannels, outChannels } = info;
  const flipped = calls.output([filterHeight, filterWidth, outChannels, inChannels]);
  const [to, from] = [calls.floats(flipped), calls.floats(filter)];
  for (let fh = 0; fh < filterHeight; fh++) {
    for (let fw = 0; fw < filterWidth; fw++) {
      const source = (fh * filterWidth + fw) * inChannels * outChannels;
      const target = ((filterHeight - 1 - fh) * filterWidth + (filterWidth - 1 - fw)) * outChannels * inChannels;
      for (let ci = 0; ci < inChannels; ci++) {
        for (let co = 0; co < outChannels; co++)
          to[target + co * inChannels + ci] = from[source + ci * outChannels + co]!;
      }
    }
  }
  try {
    const pad = [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ];
    return calls.run('Conv2D', { x: dy, filter: flipped }, { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 });
  } finally {
    calls.dispose(flipped);
  }
}

/** dx = col2im(dy W^T): one row per output pixel, one column per filter tap, each added onto the input pixel it came from. */
function inputGradientByProduct(
  calls: WasmCalls,
  dy: TensorInfo,
  filter: TensorInfo,
  info: TF.backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const taps = info.filterHeight * info.filterWidth * inChannels;
  const perImage = outHeight * outWidth;
  const weights = viewAs(filter, [taps, outChannels]);
  const dx = calls.output([batchSize, inHeight, inWidth, inChannels]);
  calls.floats(dx).fill(0);
  const chunk = Math.max(1, Math.floor(PATCHES_LIMIT / Math.max(1, taps * perImage)));
  for (let first = 0; first < batchSize; first += chunk) {
    const images = Math.min(chunk, batchSize - first);
    const rows =
      images === batchSize
        ? viewAs(dy, [images * perImage, outChannels])
        : copyRows(calls, dy, first * perImage * outChannels, [images * perImage, outChannels]);
    const columns = product2d(calls, rows, weights, false, true);
    addPatches(calls.floats(dx), calls.floats(columns), info, first, images);
    calls.dispose(columns, ...(rows.dataId === dy.dataId ? [] : [rows]));
  }
  return dx;
}

function copyRows(calls: WasmCalls, x: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const copy = calls.output(shape);
  calls.floats(copy).set(calls.floats(x).subarray(offset, offset + sizeOf(shape)));
  return copy;
}

function zeros(calls: WasmCalls, shape: number[]): TensorInfo {
  const out = calls.output(shape);
  calls.floats(out).fill(0);
  return out;
}

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
function writePatches(
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
function addPatches(
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

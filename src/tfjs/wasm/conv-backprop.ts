/**
 * A convolution's gradients on XNNPACK, the geometry they share, and `Conv2DBackpropInput` (also
 * `conv2dTranspose`'s forward pass; the filter's is conv-filter-gradient.ts). tfjs-wasm's own
 * input gradient is a naive loop near 1 GFLOP/s, and it has no filter gradient at all.
 *
 * - The input gradient at stride 1 is a forward convolution of the output's gradient with the
 *   filter flipped in space and its channels swapped, padded by what the forward convolution
 *   left out: tfjs-wasm's own `Conv2D`, on XNNPACK. At other strides it is a product, the
 *   output's gradient times the filter's transpose, one row per output pixel and one column per
 *   filter tap, scattered back onto the input (col2im).
 * - The filter gradient is a convolution too: the input seen as inChannels images of batchSize
 *   channels, convolved with the output's gradient as the filter, dilated by the stride (XNNPACK,
 *   no patch matrix); else products of the input's patches and the output's gradient.
 *
 * Shapes, padding and rounding come from tfjs's own `computeConv2DInfo`, so they follow tfjs's
 * cpu backend. NCHW data is transposed to NHWC and back. Each call's sums run in a fixed order on
 * one thread: the same inputs give the same bytes.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { sizeOf, viewAs, type TensorInfo, type WasmCalls } from './backend.js';
import { addPatches } from './conv-patches.js';
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
export const PATCHES_LIMIT = 1 << 22;

type Padding = 'valid' | 'same' | number | TF.backend_util.ExplicitPadding;
export type Shape4 = [number, number, number, number];

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
export function geometry(
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
export function channelsLast(calls: WasmCalls, x: TensorInfo, info: TF.backend_util.Conv2DInfo): TensorInfo {
  return info.dataFormat === 'channelsLast' ? x : calls.transpose(x, [0, 2, 3, 1]);
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

export function copyRows(calls: WasmCalls, x: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const copy = calls.output(shape);
  calls.floats(copy).set(calls.floats(x).subarray(offset, offset + sizeOf(shape)));
  return copy;
}

export function zeros(calls: WasmCalls, shape: number[]): TensorInfo {
  const out = calls.output(shape);
  calls.floats(out).fill(0);
  return out;
}

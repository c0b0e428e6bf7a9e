/**
 * Training kernels tfjs-wasm lacks that have no product in them: both gradients of a depthwise
 * convolution (each channel is its own tiny reduction) and `UnsortedSegmentSum` (the gradient of
 * `gather`, so of Embedding), as loops over the heap. Shapes, padding and rounding come from
 * tfjs's own `computeConv2DInfo`, so they follow tfjs's cpu backend; unlike it, dilations are
 * honoured where the attrs carry them.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { sizeOf, type TensorInfo, type WasmCalls } from './backend.js';
import { expectShape } from './conv-backprop.js';

export interface DepthwiseBackpropAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | TF.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Calls `visit(xOffset, dyOffset, tapOffset)` for every (input pixel, output pixel, filter tap) a depthwise convolution pairs (NHWC). */
function forEachDepthwiseTap(
  info: TF.backend_util.Conv2DInfo,
  visit: (xOffset: number, dyOffset: number, tapOffset: number) => void,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let fh = 0; fh < filterHeight; fh++) {
        const ih = oh * strideHeight - top + fh * dilationHeight;
        if (ih < 0 || ih >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const dyOffset = ((b * outHeight + oh) * outWidth + ow) * outChannels;
          for (let fw = 0; fw < filterWidth; fw++) {
            const iw = ow * strideWidth - left + fw * dilationWidth;
            if (iw < 0 || iw >= inWidth) continue;
            visit(((b * inHeight + ih) * inWidth + iw) * inChannels, dyOffset, (fh * filterWidth + fw) * outChannels);
          }
        }
      }
    }
  }
}

/** A depthwise convolution's geometry as tfjs computes it, `dy` checked against it. */
function depthwiseGeometry(
  calls: WasmCalls,
  kernel: string,
  inputShape: readonly number[],
  filterShape: readonly number[],
  dy: TensorInfo,
  attrs: DepthwiseBackpropAttrs,
): TF.backend_util.Conv2DInfo {
  const info = calls.tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  expectShape(kernel, 'dy', dy.shape, info.outShape);
  return info;
}

/** The depthwise filter's gradient, [filterHeight, filterWidth, inChannels, multiplier] (sums kept in float64). */
export function depthwiseBackpropFilter(
  calls: WasmCalls,
  { x, dy }: { x: TensorInfo; dy: TensorInfo },
  attrs: DepthwiseBackpropAttrs & { filterShape: [number, number, number, number] },
): TensorInfo {
  const info = depthwiseGeometry(calls, 'DepthwiseConv2dNativeBackpropFilter', x.shape, attrs.filterShape, dy, attrs);
  const multiplier = info.outChannels / info.inChannels;
  const sums = new Float64Array(sizeOf(attrs.filterShape));
  const [xs, dys] = [calls.floats(x), calls.floats(dy)];
  const channels = info.inChannels;
  forEachDepthwiseTap(info, (xOffset, dyOffset, tapOffset) => {
    for (let ci = 0, c = 0; ci < channels; ci++) {
      const xv = xs[xOffset + ci]!;
      for (let m = 0; m < multiplier; m++, c++) sums[tapOffset + c]! += xv * dys[dyOffset + c]!;
    }
  });
  const out = calls.output([...attrs.filterShape]);
  calls.floats(out).set(sums);
  return out;
}

/** The depthwise convolution's input gradient, [batch, height, width, inChannels]. */
export function depthwiseBackpropInput(
  calls: WasmCalls,
  { dy, filter }: { dy: TensorInfo; filter: TensorInfo },
  attrs: DepthwiseBackpropAttrs & { inputShape: [number, number, number, number] },
): TensorInfo {
  const info = depthwiseGeometry(
    calls,
    'DepthwiseConv2dNativeBackpropInput',
    attrs.inputShape,
    filter.shape,
    dy,
    attrs,
  );
  const multiplier = info.outChannels / info.inChannels;
  const out = calls.output([...attrs.inputShape]);
  const [dx, dys, weights] = [calls.floats(out), calls.floats(dy), calls.floats(filter)];
  dx.fill(0);
  const channels = info.inChannels;
  forEachDepthwiseTap(info, (xOffset, dyOffset, tapOffset) => {
    for (let ci = 0, c = 0; ci < channels; ci++) {
      let sum = 0;
      for (let m = 0; m < multiplier; m++, c++) sum += dys[dyOffset + c]! * weights[tapOffset + c]!;
      dx[xOffset + ci]! += sum;
    }
  });
  return out;
}

/** Sums the rows of `x` by segment: ids outside [0, numSegments) are dropped, as tfjs's cpu backend drops them. */
export function unsortedSegmentSum(
  calls: WasmCalls,
  { x, segmentIds }: { x: TensorInfo; segmentIds: TensorInfo },
  { numSegments }: { numSegments: number },
): TensorInfo {
  if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `unsortedSegmentSum: segmentIds must be 1-D with one id per row of x (${x.shape[0]}); got shape [${segmentIds.shape.join()}]`,
    );
  }
  const rowSize = sizeOf(x.shape.slice(1));
  const out = calls.output([numSegments, ...x.shape.slice(1)], x.dtype);
  const [sums, values, ids] = [calls.heap(out), calls.heap(x), calls.heap(segmentIds)];
  sums.fill(0);
  const wrap = x.dtype === 'int32';
  for (let row = 0; row < ids.length; row++) {
    const id = ids[row]!;
    if (id < 0 || id >= numSegments) continue;
    const [to, from] = [id * rowSize, row * rowSize];
    for (let i = 0; i < rowSize; i++)
      sums[to + i] = wrap ? (sums[to + i]! + values[from + i]!) | 0 : sums[to + i]! + values[from + i]!;
  }
  return out;
}

/**
 * tfjs-wasm's forward convolutions, guarded against writing past their output. tfjs sizes a
 * convolution's output (`computeConv2DInfo`): with a numeric padding from the filter's height and
 * the stride's alone, for both dimensions, and with `dimRoundingMode` rounded its own way;
 * XNNPACK, which tfjs-wasm hands the convolution to, writes the size the geometry really has.
 * Where the two differ, XNNPACK would write past the end of the output on the wasm heap (or leave
 * part of it unwritten): the guard refuses those calls and passes every other to tfjs-wasm.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { single, type TensorInfo, type WasmCalls } from './backend.js';

export interface ConvolutionAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | TF.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The output height and width XNNPACK computes for this geometry. */
function xnnpackOutput(info: TF.backend_util.Conv2DInfo): [number, number] {
  const { inHeight, inWidth, strideHeight, strideWidth, padInfo } = info;
  if (padInfo.type === 'SAME') return [Math.ceil(inHeight / strideHeight), Math.ceil(inWidth / strideWidth)];
  const rows = inHeight + padInfo.top + padInfo.bottom - info.effectiveFilterHeight;
  const columns = inWidth + padInfo.left + padInfo.right - info.effectiveFilterWidth;
  return [Math.floor(rows / strideHeight) + 1, Math.floor(columns / strideWidth) + 1];
}

/** Runs tfjs-wasm's convolution `name` unless tfjs and XNNPACK disagree on its output's size. */
export function guardedConvolution(
  calls: WasmCalls,
  name: string,
  original: TF.KernelFunc,
  inputs: { x: TensorInfo; filter: TensorInfo },
  attrs: ConvolutionAttrs,
): TensorInfo {
  const depthwise = name.includes('Depthwise');
  const info = calls.tf.backend_util.computeConv2DInfo(
    inputs.x.shape as [number, number, number, number],
    inputs.filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    calls.tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'),
  );
  const [rows, columns] = xnnpackOutput(info);
  if (rows !== info.outHeight || columns !== info.outWidth) {
    const past = rows * columns > info.outHeight * info.outWidth;
    throw new Error(
      `${name}: tfjs sizes this convolution's output ${info.outHeight}x${info.outWidth}, but tfjs-wasm's XNNPACK ` +
        `would write ${rows}x${columns}, ${past ? 'past the end of the output' : 'leaving part of the output unwritten'} ` +
        `(padding ${JSON.stringify(attrs.pad)}, filter ${info.filterHeight}x${info.filterWidth}, strides ` +
        `${info.strideHeight}x${info.strideWidth}` +
        `${attrs.dimRoundingMode === undefined ? '' : `, dimRoundingMode '${attrs.dimRoundingMode}'`}). For a numeric ` +
        "padding tfjs reads the filter's height and the stride's for both dimensions and rounds by dimRoundingMode, " +
        "where XNNPACK floors: use 'same', 'valid' or explicit paddings",
    );
  }
  return single(name, original({ inputs: inputs, backend: calls.backend, attrs: attrs as never }));
}

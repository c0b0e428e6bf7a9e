/**
 * The JS kernels: the programs of `rmsprop.ts` generated as JavaScript (`emit-js.ts`), every
 * operation rounded to the dtype. The fallback where WebAssembly SIMD is unwanted, and tested
 * against the plain reference in test/ and against the SIMD kernels, bytewise.
 */
import type { DType } from '../memory/dtype.js';
import { compileJs } from './emit-js.js';
import { chunkKernels, KernelTable } from './run.js';
import type { KernelSet } from './types.js';

function jsKernelsFor(dtype: DType) {
  const table = new KernelTable((program, variant) => compileJs(program, variant, dtype));
  return chunkKernels(() => table);
}

export const jsKernels: KernelSet = Object.freeze({
  float32: jsKernelsFor('float32'),
  float64: jsKernelsFor('float64'),
  float16: jsKernelsFor('float16'),
  bfloat16: jsKernelsFor('bfloat16'),
});

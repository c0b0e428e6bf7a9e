/**
 * Kernel implementations by name. The name (not the functions) travels to the worker threads,
 * which look it up here, so the calling thread and every lane run the same implementation.
 */
import { jsKernels } from './js.js';
import type { KernelSet } from './types.js';
import { kernelModule, wasmKernels } from './wasm/index.js';

/** 'wasm': WebAssembly SIMD (the default); 'js': the reference kernels. */
export type KernelName = 'wasm' | 'js';

export const kernelSets: Readonly<Record<KernelName, KernelSet>> = { wasm: wasmKernels, js: jsKernels };

/** Loads and compiles what a kernel set needs now, so a broken install fails at build, not mid-step. */
export function prepareKernels(name: KernelName): void {
  if (name === 'wasm') kernelModule();
}

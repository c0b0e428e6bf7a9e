/**
 * Kernel implementations by name. The name (not the functions) travels to the worker threads,
 * which look it up here, so the calling thread and every lane run the same implementation.
 */
import { jsKernels } from './js.js';
import type { KernelSet } from './types.js';
import { wasmKernels } from './wasm/index.js';

export const kernelSets = { wasm: wasmKernels, js: jsKernels } as const satisfies Record<string, KernelSet>;

export type KernelName = keyof typeof kernelSets;

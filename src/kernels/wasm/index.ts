/**
 * The WebAssembly SIMD kernels: the functions `generate.ts` makes from the programs (assembled
 * into kernels.wasm at build), instantiated once per thread and shared memory segment. Each
 * call is one pass over a run of a variable's elements, in the specialisation the step needs;
 * the call's arguments are laid out from the program's signature, as the generator laid out
 * the function's parameters.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GroupViews } from '../../memory/arena.js';
import { bytesPerElement } from '../../memory/dtype.js';
import type { Program } from '../program.js';
import { STEP_WORDS, VARIABLE_WORDS } from '../rmsprop-words.js';
import { chunkKernels, KernelTable, type Kernel } from '../run.js';
import { signatureOf } from '../signature.js';
import type { KernelSet } from '../types.js';
import { exportName } from './generate.js';

const BINARY = new URL('./kernels.wasm', import.meta.url);
let compiled: WebAssembly.Module | null = null;
/** Per thread: the specialisations bound to each segment (a segment has one dtype). */
const tables = new WeakMap<WebAssembly.Memory, KernelTable>();

/** The compiled kernels (once per thread). Throws a clear error when the build step was skipped. */
export function kernelModule(): WebAssembly.Module {
  if (compiled === null) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(BINARY);
    } catch (cause) {
      throw new Error(
        `rmsprop-pool: the WebAssembly kernels (${fileURLToPath(BINARY)}) are missing: ` +
          "run `npm run build`, or pass kernels: 'js'",
        { cause },
      );
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/**
 * A Kernel calling export `fn`: byte addresses of the program's arrays at `first` (0 for an
 * absent slot), its step and variable words, its switches, the shard count, stride in bytes
 * and divisor — in the signature's order.
 */
export function callerSource(program: Program, bytes: number): string {
  const sig = signatureOf(program);
  const args = [
    'n',
    ...sig.arrays.map((a) => `views.${a} === null ? 0 : views.${a}.byteOffset + first * ${bytes}`),
    ...sig.stepWords.map((w) => `step[${STEP_WORDS.index[w]}]`),
    ...sig.variableWords.map((w) => `words[base + ${VARIABLE_WORDS.index[w]}]`),
    ...sig.switches.map((w) => `step[${STEP_WORDS.index[w]}] !== 0 ? 1 : 0`),
    ...(sig.shards ? ['views.shardCount', `views.shardStride * ${bytes}`, 'views.shardDivisor'] : []),
  ];
  return `return (views, first, n, step, words, base) => fn(${args.join(', ')});`;
}

function tableOf(views: GroupViews): KernelTable {
  let table = tables.get(views.memory);
  if (table === undefined) {
    const { exports } = new WebAssembly.Instance(kernelModule(), { env: { memory: views.memory } });
    const bytes = bytesPerElement(views.dtype);
    table = new KernelTable((program, variant) => {
      const fn = exports[exportName(views.dtype, program, variant)];
      if (typeof fn !== 'function') throw new Error(`kernels.wasm lacks ${exportName(views.dtype, program, variant)}`);
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the program's signature
      const caller = new Function('fn', callerSource(program, bytes)) as (exported: typeof fn) => Kernel;
      return caller(fn);
    });
    tables.set(views.memory, table);
  }
  return table;
}

const kernels = chunkKernels(tableOf);
export const wasmKernels: KernelSet = Object.freeze({
  float32: kernels,
  float64: kernels,
  float16: kernels,
  bfloat16: kernels,
});

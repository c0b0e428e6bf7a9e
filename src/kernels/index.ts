/**
 * Kernel sets by name (`rmsprop-pool/kernels`). The name (not the functions) travels to the
 * worker threads, which look it up in their own registry, so the calling thread and every lane
 * run the same implementation. The built-in sets are 'wasm' and 'js'; a custom set is named by
 * the URL of the ES module that registers it, which is what lets a worker thread load it:
 * importing that URL registers it there.
 *
 * @module
 */
import { quote } from '../common/quote.js';
import { jsKernels } from './js.js';
import type { Kernels, KernelSet } from './types.js';
import { kernelModule, wasmKernels } from './wasm/index.js';

export type { Kernels, KernelSet } from './types.js';
export type { FieldViews, GroupViews, SharedMemory } from '../memory/arena.js';
export type { AlwaysField, Field } from '../memory/slots.js';

/** The built-in kernel sets: 'wasm' (WebAssembly SIMD, the default) and 'js' (generated JavaScript, the same bytes). */
export type BuiltinKernelName = 'wasm' | 'js';

/**
 * A kernel set's name: 'wasm', 'js', or the URL a custom set was registered under (the string
 * {@link registerKernels} returns).
 */
export type KernelName = BuiltinKernelName | (string & {});

const BUILTIN: Readonly<Record<BuiltinKernelName, KernelSet>> = Object.freeze({ wasm: wasmKernels, js: jsKernels });
const DTYPES = ['float32', 'float64'] as const satisfies ReadonlyArray<keyof KernelSet>;
const OPTIONAL_DTYPES = ['float16', 'bfloat16'] as const satisfies ReadonlyArray<keyof KernelSet>;

/** Custom sets registered on this thread, by module URL (each thread has its own). */
const registered = new Map<string, KernelSet>();

/** @internal Whether `name` is 'wasm' or 'js'. */
export function isBuiltinKernels(name: unknown): name is BuiltinKernelName {
  return typeof name === 'string' && Object.hasOwn(BUILTIN, name);
}

/** @internal Whether `name` names a kernel set on this thread: a built-in one, or one registered here. */
export function hasKernels(name: unknown): name is KernelName {
  return isBuiltinKernels(name) || (typeof name === 'string' && registered.has(name));
}

/** @internal Every kernel set name known on this thread: the built-in ones, then the registered ones. */
export function kernelNames(): KernelName[] {
  return [...(Object.keys(BUILTIN) as BuiltinKernelName[]), ...registered.keys()];
}

/**
 * Registers a custom kernel set under the URL of the module that defines it, on this thread,
 * and returns that name (the URL's `href`) for the `kernels` option.
 *
 * The module must be an ES module that calls `registerKernels(import.meta.url, set)` at its top
 * level, and the calling thread must import it before an optimizer names it. Each worker thread
 * of the pool imports the module by that URL before it runs its lane, which registers the set in
 * the worker's own registry; a module that fails to import there, or does not register under its
 * URL, fails the step with a StepError naming why. Import `registerKernels` from
 * `rmsprop-pool/kernels` (the same registry as the main entry): a pool thread then loads the
 * kernels only, not the whole library. Registering again under the same URL replaces the set on
 * this thread.
 *
 * A set provides {@link Kernels} for float32 and float64, and for float16 and bfloat16 if it
 * supports them; it may wrap a built-in one
 * (`kernelSet('js')`, `kernelSet('wasm')`). Every implementation must give the same bytes for
 * any partition of the chunks, which is what makes results independent of `workers`.
 *
 * @example
 * ```ts
 * // my-kernels.mjs
 * import { kernelSet, registerKernels } from 'rmsprop-pool/kernels';
 * const js = kernelSet('js');
 * export const myKernels = registerKernels(import.meta.url, { float32: js.float32, float64: js.float64 });
 * // elsewhere: new RMSprop({ kernels: (await import('./my-kernels.mjs')).myKernels })
 * ```
 */
export function registerKernels(moduleUrl: string | URL, set: KernelSet): string {
  const what = 'registerKernels';
  if (typeof moduleUrl !== 'string' && !(moduleUrl instanceof URL)) {
    throw new TypeError(`${what}: \`moduleUrl\` must be a string or a URL (import.meta.url), got ${quote(moduleUrl)}`);
  }
  if (!URL.canParse(String(moduleUrl))) {
    throw new TypeError(
      `${what}: \`moduleUrl\` must be an absolute URL (the module's import.meta.url), got ${quote(String(moduleUrl))}`,
    );
  }
  if (set === null || typeof set !== 'object') {
    throw new TypeError(`${what}: \`set\` must be an object of Kernels by dtype, got ${quote(set)}`);
  }
  const copy: Partial<Record<keyof KernelSet, Kernels>> = {};
  for (const dtype of [...DTYPES, ...OPTIONAL_DTYPES]) {
    const kernels: unknown = set[dtype];
    if (kernels === undefined && (OPTIONAL_DTYPES as readonly string[]).includes(dtype)) continue;
    for (const entry of ['sumSquares', 'update', 'sumShards'] as const) {
      const fn: unknown = kernels !== null && typeof kernels === 'object' ? Reflect.get(kernels, entry) : undefined;
      if (typeof fn !== 'function') {
        throw new TypeError(`${what}: \`set.${dtype}.${entry}\` must be a function, got ${quote(fn)}`);
      }
    }
    copy[dtype] = kernels as Kernels;
  }
  const name = new URL(moduleUrl).href;
  registered.set(name, Object.freeze(copy as KernelSet));
  return name;
}

/**
 * The kernel set named `name` on this thread: 'wasm' and 'js' are the built-in ones (for a custom
 * set to wrap), any other name must have been registered here with {@link registerKernels}.
 */
export function kernelSet(name: KernelName): KernelSet {
  const set = isBuiltinKernels(name) ? BUILTIN[name] : registered.get(name);
  if (set === undefined) {
    throw new TypeError(
      `no kernel set is named ${quote(name)} on this thread: the names are 'wasm', 'js' and the URLs ` +
        'passed to registerKernels() here (import the module that registers it first)',
    );
  }
  return set;
}

/** @internal Loads and compiles what a kernel set needs now, so a broken install fails at build, not mid-step. */
export function prepareKernels(name: KernelName): void {
  if (name === 'wasm') kernelModule();
}

/**
 * `useWasmTrainingKernels(tf)`: makes tfjs-wasm fit for training. It replaces `BatchMatMul` and
 * `_FusedMatMul` (every product on XNNPACK, fused products right: `matmul.ts`), guards the forward
 * convolutions against writing past their output (`conv-guard.ts`) and adds the backprop kernels
 * tfjs-wasm lacks (`backprop.ts`). Kernels are registered in tfjs's global
 * registry for the backend named 'wasm'; the returned function puts tfjs's own back.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { quote } from '../../common/quote.js';
import { WasmCalls, type Tf, type WasmBackend } from './backend.js';
import {
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  unsortedSegmentSum,
  type DepthwiseBackpropAttrs,
} from './backprop.js';
import { conv2dBackpropInput, type Conv2DBackpropFilterAttrs, type Conv2DBackpropInputAttrs } from './conv-backprop.js';
import { conv2dBackpropFilter } from './conv-filter-gradient.js';
import { compare, COMPARISONS } from './comparisons.js';
import { guardedConvolution, type ConvolutionAttrs } from './conv-guard.js';
import { batchMatMul, fusedMatMul, type FusedAttrs, type FusedInputs } from './matmul.js';
import { avgPoolGrad, maxPoolGrad, type PoolGradientAttrs } from './pool-gradients.js';
import { unpack } from './unpack.js';
import { gather, type GatherAttrs } from './gather.js';

type Inputs = Record<string, TF.TensorInfo>;
type Kernel = (
  calls: WasmCalls,
  inputs: Inputs,
  attrs: never,
  original: TF.KernelFunc | null,
) => TF.TensorInfo | TF.TensorInfo[];

/** A guard around tfjs-wasm's own forward convolution `name` (conv-guard.ts). */
const guard =
  (name: string): Kernel =>
  (calls, inputs, attrs: ConvolutionAttrs, original) =>
    guardedConvolution(calls, name, original!, inputs as { x: TF.TensorInfo; filter: TF.TensorInfo }, attrs);

/** tfjs-wasm's kernels ours replace (the rest of `KERNELS` are kernels it lacks). */
const REPLACING = new Set([
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2D',
  'FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'Conv2DBackpropInput',
  'MaxPoolGrad',
  'AvgPoolGrad',
  'Unpack',
  'GatherV2',
  ...Object.keys(COMPARISONS),
]);

/** Ours, by kernel name: those replacing tfjs-wasm's, then those it lacks. */
const KERNELS: Readonly<Record<string, Kernel>> = {
  BatchMatMul: (calls, { a, b }, attrs: { transposeA: boolean; transposeB: boolean }) =>
    batchMatMul(calls, a!, b!, attrs.transposeA, attrs.transposeB),
  _FusedMatMul: (calls, inputs, attrs: FusedAttrs, original) =>
    fusedMatMul(calls, original!, inputs as unknown as FusedInputs, attrs),
  Conv2D: guard('Conv2D'),
  FusedConv2D: guard('FusedConv2D'),
  DepthwiseConv2dNative: guard('DepthwiseConv2dNative'),
  FusedDepthwiseConv2D: guard('FusedDepthwiseConv2D'),
  Conv2DBackpropInput: (calls, inputs, attrs: Conv2DBackpropInputAttrs) =>
    conv2dBackpropInput(calls, inputs as { dy: TF.TensorInfo; filter: TF.TensorInfo }, attrs),
  MaxPoolGrad: (calls, inputs, attrs: PoolGradientAttrs) =>
    maxPoolGrad(calls, inputs as { dy: TF.TensorInfo; input: TF.TensorInfo }, attrs),
  AvgPoolGrad: (calls, inputs, attrs: PoolGradientAttrs) =>
    avgPoolGrad(calls, inputs as { dy: TF.TensorInfo; input: TF.TensorInfo }, attrs),
  Unpack: (calls, inputs, attrs: { axis: number }, original) =>
    unpack(calls, original!, inputs as { value: TF.TensorInfo }, attrs),
  GatherV2: (calls, inputs, attrs: GatherAttrs, original) =>
    gather(calls, original!, inputs as { x: TF.TensorInfo; indices: TF.TensorInfo }, attrs),
  ...Object.fromEntries(
    Object.keys(COMPARISONS).map((name): [string, Kernel] => [
      name,
      (calls, inputs) => compare(calls, name, inputs as { a: TF.TensorInfo; b: TF.TensorInfo }),
    ]),
  ),
  Conv2DBackpropFilter: (calls, inputs, attrs: Conv2DBackpropFilterAttrs) =>
    conv2dBackpropFilter(calls, inputs as { x: TF.TensorInfo; dy: TF.TensorInfo }, attrs),
  DepthwiseConv2dNativeBackpropFilter: (calls, inputs, attrs: DepthwiseBackpropAttrs & { filterShape: never }) =>
    depthwiseBackpropFilter(calls, inputs as { x: TF.TensorInfo; dy: TF.TensorInfo }, attrs),
  DepthwiseConv2dNativeBackpropInput: (calls, inputs, attrs: DepthwiseBackpropAttrs & { inputShape: never }) =>
    depthwiseBackpropInput(calls, inputs as { dy: TF.TensorInfo; filter: TF.TensorInfo }, attrs),
  UnsortedSegmentSum: (calls, inputs, attrs: { numSegments: number }) =>
    unsortedSegmentSum(calls, inputs as { x: TF.TensorInfo; segmentIds: TF.TensorInfo }, attrs),
};

/** tfjs-wasm's kernels that ours call (besides the ones they replace). */
const COMPOSED_FROM = ['Transpose', 'Conv2D', 'Add', 'Relu', 'Relu6', 'Elu', 'Sigmoid', 'LeakyRelu', 'Prelu'];

/** Marks our kernel functions, holding the kernel each replaced (null: tfjs-wasm had none). */
const OURS = Symbol.for('rmsprop-pool.wasmTrainingKernel');
type OurKernelFunc = TF.KernelFunc & { [OURS]: TF.KernelConfig | null };

/** What `useWasmTrainingKernels` returns: call it to put tfjs's own kernels back. */
export interface WasmTrainingKernels {
  (): void;
  /** tfjs-wasm kernels replaced by ours (now or by an earlier call). */
  readonly replaced: readonly string[];
  /** Kernels tfjs-wasm lacked, now registered. */
  readonly added: readonly string[];
}

function isOurs(config: TF.KernelConfig | undefined): config is TF.KernelConfig & { kernelFunc: OurKernelFunc } {
  return config !== undefined && OURS in config.kernelFunc;
}

function checkTfjs(tf: Tf): void {
  const api = tf as Partial<Tf> | null;
  if (
    api === null ||
    typeof api !== 'object' ||
    typeof api.registerKernel !== 'function' ||
    typeof api.getKernel !== 'function'
  ) {
    throw new TypeError(
      "useWasmTrainingKernels: 'tf' must be the tfjs module (import * as tf from '@tensorflow/tfjs-core'), " +
        `got ${api === null ? 'null' : typeof api}`,
    );
  }
  const version = (tf as { version_core?: string }).version_core ?? '';
  if (!version.startsWith('4.')) {
    throw new Error(`useWasmTrainingKernels: needs tfjs 4.x; this tfjs-core is '${version}'`);
  }
  if (tf.getKernel('BatchMatMul', 'wasm') === undefined) {
    throw new Error(
      "useWasmTrainingKernels: this tfjs has no wasm backend registered: import '@tensorflow/tfjs-backend-wasm' " +
        '(with the same copy of @tensorflow/tfjs-core) before calling it',
    );
  }
  const missing = COMPOSED_FROM.filter((name) => tf.getKernel(name, 'wasm') === undefined);
  if (missing.length > 0) {
    throw new Error(`useWasmTrainingKernels: this tfjs-wasm lacks the kernels ours are made of: ${missing.join(', ')}`);
  }
}

/**
 * Registers, for tfjs's wasm backend, `BatchMatMul` and `_FusedMatMul` kernels that run every
 * product on XNNPACK and fused products correctly; guards on tfjs-wasm's forward convolutions
 * (`Conv2D`, `FusedConv2D`, `DepthwiseConv2dNative`, `FusedDepthwiseConv2D`), which refuse the
 * geometries where tfjs-wasm would write past their output; and the kernels training needs that
 * tfjs-wasm lacks (`Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropInput`, `UnsortedSegmentSum`). It works before or after the wasm
 * backend starts, and changes nothing on other backends: where tfjs already runs on another one,
 * it says so in a process warning (code `RMSPROP_POOL_TFJS_NOT_WASM`).
 *
 * Calling it again while ours are in place wraps nothing twice. A kernel tfjs-wasm already has
 * of the ones it lacks today (a later tfjs) is left as tfjs has it.
 *
 * @param tf the tfjs module whose wasm backend trains (`@tensorflow/tfjs-core` or `@tensorflow/tfjs`)
 * @returns a function that puts tfjs's own kernels back; it names what was replaced and added
 * @throws when `tf` is not tfjs 4.x, or has no wasm backend registered
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-wasm';
 * const restore = useWasmTrainingKernels(tf);
 * await tf.setBackend('wasm');
 * // ... train ...
 * restore();
 * ```
 */
export function useWasmTrainingKernels(tf: Tf): WasmTrainingKernels {
  checkTfjs(tf);
  const replaced: string[] = [];
  const added: string[] = [];
  const originals = new Map<string, TF.KernelFunc>();
  for (const name of Object.keys(KERNELS)) {
    const existing = tf.getKernel(name, 'wasm');
    if (isOurs(existing)) {
      const original = existing.kernelFunc[OURS];
      (original === null ? added : replaced).push(name);
      if (original !== null) originals.set(name, original.kernelFunc);
    } else if (existing !== undefined) {
      if (REPLACING.has(name)) originals.set(name, existing.kernelFunc);
    }
  }
  const callsOf = new WeakMap<object, WasmCalls>();
  for (const [name, kernel] of Object.entries(KERNELS)) {
    const existing = tf.getKernel(name, 'wasm');
    if (isOurs(existing)) continue;
    if (existing !== undefined && !originals.has(name)) continue; // a kernel tfjs-wasm now has of its own
    const original = originals.get(name) ?? null;
    const kernelFunc = ((args: { inputs: Inputs; backend: object; attrs?: object }) => {
      let calls = callsOf.get(args.backend);
      if (calls === undefined) {
        calls = new WasmCalls(tf, args.backend as WasmBackend, originals);
        callsOf.set(args.backend, calls);
      }
      return kernel(calls, args.inputs, (args.attrs ?? {}) as never, original);
    }) as OurKernelFunc;
    kernelFunc[OURS] = existing ?? null;
    if (existing !== undefined) tf.unregisterKernel(name, 'wasm');
    // tfjs-wasm binds its kernel's wasm export when the backend starts: keep that for the one we call
    const setup = existing?.setupFunc === undefined ? {} : { setupFunc: existing.setupFunc };
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc, ...setup });
    (existing === undefined ? added : replaced).push(name);
  }
  const active = (tf.engine() as unknown as { backendName?: string | null }).backendName;
  if (active != null && active !== 'wasm') {
    process.emitWarning(
      `useWasmTrainingKernels: tfjs runs on its '${active}' backend; the kernels take effect on 'wasm' (await tf.setBackend('wasm'))`,
      { code: 'RMSPROP_POOL_TFJS_NOT_WASM' },
    );
  }
  const restore = () => restoreTfjsKernels(tf);
  return Object.assign(restore, { replaced, added });
}

/** Which kernels train on tfjs-wasm: ours (`useWasmTrainingKernels`) or tfjs's own. */
export type TfjsKernels = 'fast' | 'tfjs';

/** On a thread this library owns: ours on wasm unless `kernels` is 'tfjs'. */
export function chooseKernels(tf: Tf, backend: string, kernels: TfjsKernels = 'fast'): void {
  if (kernels !== 'fast' && kernels !== 'tfjs') {
    throw new TypeError(`kernels: expected 'fast' or 'tfjs', got ${quote(kernels)}`);
  }
  if (backend === 'wasm' && kernels === 'fast') useWasmTrainingKernels(tf);
}

/**
 * Runs `compute` with the kernel set `kernels` registered for wasm, then puts back the set the
 * thread had: for work on a caller's thread (a profile) that must neither take the caller's
 * choice as its own nor leave its own behind.
 */
export async function withKernels<T>(tf: Tf, kernels: TfjsKernels, compute: () => Promise<T>): Promise<T> {
  const had = isOurs(tf.getKernel('BatchMatMul', 'wasm'));
  const want = kernels === 'fast';
  const register = (ours: boolean) => void (ours ? useWasmTrainingKernels(tf) : restoreTfjsKernels(tf));
  if (want !== had) register(want);
  try {
    return await compute();
  } finally {
    if (want !== had) register(had);
  }
}

/** Puts tfjs's own kernels back wherever ours are registered. */
function restoreTfjsKernels(tf: Tf): void {
  for (const name of Object.keys(KERNELS)) {
    const current = tf.getKernel(name, 'wasm');
    if (!isOurs(current)) continue;
    tf.unregisterKernel(name, 'wasm');
    const original = current.kernelFunc[OURS];
    if (original !== null) tf.registerKernel(original);
  }
}

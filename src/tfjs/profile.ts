/**
 * Where a training step of the user's own model goes: one micro-batch's gradients, computed on
 * this thread exactly as a tfjs replica thread computes them (the same module, backend and
 * kernels), timed, then once under `tf.profile`. Per kernel: its time, and its GFLOP/s where the
 * op's arithmetic is known from its shapes; the share of the step outside kernels; and the kernels
 * on a slow path, named: those below a quarter of this backend's plain product rate, measured here,
 * that take at least 2% of the kernels' time.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { quote } from '../common/quote.js';
import type { ReplicaVariable } from '../training/replica.js';
import { checkTfjsReplicaOptions, type CheckedTfjsReplicaOptions, type TfjsReplicaOptions } from './replica-options.js';
import type { LayersApi } from './losses.js';
import { buildModel, createReplica, startTfjs } from './replica.js';
import { withKernels } from './wasm/index.js';

/** What to profile: the replica's options (the model's factory, loss, backend, kernels), and the batch. */
export interface ProfileOptions extends TfjsReplicaOptions {
  /** Rows in the micro-batch. */
  readonly batch: number;
  /** Timed steps, after 2 warm-up steps (the median is reported). Default 3. */
  readonly steps?: number;
}

/** One kernel's share of the step. */
export interface KernelProfile {
  readonly name: string;
  readonly calls: number;
  readonly ms: number;
  /** Floating-point operations, where the op's arithmetic is known from its shapes (products and convolutions); else null. */
  readonly flops: number | null;
  /** flops / ms, or null. */
  readonly gflops: number | null;
  /** Below a quarter of the backend's plain product rate, and at least 2% of the kernels' time. */
  readonly slow: boolean;
}

/** One micro-batch's gradients of a model, timed and broken down by kernel (`profileTrainingStep`). */
export interface StepProfile {
  readonly backend: string;
  readonly kernels: 'fast' | 'tfjs';
  readonly batch: number;
  /** Median ms of a step's gradients (forward and backward, the loss, the gradients read out). */
  readonly stepMs: number;
  /** The profiled step's kernels, most time first. */
  readonly perKernel: readonly KernelProfile[];
  /** The profiled step's time inside kernels, in ms. */
  readonly kernelMs: number;
  /**
   * The median step less that (tfjs's bookkeeping, the tape, copies), in ms: not the profiled
   * step's own rest, which `tf.profile`'s records inflate (by half, for a GRU's 30,000 kernels).
   */
  readonly outsideMs: number;
  /** The profiled step's wall time, profiling included, in ms. */
  readonly profiledMs: number;
  /** GFLOP/s of a plain 512x512x512 product on this backend: the yardstick for `slow`. */
  readonly productGflops: number;
}

type ProfileInfo = Awaited<ReturnType<typeof TF.profile>>['kernels'][number];
const size = (shape: readonly number[] | undefined): number => (shape ?? []).reduce((n, d) => n * d, 1);

/** Floating-point operations of a kernel call, from its shapes, where its arithmetic is known. */
export function kernelFlops(name: string, inputs: readonly number[][], outputs: readonly number[][]): number | null {
  const [first, second] = [inputs[0] ?? [], inputs[1] ?? []];
  const out = outputs[0] ?? [];
  switch (name) {
    case 'BatchMatMul':
    case '_FusedMatMul': {
      // the contracted length: a's matrix dimension that is not the output's rows
      const [m, a1, a2] = [out.at(-2)!, first.at(-2)!, first.at(-1)!];
      return 2 * size(out) * (a1 === m ? a2 : a1);
    }
    case 'Conv2D':
    case 'FusedConv2D': // filter [fh, fw, in, out]
      return 2 * size(out) * second[0]! * second[1]! * second[2]!;
    case 'Conv2DBackpropInput': // dy, filter
      return 2 * size(first) * second[0]! * second[1]! * second[2]!;
    case 'Conv2DBackpropFilter': // x, dy -> filter
      return 2 * size(second) * out[0]! * out[1]! * out[2]!;
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D':
      return 2 * size(out) * second[0]! * second[1]!;
    case 'DepthwiseConv2dNativeBackpropInput': // dy, filter
      return 2 * size(first) * second[0]! * second[1]!;
    case 'DepthwiseConv2dNativeBackpropFilter': // x, dy -> filter
      return 2 * size(second) * out[0]! * out[1]!;
    default:
      return null;
  }
}

/** Median of a non-empty list. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** GFLOP/s of a plain product on the current backend (its best of 5). */
function productRate(tf: typeof TF): number {
  const [a, b] = [tf.randomUniform([512, 512]), tf.randomUniform([512, 512])];
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const started = performance.now();
    tf.tidy(() => void tf.matMul(a, b).dataSync());
    if (i > 0) best = Math.min(best, performance.now() - started);
  }
  tf.dispose([a, b]);
  return (2 * 512 ** 3) / best / 1e6;
}

/**
 * Profiles one micro-batch's gradients of the factory's model, on this thread, as a tfjs replica
 * computes them; the inputs are random (zeros where the model takes integers), the targets too.
 * The thread's tfjs backend and wasm kernels are as they were when it resolves.
 */
export async function profileTrainingStep(options: ProfileOptions): Promise<StepProfile> {
  const { batch, steps = 3, ...replicaOptions } = options;
  if (!Number.isInteger(batch) || batch < 1)
    throw new TypeError(`profile: \`batch\` must be a positive integer, got ${quote(batch)}`);
  if (!Number.isInteger(steps) || steps < 1)
    throw new TypeError(`profile: \`steps\` must be a positive integer, got ${quote(steps)}`);
  const checked = checkTfjsReplicaOptions(replicaOptions);
  // on the caller's thread: its backend and its kernel set are put back after
  const tf = await import('@tensorflow/tfjs-core');
  const previous = (tf.engine() as unknown as { backendName?: string | null }).backendName ?? null;
  try {
    await startTfjs({ ...checked, kernels: 'tfjs' }); // the model is built on the backend the replica uses
    const profile = () => profileOn(tf, checked, batch, steps);
    return await (checked.backend === 'wasm' ? withKernels(tf, checked.kernels, profile) : profile());
  } finally {
    if (previous !== null && previous !== checked.backend) await tf.setBackend(previous);
  }
}

/** The profile, on the backend and kernels already chosen. */
async function profileOn(
  tf: typeof TF,
  checked: CheckedTfjsReplicaOptions,
  batch: number,
  steps: number,
): Promise<StepProfile> {
  const tfl = (await import('@tensorflow/tfjs-layers')) as unknown as LayersApi;
  const { model } = await buildModel(tf, tfl, checked);
  const variables: ReplicaVariable[] = model.trainableWeights.map((w) => ({
    name: w.name,
    shape: w.shape as number[],
    dtype: 'float32',
    value: new Float32Array(size(w.shape as number[])),
  }));
  for (const [k, w] of model.trainableWeights.entries()) {
    (variables[k]!.value as Float32Array).set((w.read() as TF.Tensor).dataSync());
  }
  const replica = await createReplica({ variables, options: checked, replica: 0 });
  const rows = replica.rowShape!;
  const integers = model.inputs[0]?.dtype === 'int32';
  const inputs = Float32Array.from({ length: batch * size(rows.inputs) }, () => (integers ? 0 : Math.random()));
  const sparse = checked.loss === 'sparseCategoricalCrossentropy';
  const targets = Float32Array.from({ length: batch * size(rows.targets ?? [1]) }, () => (sparse ? 0 : Math.random()));
  const grads = variables.map((v) => new Float32Array(v.value.length));
  let step = 0;
  const run = async () =>
    void (await replica.gradients({ index: 0, step: step++, seed: step, rows: batch, inputs, targets }, grads));
  const times: number[] = [];
  for (let s = 0; s < 2 + steps; s++) {
    const started = performance.now();
    await run();
    if (s >= 2) times.push(performance.now() - started);
  }
  const productGflops = productRate(tf);
  let profiledMs = 0;
  const profile = await tf.profile(async () => {
    const started = performance.now();
    await run();
    profiledMs = performance.now() - started;
  });
  await replica.close?.();
  const perKernel = byKernel(profile.kernels, productGflops);
  const kernelMs = perKernel.reduce((sum, k) => sum + k.ms, 0);
  return {
    backend: checked.backend,
    kernels: checked.kernels,
    batch,
    stepMs: median(times),
    perKernel,
    kernelMs,
    outsideMs: Math.max(0, median(times) - kernelMs),
    profiledMs,
    productGflops,
  };
}

/** The least share of the kernels' time a kernel must take to be named as on a slow path. */
const SLOW_SHARE = 0.02;

/** The profile's kernel calls summed by kernel, most time first; slow: known arithmetic below a quarter of `productGflops`. */
export function byKernel(kernels: readonly ProfileInfo[], productGflops: number): KernelProfile[] {
  const totals = new Map<string, { calls: number; ms: number; flops: number | null }>();
  for (const k of kernels) {
    if (k.name.endsWith('__op')) continue; // an op's scope (a custom gradient): its kernels are listed on their own
    const entry = totals.get(k.name) ?? { calls: 0, ms: 0, flops: 0 };
    const flops = kernelFlops(k.name, k.inputShapes, k.outputShapes);
    entry.calls++;
    entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    entry.flops = flops === null || entry.flops === null ? null : entry.flops + flops;
    totals.set(k.name, entry);
  }
  let total = 0;
  for (const { ms } of totals.values()) total += ms;
  return [...totals]
    .map(([name, { calls, ms, flops }]) => {
      const gflops = flops === null || ms <= 0 ? null : flops / ms / 1e6;
      // a slow path that costs next to nothing is not worth naming
      const slow = gflops !== null && gflops < productGflops / 4 && ms >= SLOW_SHARE * total;
      return { name, calls, ms, flops, gflops, slow };
    })
    .sort((a, b) => b.ms - a.ms);
}

/** The profile as a markdown table and a few lines of summary. */
export function profileLines(p: StepProfile, top = 15): string[] {
  const share = (ms: number) => `${((100 * ms) / (p.kernelMs + p.outsideMs)).toFixed(1)}%`;
  const slow = p.perKernel.filter((k) => k.slow);
  const calls = p.perKernel.reduce((n, k) => n + k.calls, 0);
  return [
    `one micro-batch of ${p.batch} rows on ${p.backend}${p.backend === 'wasm' ? ` (${p.kernels === 'fast' ? "this library's training kernels" : "tfjs-wasm's own kernels"})` : ''}: ` +
      `${p.stepMs.toFixed(1)} ms (median); a plain product here runs at ${p.productGflops.toFixed(1)} GFLOP/s; ` +
      `${calls} kernel calls, ${((1000 * p.kernelMs) / Math.max(1, calls)).toFixed(1)} µs each on average ` +
      `(the profiled step took ${p.profiledMs.toFixed(1)} ms, its records included)`,
    '',
    '| kernel | calls | ms | share | GFLOP/s | |',
    '|---|---:|---:|---:|---:|---|',
    ...p.perKernel
      .slice(0, top)
      .map(
        (k) =>
          `| ${k.name} | ${k.calls} | ${k.ms.toFixed(1)} | ${share(k.ms)} | ${k.gflops === null ? '' : k.gflops.toFixed(1)} | ${k.slow ? 'slow path' : ''} |`,
      ),
    ...(p.perKernel.length > top
      ? [
          `| ${p.perKernel.length - top} more | | ${p.perKernel
            .slice(top)
            .reduce((s, k) => s + k.ms, 0)
            .toFixed(1)} | | | |`,
        ]
      : []),
    `| outside kernels (the median step less the kernels: tfjs's bookkeeping, the tape, copies) | | ${p.outsideMs.toFixed(1)} | ${share(p.outsideMs)} | | |`,
    '',
    slow.length === 0
      ? 'No kernel with known arithmetic runs below a quarter of the plain product rate.'
      : `On a slow path (below a quarter of the plain product rate): ${slow.map((k) => `${k.name} (${k.gflops!.toFixed(1)} GFLOP/s)`).join(', ')}.`,
  ];
}

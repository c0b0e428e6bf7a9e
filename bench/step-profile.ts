/**
 * Where a replica's step of the synthetic MLP goes, measured on the calling thread doing what
 * the CLI's replica does (src/cli/mlp-replica.ts): the weights copied into tensors once a step,
 * each micro-batch's forward and backward pass (tfjs's kernels, by `tf.profile`), and the
 * gradients read back into the shard views. The trainer's own parts (the optimizer, the control
 * plane) come from the trainer's runs.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { median } from '../src/cli/figures.js';
import { mlpForward } from '../src/cli/mlp-replica.js';
import { readInto } from '../src/tfjs/wasm/backend.js';
import type { Variable } from '../src/index.js';

export interface StepProfile {
  /** Copying every weight from the shared views into tfjs tensors (once a step). */
  readonly weightsCopyMs: number;
  /** Reading every gradient back into the shard views (once a micro-batch). */
  readonly readbackMs: number;
  /** One micro-batch's forward and backward pass: kernel time by kernel (and product shape). */
  readonly kernels: ReadonlyArray<{ readonly kernel: string; readonly ms: number }>;
  /** The same micro-batch's wall time (kernels and tfjs's bookkeeping). */
  readonly microBatchMs: number;
  /**
   * A step's first micro-batch less a later one: XNNPACK packs a product's right operand once
   * per tensor, and the weights are new tensors every step.
   */
  readonly packingMs: number;
}

export async function stepProfile(
  tf: typeof TF,
  variables: readonly Variable[],
  rows: number,
  batch: { inputs: Float32Array; targets: Float32Array },
): Promise<StepProfile> {
  const [inputs, outputs] = [variables[0]!.shape[0]!, variables.at(-1)!.shape[0]!];
  const shards = variables.map((v) => new Float32Array(v.size));
  const copies: number[] = [];
  let weights: TF.Tensor[] = [];
  for (let r = 0; r < 6; r++) {
    tf.dispose(weights);
    const started = performance.now();
    weights = variables.map((v) => tf.tensor(v.value, [...v.shape], 'float32'));
    if (r > 0) copies.push(performance.now() - started);
  }
  const x = tf.tensor2d(batch.inputs.subarray(0, rows * inputs), [rows, inputs]);
  const y = tf.tensor2d(batch.targets.subarray(0, rows * outputs), [rows, outputs]);
  const lossOf = (...w: TF.Tensor[]) =>
    tf.losses.meanSquaredError<TF.Tensor, TF.Scalar>(y, mlpForward(tf, w, x, 'relu'));
  const microBatch = () =>
    tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads(lossOf)(weights);
      grads.forEach((g, k) => readInto(tf, g, shards[k]!));
      value.dataSync();
    });
  const walls: number[] = [];
  const packing: number[] = [];
  for (let r = 0; r < 6; r++) {
    tf.dispose(weights);
    weights = variables.map((v) => tf.tensor(v.value, [...v.shape], 'float32'));
    const started = performance.now();
    microBatch(); // the step's first: packs the new weights
    const second = performance.now();
    microBatch();
    if (r > 0) {
      walls.push(performance.now() - second);
      packing.push(second - started - (performance.now() - second));
    }
  }
  const info = await tf.profile(microBatch);
  const byKernel = new Map<string, number>();
  for (const k of info.kernels) {
    const key = k.name === 'BatchMatMul' ? `BatchMatMul ${k.inputShapes.map((s) => s.join('x')).join(' . ')}` : k.name;
    byKernel.set(key, (byKernel.get(key) ?? 0) + (k.kernelTimeMs as number));
  }
  // the readback alone, from gradients computed once
  const grads = tf.tidy(() => tf.valueAndGrads(lossOf)(weights).grads);
  const readbacks: number[] = [];
  for (let r = 0; r < 6; r++) {
    const started = performance.now();
    grads.forEach((g, k) => readInto(tf, g, shards[k]!));
    if (r > 0) readbacks.push(performance.now() - started);
  }
  tf.dispose([...weights, ...grads, x, y]);
  return {
    weightsCopyMs: median(copies),
    readbackMs: median(readbacks),
    kernels: [...byKernel].map(([kernel, ms]) => ({ kernel, ms })).sort((a, b) => b.ms - a.ms),
    microBatchMs: median(walls),
    packingMs: median(packing),
  };
}

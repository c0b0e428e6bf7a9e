/**
 * What every job of `rmsprop-pool train` shares: its settings, the optimizer the flags make, the
 * MLP variables the iris and synthetic jobs start from, and the run recorder (`Run`): the
 * optimizer over the variables, the loss and the times of every step, a step on one replica
 * and tf.train.rmsprop on the same variables for comparison. The jobs are one per file.
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
import { Progress } from './progress.js';
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
export function mlpVariables(
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

/**
 * Median ms of a training step on one replica, from where `run` is (the first step, which
 * starts the thread, not counted); null when the run had one replica, or ran across a world (its
 * figures are the ranks', and its tally of bytes sent is the run's alone).
 */
export async function oneReplicaStep(
  run: Run,
  makeOptimizer: MakeOptimizer,
  replicas: ReplicaSetup,
  batch: Batch,
): Promise<number | null> {
  if (run.trainer!.replicas === 1 || run.trainer!.optimizer.world !== null) return null;
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

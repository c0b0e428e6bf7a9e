/**
 * The CNN rows of `npm run bench -- --train`, for each CNN: tfjs-layers' `trainOnBatch` on the
 * cpu backend, on wasm with tfjs-wasm's own kernels (it cannot: a backprop kernel is missing) and
 * on wasm with `useWasmTrainingKernels`; then the same CNN data-parallel through `tfjsReplica` on
 * 1 and 2 replicas, with its final bytes compared. The CNNs: a small one on random images
 * (bench/cnn-model.ts, the PyTorch yardstick's), and the CLI's mnist job's on real digits.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { median } from '../src/cli/figures.js';
import { loadDigits } from '../src/cli/mnist-job.js';
import * as mnistModel from '../src/cli/mnist-model.js';
import { uniform } from '../src/cli/random.js';
import { DataParallelTrainer, RMSprop, Variable, type Batch } from '../src/index.js';
import { modelVariables, tfjsReplica, type TfjsLoss } from '../src/tfjs.js';
import { useWasmTrainingKernels } from '../src/tfjs/wasm/index.js';
import * as benchModel from './cnn-model.js';

/** A CNN to measure: its factory module and model, its rows, its losses, its batches. */
export interface CnnSetup {
  readonly factory: URL;
  readonly createModel: () => LayersModel;
  /** One row's input shape. */
  readonly inputShape: readonly number[];
  readonly classes: number;
  /** The loss as trainOnBatch is compiled with it, and as the replicas take it. */
  readonly compileLoss: string | ((y: TF.Tensor, p: TF.Tensor) => TF.Tensor);
  readonly replicaLoss: TfjsLoss;
  /** The batches: the first for trainOnBatch, all of them in turn for the replicas. */
  readonly batches: readonly Batch[];
}

const ROWS = 64;

export interface CnnResult {
  /** Median ms of a trainOnBatch step: cpu backend, wasm with tfjs's kernels (null: it failed), wasm with ours. */
  readonly cpuMs: number;
  readonly wasmTfjs: { readonly ms: number | null; readonly error: string | null };
  readonly wasmFastMs: number;
  /** tfjsReplica on wasm (our kernels on by default): median ms a step, by replica count. */
  readonly replicas: ReadonlyArray<{ readonly replicas: number; readonly ms: number }>;
  /** Whether 1 and 2 replicas ended with the same bytes. */
  readonly identical: boolean;
}

/** The small CNN on random 28x28 images, batch 64, its logits under softmaxCrossEntropy. */
export function benchCnn(tf: typeof TF): CnnSetup {
  const pixels = benchModel.IMAGE[0] * benchModel.IMAGE[1] * benchModel.IMAGE[2];
  const batchOf = (seed: number): Batch => {
    const random = uniform(seed);
    const targets = new Float32Array(ROWS * benchModel.CLASSES);
    for (let r = 0; r < ROWS; r++) targets[r * benchModel.CLASSES + Math.floor(random() * benchModel.CLASSES)] = 1;
    return { inputs: Float32Array.from({ length: ROWS * pixels }, () => random()), targets, rows: ROWS };
  };
  return {
    factory: new URL('./cnn-model.js', import.meta.url),
    createModel: benchModel.createModel,
    inputShape: [pixels],
    classes: benchModel.CLASSES,
    compileLoss: (y, p) => tf.losses.softmaxCrossEntropy(y, p),
    replicaLoss: 'softmaxCrossEntropy',
    batches: [11, 20, 21, 22, 23].map(batchOf),
  };
}

/** The mnist job's CNN on the package's digits, batch 128 (the job's), under categoricalCrossentropy. */
export async function mnistCnn(): Promise<CnnSetup> {
  const { train } = await loadDigits(1, 10_000);
  const rows = 128;
  const pixels = mnistModel.SIDE * mnistModel.SIDE;
  const batchAt = (b: number): Batch => {
    const targets = new Float32Array(rows * mnistModel.CLASSES);
    for (let r = 0; r < rows; r++) targets[r * mnistModel.CLASSES + train.labels[b * rows + r]!] = 1;
    return { inputs: train.pixels.slice(b * rows * pixels, (b + 1) * rows * pixels), targets, rows };
  };
  return {
    factory: new URL('../src/cli/mnist-model.js', import.meta.url),
    createModel: () => mnistModel.createModel(1),
    inputShape: [mnistModel.SIDE, mnistModel.SIDE, 1],
    classes: mnistModel.CLASSES,
    compileLoss: 'categoricalCrossentropy',
    replicaLoss: 'categoricalCrossentropy',
    batches: [0, 1, 2, 3, 4].map(batchAt),
  };
}

/** Median ms of `steps` trainOnBatch calls after `warmup`, on the current backend. */
async function trainOnBatchMs(tf: typeof TF, setup: CnnSetup, warmup: number, steps: number): Promise<number> {
  const model = setup.createModel();
  model.compile({ optimizer: tf.train.rmsprop(0.001), loss: setup.compileLoss });
  const batch = setup.batches[0]!;
  const x = tf.tensor(batch.inputs, [batch.rows, ...setup.inputShape]);
  const y = tf.tensor2d(batch.targets, [batch.rows, setup.classes]);
  const times: number[] = [];
  try {
    for (let s = 0; s < warmup + steps; s++) {
      const started = performance.now();
      await model.trainOnBatch(x, y);
      if (s >= warmup) times.push(performance.now() - started);
    }
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
  return median(times);
}

export async function cnnBench(
  tf: typeof TF,
  setup: CnnSetup,
  quick: boolean,
  log: (line: string) => void,
): Promise<CnnResult> {
  await tf.setBackend('cpu');
  const cpuMs = await trainOnBatchMs(tf, setup, 1, quick ? 1 : 3);
  log(`CNN trainOnBatch, cpu backend: ${cpuMs.toFixed(1)} ms`);
  await tf.setBackend('wasm');
  let wasmTfjs: CnnResult['wasmTfjs'];
  try {
    wasmTfjs = { ms: await trainOnBatchMs(tf, setup, 1, 3), error: null };
  } catch (error) {
    wasmTfjs = { ms: null, error: (error as Error).message };
  }
  log(`CNN trainOnBatch, wasm, tfjs's kernels: ${wasmTfjs.error ?? `${wasmTfjs.ms!.toFixed(1)} ms`}`);
  const restore = useWasmTrainingKernels(tf);
  let wasmFastMs: number;
  try {
    wasmFastMs = await trainOnBatchMs(tf, setup, 2, quick ? 3 : 10);
  } finally {
    restore();
  }
  log(`CNN trainOnBatch, wasm, useWasmTrainingKernels: ${wasmFastMs.toFixed(1)} ms`);

  const start = modelVariables(setup.createModel());
  const replicas: Array<{ replicas: number; ms: number }> = [];
  const finals: Buffer[] = [];
  const batches = setup.batches.slice(1);
  const steps = quick ? 4 : 10;
  for (const count of [1, 2]) {
    const variables = start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
    const optimizer = new RMSprop({ microBatches: 2 });
    const trainer = new DataParallelTrainer({
      optimizer,
      variables,
      replica: tfjsReplica,
      replicaOptions: { factory: setup.factory, loss: setup.replicaLoss, backend: 'wasm' },
      replicas: count,
    });
    const times: number[] = [];
    try {
      for (let s = 0; s < 2 + steps; s++) {
        const started = performance.now();
        await trainer.step(batches[s % batches.length]!);
        if (s >= 2) times.push(performance.now() - started);
      }
    } finally {
      await trainer.close();
      await optimizer.close();
    }
    replicas.push({ replicas: count, ms: median(times) });
    finals.push(
      Buffer.concat(variables.map((v) => Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength))),
    );
    log(`CNN tfjsReplica, ${count} replica(s): ${median(times).toFixed(1)} ms`);
  }
  return { cpuMs, wasmTfjs, wasmFastMs, replicas, identical: finals[0]!.equals(finals[1]!) };
}

export function cnnLines(r: CnnResult, torchMs: number | null): string[] {
  const row = (setup: string, ms: number | null, note = '') =>
    `| ${setup} | ${ms === null ? 'fails' : ms.toFixed(1)} | ${ms === null ? '' : `${(r.cpuMs / ms).toFixed(1)}x`} | ${note} |`;
  const one = r.replicas[0]!.ms;
  return [
    '| setup | ms per training step | vs cpu backend | |',
    '|---|---:|---:|---|',
    row('tfjs-layers trainOnBatch, cpu backend', r.cpuMs),
    row(
      "trainOnBatch, wasm, tfjs-wasm's own kernels",
      r.wasmTfjs.ms,
      r.wasmTfjs.error === null ? '' : `\`${r.wasmTfjs.error}\``,
    ),
    row('trainOnBatch, wasm, useWasmTrainingKernels', r.wasmFastMs),
    ...r.replicas.map((p) =>
      row(
        `tfjsReplica on wasm, ${p.replicas} replica${p.replicas > 1 ? 's' : ''}, 2 micro-batches`,
        p.ms,
        `${(one / p.ms).toFixed(2)}x over 1 replica`,
      ),
    ),
    ...(torchMs === null ? [] : [row('PyTorch 1.13 (Debian, OpenBLAS), 1 thread, the same CNN', torchMs, 'yardstick')]),
    '',
    `Bytes after ${r.replicas.length > 0 ? 'the same steps' : ''} on 1 and 2 replicas: ${r.identical ? 'identical' : 'DIFFERENT'}.`,
  ];
}

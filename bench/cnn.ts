/**
 * The CNN rows of `npm run bench -- --train`: tfjs-layers' `trainOnBatch` of a small CNN
 * (bench/cnn-model.ts, batch 64) on the cpu backend, on wasm with tfjs-wasm's own kernels (it
 * cannot: a backprop kernel is missing) and on wasm with `useWasmTrainingKernels`; then the
 * same CNN data-parallel through `tfjsReplica` on 1 and 2 replicas, with its final bytes compared.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { median } from '../src/cli/figures.js';
import { uniform } from '../src/cli/random.js';
import { DataParallelTrainer, RMSprop, Variable, type Batch } from '../src/index.js';
import { modelVariables, tfjsReplica } from '../src/tfjs.js';
import { useWasmTrainingKernels } from '../src/tfjs/wasm/index.js';
import { CLASSES, createModel, IMAGE } from './cnn-model.js';

const ROWS = 64;
const PIXELS = IMAGE[0] * IMAGE[1] * IMAGE[2];

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

function batchOf(seed: number): Batch {
  const random = uniform(seed);
  const targets = new Float32Array(ROWS * CLASSES);
  for (let r = 0; r < ROWS; r++) targets[r * CLASSES + Math.floor(random() * CLASSES)] = 1;
  return { inputs: Float32Array.from({ length: ROWS * PIXELS }, () => random()), targets, rows: ROWS };
}

/** Median ms of `steps` trainOnBatch calls after `warmup`, on the current backend. */
async function trainOnBatchMs(tf: typeof TF, batch: Batch, warmup: number, steps: number): Promise<number> {
  const model = createModel();
  model.compile({
    optimizer: tf.train.rmsprop(0.001),
    loss: (y: TF.Tensor, p: TF.Tensor) => tf.losses.softmaxCrossEntropy(y, p),
  });
  const x = tf.tensor2d(batch.inputs, [ROWS, PIXELS]);
  const y = tf.tensor2d(batch.targets, [ROWS, CLASSES]);
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

export async function cnnBench(tf: typeof TF, quick: boolean, log: (line: string) => void): Promise<CnnResult> {
  const batch = batchOf(11);
  await tf.setBackend('cpu');
  const cpuMs = await trainOnBatchMs(tf, batch, 1, quick ? 1 : 3);
  log(`CNN trainOnBatch, cpu backend: ${cpuMs.toFixed(1)} ms`);
  await tf.setBackend('wasm');
  let wasmTfjs: CnnResult['wasmTfjs'];
  try {
    wasmTfjs = { ms: await trainOnBatchMs(tf, batch, 1, 3), error: null };
  } catch (error) {
    wasmTfjs = { ms: null, error: (error as Error).message };
  }
  log(`CNN trainOnBatch, wasm, tfjs's kernels: ${wasmTfjs.error ?? `${wasmTfjs.ms!.toFixed(1)} ms`}`);
  const restore = useWasmTrainingKernels(tf);
  let wasmFastMs: number;
  try {
    wasmFastMs = await trainOnBatchMs(tf, batch, 2, quick ? 3 : 10);
  } finally {
    restore();
  }
  log(`CNN trainOnBatch, wasm, useWasmTrainingKernels: ${wasmFastMs.toFixed(1)} ms`);

  const start = modelVariables(createModel());
  const replicas: Array<{ replicas: number; ms: number }> = [];
  const finals: Buffer[] = [];
  const batches = [0, 1, 2, 3].map((s) => batchOf(20 + s));
  const steps = quick ? 4 : 10;
  for (const count of [1, 2]) {
    const variables = start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
    const optimizer = new RMSprop({ microBatches: 2 });
    const trainer = new DataParallelTrainer({
      optimizer,
      variables,
      replica: tfjsReplica,
      replicaOptions: {
        factory: new URL('./cnn-model.js', import.meta.url).href,
        loss: 'softmaxCrossEntropy',
        backend: 'wasm',
      },
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

/**
 * tfjs-layers' `trainOnBatch` timed on a model of model-setups.ts, and the same on the cpu
 * backend in a worker thread, ended when it overruns its bound: tfjs's cpu backend takes minutes a
 * step on a real CNN, and a step cannot be stopped on the thread that runs it.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs-core';
import { median } from '../src/cli/figures.js';
import { SETUPS, type ModelSetup, type SetupName } from './model-setups.js';

/** Median ms of a step; or, where the first step took over ONE_STEP_MS, that step's alone; null ms: stopped at `boundMs`. */
export interface Timing {
  readonly ms: number | null;
  readonly firstOnly: boolean;
  readonly boundMs?: number;
}

/** A first step longer than this is the row's only one. */
const ONE_STEP_MS = 10_000;

/** trainOnBatch's time: the median of `steps` calls after `warmup`, on the current backend; or a long first call alone. */
export async function trainOnBatchMs(tf: typeof TF, setup: ModelSetup, warmup: number, steps: number): Promise<Timing> {
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
      const ms = performance.now() - started;
      if (s === 0 && ms > ONE_STEP_MS) return { ms, firstOnly: true };
      if (s >= warmup) times.push(ms);
    }
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
  return { ms: median(times), firstOnly: false };
}

interface CpuJob {
  readonly name: SetupName;
  readonly warmup: number;
  readonly steps: number;
}

/** trainOnBatch on tfjs's cpu backend in a worker thread, terminated after `boundMs`. */
export async function cpuTrainOnBatchMs(
  name: SetupName,
  warmup: number,
  steps: number,
  boundMs: number,
): Promise<Timing> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { name, warmup, steps } satisfies CpuJob });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<Timing>((resolve, reject) => {
      timer = setTimeout(() => resolve({ ms: null, firstOnly: true, boundMs }), boundMs);
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the cpu timing thread exited with ${code}`)));
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

if (!isMainThread && (workerData as CpuJob | undefined)?.name !== undefined) {
  const job = workerData as CpuJob;
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await import('@tensorflow/tfjs-layers');
  await tf.setBackend('cpu');
  (tf.findBackend('cpu') as { firstUse?: boolean }).firstUse = false; // no "Hi, looks like..." banner
  const setup = await SETUPS[job.name](tf);
  parentPort!.postMessage(await trainOnBatchMs(tf, setup, job.warmup, job.steps));
}

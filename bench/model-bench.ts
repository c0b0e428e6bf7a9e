/**
 * The whole-model rows of `npm run bench -- --train`, for each model of model-setups.ts:
 * tfjs-layers' `trainOnBatch` on the cpu backend, on wasm with tfjs-wasm's own kernels and on wasm
 * with `useWasmTrainingKernels`; then the model data-parallel through `tfjsReplica` on 1 and 2
 * replicas, with its final bytes compared; PyTorch's step on 1 and 2 threads where installed. A
 * model with Dropout also trains on 1, 2 and 4 replicas of 4 micro-batches, its bytes hashed.
 */
import { createHash } from 'node:crypto';
import type * as TF from '@tensorflow/tfjs-core';
import { median } from '../src/cli/figures.js';
import { DataParallelTrainer, RMSprop, Variable, type Batch } from '../src/index.js';
import { modelVariables, tfjsReplica } from '../src/tfjs.js';
import { withRandom } from '../src/tfjs/random-ops.js';
import { useWasmTrainingKernels } from '../src/tfjs/wasm/index.js';
import { seededRandom } from '../src/training/randomness.js';
import type { ModelSetup } from './model-setups.js';
import { cpuTrainOnBatchMs, trainOnBatchMs, type Timing } from './train-on-batch.js';
import type { TorchTimes } from './torch.js';

/** The cpu backend's row is stopped after this. */
const CPU_BOUND_MS = 300_000;

export interface ModelResult {
  /** A trainOnBatch step: cpu backend, wasm with tfjs's kernels (error: it failed), wasm with ours. */
  readonly cpu: Timing;
  readonly wasmTfjs: Timing | { readonly ms: null; readonly error: string };
  readonly wasmFastMs: number;
  /** tfjsReplica on wasm (our kernels on by default), 2 micro-batches: median ms a step, by replica count. */
  readonly replicas: ReadonlyArray<{ readonly replicas: number; readonly ms: number }>;
  /** Whether 1 and 2 replicas ended with the same bytes. */
  readonly identical: boolean;
  /** For a model with random layers: sha-256 (first 16 hex digits) of the bytes after 2 steps of 4 micro-batches, by replica count. */
  readonly hashes: ReadonlyArray<{ readonly replicas: number; readonly sha256: string }>;
}

/** `steps` timed trainer steps (after 2 warm-up ones) on `replicas` threads: the median, and the bytes it ends with. */
async function replicaRun(
  setup: ModelSetup,
  start: readonly Variable[],
  replicas: number,
  microBatches: number,
  steps: number,
): Promise<{ ms: number; bytes: Buffer }> {
  const variables = start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
  const optimizer = new RMSprop({ microBatches });
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: tfjsReplica,
    replicaOptions: { factory: setup.factory, loss: setup.replicaLoss, backend: 'wasm' },
    replicas,
  });
  const batches: readonly Batch[] = setup.batches.slice(1);
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
  const bytes = Buffer.concat(
    variables.map((v) => Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength)),
  );
  return { ms: median(times), bytes };
}

export async function modelBench(
  tf: typeof TF,
  setup: ModelSetup,
  quick: boolean,
  log: (line: string) => void,
): Promise<ModelResult> {
  const name = setup.title.split(':')[0];
  const cpu = await cpuTrainOnBatchMs(setup.name, 1, quick ? 1 : 3, quick ? 60_000 : CPU_BOUND_MS);
  log(`${name}: trainOnBatch, cpu backend: ${cpu.ms === null ? `over ${cpu.boundMs} ms` : `${cpu.ms.toFixed(1)} ms`}`);
  await tf.setBackend('wasm');
  let wasmTfjs: ModelResult['wasmTfjs'];
  try {
    wasmTfjs = await trainOnBatchMs(tf, setup, 1, quick ? 1 : 3);
  } catch (error) {
    wasmTfjs = { ms: null, error: (error as Error).message };
  }
  log(
    `${name}: trainOnBatch, wasm, tfjs's kernels: ${'error' in wasmTfjs ? wasmTfjs.error : `${wasmTfjs.ms!.toFixed(1)} ms`}`,
  );
  const restore = useWasmTrainingKernels(tf);
  let wasmFastMs: number;
  try {
    wasmFastMs = (await trainOnBatchMs(tf, setup, 2, quick ? 3 : 10)).ms!; // no bound on this thread
  } finally {
    restore();
  }
  log(`${name}: trainOnBatch, wasm, useWasmTrainingKernels: ${wasmFastMs.toFixed(1)} ms`);

  // the initializers draw their seeds from Math.random: one stream, the same start every run
  const start = withRandom(seededRandom(1), () => modelVariables(setup.createModel()));
  const runs = [];
  for (const count of [1, 2]) {
    runs.push({ replicas: count, ...(await replicaRun(setup, start, count, 2, quick ? 4 : 10)) });
    log(`${name}: tfjsReplica, ${count} replica(s): ${runs.at(-1)!.ms.toFixed(1)} ms`);
  }
  const hashes = [];
  for (const count of setup.random ? [1, 2, 4] : []) {
    const { bytes } = await replicaRun(setup, start, count, 4, 0);
    hashes.push({ replicas: count, sha256: createHash('sha256').update(bytes).digest('hex').slice(0, 16) });
    log(`${name}: ${count} replica(s), Dropout on, bytes ${hashes.at(-1)!.sha256}`);
  }
  return {
    cpu,
    wasmTfjs,
    wasmFastMs,
    replicas: runs.map(({ replicas, ms }) => ({ replicas, ms })),
    identical: runs[0]!.bytes.equals(runs[1]!.bytes),
    hashes,
  };
}

/** PyTorch's medians on 1 and 2 threads, where the yardstick ran. */
export interface TorchRuns {
  readonly one: TorchTimes | null;
  readonly two: TorchTimes | null;
}

export function modelLines(setup: ModelSetup, r: ModelResult, torch: TorchRuns): string[] {
  const torchMs = (t: TorchTimes | null) => (t === null || setup.torch === null ? null : (t[setup.torch] as number));
  const [torchOne, torchTwo] = [torchMs(torch.one), torchMs(torch.two)];
  const vsTorch = (ms: number) => (torchOne === null ? '' : `${(ms / torchOne).toFixed(1)}x`);
  // the cpu row stopped at its bound: the ratios against it are lower bounds
  const cpuMs = r.cpu.ms ?? r.cpu.boundMs!;
  const overCpu = r.cpu.ms === null ? 'over ' : '';
  const row = (label: string, ms: number | null, note = '') =>
    `| ${label} | ${ms === null ? 'fails' : ms.toFixed(1)} | ${ms === null ? '' : `${overCpu}${(cpuMs / ms).toFixed(1)}x`} | ` +
    `${ms === null ? '' : vsTorch(ms)} | ${note} |`;
  const firstOnly = (t: Timing) => (t.firstOnly ? 'one step, no warm-up (the first took over 10 s)' : '');
  const one = r.replicas[0]!.ms;
  const torchRow = (threads: number, ms: number | null) =>
    ms === null
      ? []
      : [
          row(
            `PyTorch ${torch.one!.torch} (Debian, OpenBLAS), ${threads} thread${threads > 1 ? 's' : ''}`,
            ms,
            'yardstick',
          ),
        ];
  return [
    `## ${setup.title}`,
    '',
    "| setup | ms per training step | speed vs cpu backend | time vs PyTorch's 1 thread | |",
    '|---|---:|---:|---:|---|',
    r.cpu.ms === null
      ? `| tfjs-layers trainOnBatch, cpu backend | over ${cpuMs} | | | stopped: its first step ran past the bound |`
      : row('tfjs-layers trainOnBatch, cpu backend', r.cpu.ms, firstOnly(r.cpu)),
    row(
      "trainOnBatch, wasm, tfjs-wasm's own kernels",
      r.wasmTfjs.ms,
      'error' in r.wasmTfjs ? `\`${r.wasmTfjs.error}\`` : firstOnly(r.wasmTfjs),
    ),
    row('trainOnBatch, wasm, useWasmTrainingKernels', r.wasmFastMs),
    ...r.replicas.map((p) =>
      row(
        `tfjsReplica on wasm, ${p.replicas} replica${p.replicas > 1 ? 's' : ''}, 2 micro-batches`,
        p.ms,
        `${(one / p.ms).toFixed(2)}x over 1 replica`,
      ),
    ),
    ...torchRow(1, torchOne),
    ...torchRow(2, torchTwo),
    '',
    `Bytes after the same steps on 1 and 2 replicas: ${r.identical ? 'identical' : 'DIFFERENT'}.` +
      (r.hashes.length === 0
        ? ''
        : ` With Dropout on, 2 steps of 4 micro-batches: sha-256 ${r.hashes.map((h) => `\`${h.sha256}\` on ${h.replicas}`).join(', ')} ` +
          `replica(s): ${r.hashes.every((h) => h.sha256 === r.hashes[0]!.sha256) ? 'identical' : 'DIFFERENT'}.`),
  ];
}

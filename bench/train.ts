/**
 * `npm run bench -- --train`: the whole training step (forward, backward, update) of the CLI's
 * synthetic MLP (256-2048-1024-16, batch 128) on the data-parallel trainer with 1 .. cores
 * replicas at a fixed number of micro-batches, with tfjs-wasm's own kernels and with
 * `useWasmTrainingKernels`, next to tfjs-layers' own `trainOnBatch` on one thread; the products'
 * GFLOP/s (products.ts); where a step's time goes (step-profile.ts); whole models, from a small CNN to
 * tfjs-examples' CNNs and recurrent models (model-bench.ts), with the mnist-node CNN's per-kernel
 * profile; PyTorch as a yardstick on 1 and 2 threads where installed (torch.ts). Medians from this one run; writes
 * bench/results/train.md and train.svg. Reports only; no thresholds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { log, median, type BenchArgs } from './lib.js';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import { lineChartSvg } from '../src/cli/charts.js';
import { startTfjs, type MlpReplicaOptions } from '../src/cli/mlp-replica.js';
import { uniform } from '../src/cli/random.js';
import { DataParallelTrainer, RMSprop, Variable, type Batch } from '../src/index.js';
import { profileLines as kernelProfileLines, profileTrainingStep } from '../src/tfjs.js';
import { useWasmTrainingKernels, type TfjsKernels } from '../src/tfjs/wasm/index.js';
import { modelBench, modelLines } from './model-bench.js';
import { SETUPS, type ModelSetup } from './model-setups.js';
import { productLines, productRows } from './products.js';
import { stepProfile, type StepProfile } from './step-profile.js';
import { torchTimes } from './torch.js';

const SIZES = [256, 2048, 1024, 16];
const ROWS = 128;
const WARMUP = 2;
const MEASURED = 8;
const KERNELS: readonly TfjsKernels[] = ['tfjs', 'fast'];
const KERNEL_NAMES: Record<TfjsKernels, string> = { tfjs: "tfjs-wasm's own", fast: 'useWasmTrainingKernels' };

interface TrainerRow {
  readonly kernels: TfjsKernels;
  readonly replicas: number;
  readonly ms: number;
  readonly updateMs: number;
  /** The checkpoint after the run (optimizer state and variables). */
  readonly checkpoint: Buffer;
}

/** The MLP's variables, the same values every call. */
function mlpVariables(): Variable[] {
  const random = uniform(7);
  return SIZES.slice(1).flatMap((out, i) => [
    new Variable((v) => v.forEach((_, k) => (v[k] = (random() - 0.5) * 0.05)), {
      name: `dense_${i}/kernel`,
      shape: [SIZES[i]!, out],
    }),
    new Variable('zeros', { name: `dense_${i}/bias`, shape: [out] }),
  ]);
}

/** Runs `f` with this library's training kernels registered on this thread. */
async function withFastKernels<T>(tf: typeof TF, f: () => Promise<T>): Promise<T> {
  const restore = useWasmTrainingKernels(tf);
  try {
    return await f();
  } finally {
    restore();
  }
}

/** tfjs-layers on this thread: trainOnBatch is one forward, backward and tf.train.rmsprop update. */
async function trainOnBatchMs(tf: typeof TF, batch: Batch, steps: number): Promise<{ ms: number; parameters: number }> {
  const tfl = await import('@tensorflow/tfjs-layers');
  const model = tfl.sequential();
  SIZES.slice(1).forEach((units, i) =>
    model.add(
      tfl.layers.dense({ units, activation: i < SIZES.length - 2 ? 'relu' : 'linear', inputShape: [SIZES[i]!] }),
    ),
  );
  model.compile({ optimizer: tf.train.rmsprop(0.001), loss: 'meanSquaredError' });
  const [x, y] = [tf.tensor2d(batch.inputs, [ROWS, SIZES[0]!]), tf.tensor2d(batch.targets, [ROWS, SIZES.at(-1)!])];
  const times: number[] = [];
  for (let s = 0; s < WARMUP + steps; s++) {
    const started = performance.now();
    await model.trainOnBatch(x, y);
    if (s >= WARMUP) times.push(performance.now() - started);
  }
  const parameters = model.countParams();
  tf.dispose([x, y]);
  model.dispose();
  return { ms: median(times), parameters };
}

/** The trainer with the CLI's replica module: median step and update times, and the checkpoint it ends with. */
async function trainerRow(kernels: TfjsKernels, replicas: number, microBatches: number, batch: Batch, steps: number) {
  const variables = mlpVariables();
  const optimizer = new RMSprop({ microBatches, name: 'bench' });
  const options: MlpReplicaOptions = { backend: 'wasm', activation: 'relu', loss: 'meanSquaredError', kernels };
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: new URL('../src/cli/mlp-replica.js', import.meta.url),
    replicaOptions: options,
    replicas,
  });
  const times: number[] = [];
  const updates: number[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'rmsprop-pool-bench-'));
  try {
    for (let s = 0; s < WARMUP + steps; s++) {
      const started = performance.now();
      await trainer.step(batch);
      if (s >= WARMUP) {
        times.push(performance.now() - started);
        updates.push(trainer.timings.updateMs);
      }
    }
    await optimizer.save(join(dir, 'end.safetensors'), { variables: true });
    const checkpoint = readFileSync(join(dir, 'end.safetensors'));
    return { kernels, replicas, ms: median(times), updateMs: median(updates), checkpoint };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await trainer.close();
    await optimizer.close();
  }
}

/** Median ms of a trainer step whose replicas compute nothing. */
async function noopStepMs(microBatches: number, replicas: number, steps: number): Promise<number> {
  const optimizer = new RMSprop({ microBatches, workers: 0 });
  const trainer = new DataParallelTrainer({
    optimizer,
    variables: [new Variable('zeros', { name: 'w', shape: [4] })],
    replica: new URL('./noop-replica.js', import.meta.url),
    replicas,
  });
  const batch = { inputs: new Float32Array(microBatches), targets: new Float32Array(microBatches), rows: microBatches };
  const times: number[] = [];
  try {
    for (let s = 0; s < steps + 20; s++) {
      const started = performance.now();
      await trainer.step(batch);
      if (s >= 20) times.push(performance.now() - started);
    }
  } finally {
    await trainer.close();
    await optimizer.close();
  }
  return median(times);
}

/** Where a 1-replica step's time goes (a table), then one micro-batch's kernels by `tf.profile` (another). */
function profileLines(p: StepProfile, microBatches: number, row: TrainerRow, controlMs: number): string[] {
  const parts: Array<[string, number]> = [
    [
      `forward and backward passes (${microBatches} micro-batches, each's wall time with its weights packed)`,
      p.microBatchMs * microBatches,
    ],
    ["XNNPACK packing each weight: new tensors every step (a step's first micro-batch less a later one)", p.packingMs],
    ['the weights copied into tensors (once a step)', p.weightsCopyMs],
    [
      `the gradients read back into the shards, straight from the wasm heap (${microBatches} times)`,
      p.readbackMs * microBatches,
    ],
    ['the optimizer (the update, on its worker threads; from the trainer run)', row.updateMs],
    ['the control plane (a step of replicas that compute nothing)', controlMs],
  ];
  const sum = parts.reduce((a, [, ms]) => a + ms, 0);
  const kernelSum = p.kernels.reduce((a, k) => a + k.ms, 0);
  const top = p.kernels.slice(0, 6);
  return [
    '| part of a step | ms per step | share of their sum |',
    '|---|---:|---:|',
    ...parts.map(([name, ms]) => `| ${name} | ${ms.toFixed(2)} | ${((100 * ms) / sum).toFixed(1)}% |`),
    `| **sum** | **${sum.toFixed(1)}** | 100% |`,
    `| the trainer's measured step, 1 replica, for comparison | ${row.ms.toFixed(1)} | |`,
    '',
    `One micro-batch's kernels (\`tf.profile\`, weights already packed; ${kernelSum.toFixed(1)} ms of kernel time in all):`,
    '',
    "| tfjs kernel (BatchMatMul: its operands' shapes as given, before any transpose) | ms | share |",
    '|---|---:|---:|',
    ...top.map((k) => `| ${k.kernel} | ${k.ms.toFixed(2)} | ${((100 * k.ms) / kernelSum).toFixed(1)}% |`),
    `| the other ${p.kernels.length - top.length} | ${(kernelSum - top.reduce((a, k) => a + k.ms, 0)).toFixed(2)} | ` +
      `${((100 * (kernelSum - top.reduce((a, k) => a + k.ms, 0))) / kernelSum).toFixed(1)}% |`,
  ];
}

export async function run({ quick }: BenchArgs): Promise<void> {
  const cores = availableParallelism();
  const microBatches = cores;
  // tfjs-wasm's own kernels on this thread; the rows that use ours register them for themselves
  const tf = await startTfjs('wasm', 'npm run bench -- --train', 'tfjs');
  await import('@tensorflow/tfjs-backend-cpu');
  const random = uniform(7);
  const batch: Batch = {
    inputs: Float32Array.from({ length: ROWS * SIZES[0]! }, () => 2 * random() - 1),
    targets: Float32Array.from({ length: ROWS * SIZES.at(-1)! }, () => 2 * random() - 1),
    rows: ROWS,
  };
  const steps = quick ? 3 : MEASURED;

  const layers = {
    tfjs: await trainOnBatchMs(tf, batch, quick ? 2 : 4),
    fast: await withFastKernels(tf, () => trainOnBatchMs(tf, batch, steps)),
  };
  const parameters = layers.fast.parameters;
  for (const k of KERNELS) log(`tfjs-layers trainOnBatch, 1 thread, ${KERNEL_NAMES[k]}: ${layers[k].ms.toFixed(1)} ms`);

  const rows: TrainerRow[] = [];
  for (const kernels of KERNELS) {
    for (let replicas = 1; replicas <= Math.min(cores, microBatches); replicas++) {
      rows.push(await trainerRow(kernels, replicas, microBatches, batch, kernels === 'tfjs' && !quick ? 4 : steps));
      log(`trainer, ${KERNEL_NAMES[kernels]}, ${replicas} replica(s): ${rows.at(-1)!.ms.toFixed(1)} ms`);
    }
  }
  const controlMs = await noopStepMs(microBatches, Math.min(cores, microBatches), quick ? 200 : 2000);
  log(`control plane: ${(controlMs * 1000).toFixed(0)} µs a step`);
  const products = productRows(tf, quick);
  const profile = await withFastKernels(tf, () => stepProfile(tf, mlpVariables(), ROWS / microBatches, batch));
  const setups: ModelSetup[] = [];
  for (const make of Object.values(SETUPS)) setups.push(await make(tf));
  const models = [];
  for (const setup of setups) models.push({ setup, result: await modelBench(tf, setup, quick, log) });
  await tf.setBackend('wasm');
  const torchRuns = { one: torchTimes(quick ? 3 : 10, 1), two: torchTimes(quick ? 3 : 10, 2) };
  const torch = torchRuns.one;
  log(torch.times === null ? `PyTorch: ${torch.why}` : `PyTorch: ${JSON.stringify(torchRuns)}`);
  const profileOf = async (name: string, kernels: TfjsKernels) => {
    const setup = setups.find((s) => s.name === name)!;
    const options = { factory: setup.factory, loss: setup.replicaLoss, backend: 'wasm', kernels } as const;
    const batch = setup.batches[0]!.rows / 2; // a micro-batch of the replica rows
    try {
      return kernelProfileLines(await profileTrainingStep({ ...options, batch, steps: quick ? 1 : 3 }));
    } catch (error) {
      return [`With ${KERNEL_NAMES[kernels]} kernels it fails: \`${(error as Error).message}\`.`];
    }
  };
  const profiles = [];
  for (const [name, kernels] of [
    ['mnistNodeCnn', 'tfjs'],
    ['mnistNodeCnn', 'fast'],
    ['sentimentCnn', 'fast'],
    ['jenaGru', 'fast'],
    ['textLstm', 'fast'],
  ] as const) {
    profiles.push({
      title: setups.find((s) => s.name === name)!.title.split(':')[0]!,
      lines: await profileOf(name, kernels),
    });
  }

  const find = (k: TfjsKernels, r: number) => rows.find((row) => row.kernels === k && row.replicas === r)!;
  const most = Math.min(cores, microBatches);
  const fastest = find('fast', most);
  const identical = (k: TfjsKernels) =>
    rows.filter((r) => r.kernels === k).every((r) => r.checkpoint.equals(find(k, 1).checkpoint));
  const lines = [
    '# Training step, data-parallel',
    '',
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cores} cores, Node ${process.version}${quick ? ', quick run' : ''}; ` +
      `tfjs ${tf.version_core} on its wasm backend (one thread per replica); medians of ${steps} steps after ${WARMUP} ` +
      'warm-up steps, all from this one run. Speed ratios: how many times as fast as the reference (above 1: faster).',
    '',
    `## The synthetic MLP (${SIZES.join('-')}, ${parameters.toLocaleString('en')} parameters), batch ${ROWS}`,
    '',
    `The trainer runs ${microBatches} micro-batches per step (one per core, fixed for every row), each a gradient ` +
      "shard; replicas are threads each running tfjs on wasm with the kernels named (the CLI's replica module); the " +
      "update is this optimizer on its default workers. tfjs-layers' `trainOnBatch` with `tf.train.rmsprop(0.001)` " +
      'does the same step (forward, backward, update) on the calling thread.',
    '',
    "| setup | tfjs-wasm kernels | ms per training step | vs 1 replica | useWasmTrainingKernels vs tfjs-wasm's own | vs trainOnBatch, tfjs-wasm's own |",
    '|---|---|---:|---:|---:|---:|',
    ...KERNELS.map(
      (k) =>
        `| tfjs-layers trainOnBatch, 1 thread | ${KERNEL_NAMES[k]} | ${layers[k].ms.toFixed(1)} | | ` +
        `${k === 'fast' ? `${(layers.tfjs.ms / layers.fast.ms).toFixed(2)}x` : ''} | ${(layers.tfjs.ms / layers[k].ms).toFixed(2)}x |`,
    ),
    ...rows.map(
      (r) =>
        `| rmsprop-pool trainer, ${r.replicas} replica${r.replicas > 1 ? 's' : ''} | ${KERNEL_NAMES[r.kernels]} | ${r.ms.toFixed(1)} | ` +
        `${(find(r.kernels, 1).ms / r.ms).toFixed(2)}x | ${r.kernels === 'fast' ? `${(find('tfjs', r.replicas).ms / r.ms).toFixed(2)}x` : ''} | ` +
        `${(layers.tfjs.ms / r.ms).toFixed(2)}x |`,
    ),
    ...[torchRuns.one.times, torchRuns.two.times].flatMap((t) =>
      t === null
        ? []
        : [
            `| PyTorch ${t.torch} (Debian, OpenBLAS), ${t.threads} thread(s), the same MLP and RMSprop | | ${t.mlpMs.toFixed(1)} | | | ` +
              `${(layers.tfjs.ms / t.mlpMs).toFixed(2)}x |`,
          ],
    ),
    '',
    `Checkpoints (\`optimizer.save(path, { variables: true })\`) after the same steps on 1 .. ${most} replicas: ` +
      KERNELS.map((k) => `${identical(k) ? 'byte-identical' : 'DIFFERENT'} with ${KERNEL_NAMES[k]}`).join(', ') +
      '.' +
      (torch.times === null
        ? ` PyTorch yardstick: not run (${torch.why}).`
        : ` PyTorch on one thread takes ${torch.times.mlpMs.toFixed(1)} ms for this step: the trainer's fastest row is ` +
          `${(torch.times.mlpMs / fastest.ms).toFixed(2)}x its speed.`),
    '',
    '## The products of one micro-batch, GFLOP/s',
    '',
    `The widest layer's three products for ${ROWS / microBatches} rows, on this thread (tfjs-wasm runs one thread ` +
      'and a kernel synchronously: the product is done when `matMul` returns; the transposes ours make are counted in).',
    '',
    ...productLines(products),
    '',
    `## Where a step goes: 1 replica, useWasmTrainingKernels, ${microBatches} micro-batches of ${ROWS / microBatches} rows`,
    '',
    'Measured on the calling thread doing what the replica does (`src/cli/mlp-replica.ts`), medians of 5; the ' +
      "optimizer's part from the 1-replica run above, the control plane's from the run below. The sum against the " +
      "trainer's measured step shows what the thread hand-offs add (or this shared machine's noise between runs).",
    '',
    ...profileLines(profile, microBatches, find('fast', 1), controlMs),
    '',
    ...models.flatMap(({ setup, result }) => [
      ...modelLines(setup, result, { one: torchRuns.one.times, two: torchRuns.two.times }),
      '',
    ]),
    '## Where a micro-batch goes, by kernel (`rmsprop-pool profile`)',
    '',
    '`profileTrainingStep`, what `rmsprop-pool profile --factory dist/examples/models/mnist-node-cnn.js --batch 32 ' +
      '--loss categoricalCrossentropy` prints: one micro-batch (half the batch above) of each model on the calling thread.',
    '',
    ...profiles.flatMap((p) => [`### ${p.title}`, '', ...p.lines, '']),
    '## Control plane',
    '',
    `A step whose replicas compute nothing (bench/noop-replica.ts, the same ${microBatches} micro-batches on ` +
      `${most} replicas, a 4-parameter model) took a median ${(controlMs * 1000).toFixed(0)} µs: the comlink calls, ` +
      `the staging and the update, ${((100 * controlMs) / fastest.ms).toFixed(3)}% of the fastest training step above.`,
    '',
  ];
  const report = lines.join('\n');
  console.log(report);
  const name = `train${quick ? '-quick' : ''}`;
  writeFileSync(new URL(`../../bench/results/${name}.md`, import.meta.url), report);
  const points = [
    ...rows.map((r) => ({
      replicas: r.replicas,
      ms: r.ms,
      setup: `trainer, ${KERNEL_NAMES[r.kernels]}`,
      kind: 'measured',
    })),
    ...KERNELS.flatMap((k) =>
      [1, most].map((replicas) => ({
        replicas,
        ms: layers[k].ms,
        setup: `trainOnBatch, 1 thread, ${KERNEL_NAMES[k]}`,
        kind: 'reference',
      })),
    ),
  ];
  const svg = await lineChartSvg({
    title: `Training step of a ${(parameters / 1e6).toFixed(1)}M-parameter MLP on tfjs-wasm, batch ${ROWS} (lower is better; log scale)`,
    points,
    x: { field: 'replicas', title: 'replica threads', integer: true },
    y: { field: 'ms', title: 'ms per training step', log: true },
    color: 'setup',
    dash: { field: 'kind', domain: ['measured', 'reference'] },
  });
  writeFileSync(new URL(`../../bench/results/${name}.svg`, import.meta.url), svg);
}

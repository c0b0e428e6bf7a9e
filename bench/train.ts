/**
 * `npm run bench -- --train`: the whole training step (forward, backward, update) of the CLI's
 * synthetic MLP (256-2048-1024-16, batch 128) on the data-parallel trainer with 1 .. cores
 * replicas at a fixed number of micro-batches, next to tfjs-layers' own `trainOnBatch` with
 * `tf.train.rmsprop` on one thread, same model, batch and backend. Medians from this one run;
 * writes bench/results/train.md and train.svg. Reports only; no thresholds.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { lineChartSvg } from '../src/cli/charts.js';
import { median } from '../src/cli/figures.js';
import { startTfjs, type MlpReplicaOptions } from '../src/cli/mlp-replica.js';
import { uniform } from '../src/cli/random.js';
import { DataParallelTrainer, RMSprop, Variable, type Batch } from '../src/index.js';

const SIZES = [256, 2048, 1024, 16];
const ROWS = 128;
const BACKEND = 'wasm';
const WARMUP = 2;
const MEASURED = 8;

export async function trainBench(quick: boolean): Promise<void> {
  const cores = availableParallelism();
  const microBatches = cores;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const tf = await startTfjs(BACKEND, 'npm run bench -- --train');
  const tfl = await import('@tensorflow/tfjs-layers');
  const random = uniform(7);
  const batch: Batch = {
    inputs: Float32Array.from({ length: ROWS * SIZES[0]! }, () => 2 * random() - 1),
    targets: Float32Array.from({ length: ROWS * SIZES.at(-1)! }, () => 2 * random() - 1),
    rows: ROWS,
  };
  const steps = quick ? 3 : MEASURED;

  // tfjs-layers on this thread: trainOnBatch is one forward, backward and tf.train.rmsprop update
  const model = tfl.sequential();
  SIZES.slice(1).forEach((units, i) =>
    model.add(
      tfl.layers.dense({ units, activation: i < SIZES.length - 2 ? 'relu' : 'linear', inputShape: [SIZES[i]!] }),
    ),
  );
  model.compile({ optimizer: tf.train.rmsprop(0.001), loss: 'meanSquaredError' });
  const [x, y] = [tf.tensor2d(batch.inputs, [ROWS, SIZES[0]!]), tf.tensor2d(batch.targets, [ROWS, SIZES.at(-1)!])];
  const tfjsTimes: number[] = [];
  for (let s = 0; s < WARMUP + steps; s++) {
    const started = performance.now();
    await model.trainOnBatch(x, y);
    if (s >= WARMUP) tfjsTimes.push(performance.now() - started);
  }
  const tfjsMs = median(tfjsTimes);
  const parameters = model.countParams();
  tf.dispose([x, y]);
  model.dispose();
  log(`tfjs-layers trainOnBatch, 1 thread: ${tfjsMs.toFixed(1)} ms`);

  // the trainer: the same MLP (the CLI's replica module), replicas 1 .. cores, M fixed
  const rows: Array<{ replicas: number; ms: number }> = [];
  for (let replicas = 1; replicas <= Math.min(cores, microBatches); replicas++) {
    const variables = SIZES.slice(1).flatMap((out, i) => [
      new Variable((v) => v.forEach((_, k) => (v[k] = (random() - 0.5) * 0.05)), {
        name: `dense_${i}/kernel`,
        shape: [SIZES[i]!, out],
      }),
      new Variable('zeros', { name: `dense_${i}/bias`, shape: [out] }),
    ]);
    const optimizer = new RMSprop({ microBatches });
    const options: MlpReplicaOptions = { backend: BACKEND, activation: 'relu', loss: 'meanSquaredError' };
    const trainer = new DataParallelTrainer({
      optimizer,
      variables,
      replica: new URL('../src/cli/mlp-replica.js', import.meta.url),
      replicaOptions: options,
      replicas,
    });
    const times: number[] = [];
    try {
      for (let s = 0; s < WARMUP + steps; s++) {
        const started = performance.now();
        await trainer.step(batch);
        if (s >= WARMUP) times.push(performance.now() - started);
      }
    } finally {
      await trainer.close();
      await optimizer.close();
    }
    rows.push({ replicas, ms: median(times) });
    log(`trainer, ${replicas} replica(s): ${median(times).toFixed(1)} ms`);
  }

  // the control plane alone: replicas that compute nothing, a 4-parameter model, the same micro-batches
  const controlMs = await noopStepMs(microBatches, Math.min(cores, microBatches), quick ? 200 : 2000);
  log(`control plane: ${(controlMs * 1000).toFixed(0)} µs a step`);

  const one = rows[0]!.ms;
  const lines = [
    '# Training step, data-parallel',
    '',
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cores} cores, Node ${process.version}${quick ? ', quick run' : ''}; ` +
      `the CLI's synthetic MLP (${SIZES.join('-')}, ${parameters.toLocaleString('en')} parameters), batch ${ROWS}, ` +
      `tfjs ${BACKEND} backend; medians of ${steps} steps after ${WARMUP} warm-up steps, all from this one run.`,
    '',
    `The trainer runs ${microBatches} micro-batches per step (one per core, fixed for every row), each a gradient ` +
      'shard; replicas are threads each running tfjs on its own backend; the update is this optimizer on ' +
      "its default workers. tfjs-layers' `trainOnBatch` with `tf.train.rmsprop(0.001)` does the same step " +
      '(forward, backward, update) on the calling thread.',
    '',
    '| setup | ms per training step | vs 1 replica | vs tfjs trainOnBatch |',
    '|---|---:|---:|---:|',
    `| tfjs-layers trainOnBatch, 1 thread | ${tfjsMs.toFixed(1)} | | 1.00x |`,
    ...rows.map(
      (r) =>
        `| rmsprop-pool trainer, ${r.replicas} replica${r.replicas > 1 ? 's' : ''} | ${r.ms.toFixed(1)} | ` +
        `${(one / r.ms).toFixed(2)}x | ${(tfjsMs / r.ms).toFixed(2)}x |`,
    ),
    '',
    'Speed ratios: how many times as fast as the reference (above 1: faster). Chart: train.svg.',
    '',
    `Control plane: a step whose replicas compute nothing (bench/noop-replica.ts, the same ${microBatches} ` +
      `micro-batches on ${Math.min(cores, microBatches)} replicas, a 4-parameter model) took a median ` +
      `${(controlMs * 1000).toFixed(0)} µs: the comlink calls, the staging and the update, ` +
      `${((100 * controlMs) / rows.at(-1)!.ms).toFixed(3)}% of the fastest training step above.`,
    '',
  ];
  const report = lines.join('\n');
  console.log(report);
  const name = `train${quick ? '-quick' : ''}`;
  writeFileSync(new URL(`../../bench/results/${name}.md`, import.meta.url), report);
  const points = [
    ...rows.map((r) => ({ replicas: r.replicas, ms: r.ms, setup: 'rmsprop-pool trainer', kind: 'measured' })),
    ...rows.map((r) => ({ replicas: r.replicas, ms: tfjsMs, setup: 'tfjs trainOnBatch, 1 thread', kind: 'reference' })),
  ];
  const svg = await lineChartSvg({
    title: `Training step of a ${(parameters / 1e6).toFixed(1)}M-parameter MLP, batch ${ROWS} (lower is better)`,
    points,
    x: { field: 'replicas', title: 'replica threads', integer: true },
    y: { field: 'ms', title: 'ms per training step', zero: true },
    color: 'setup',
    dash: { field: 'kind', domain: ['measured', 'reference'] },
  });
  writeFileSync(new URL(`../../bench/results/${name}.svg`, import.meta.url), svg);
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

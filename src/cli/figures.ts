/**
 * What `rmsprop-pool train` reports about a job, computed once from what it recorded: the loss,
 * the time per training step and per optimizer step, the throughput in a unit that fits the
 * size, and the comparison with tf.train.rmsprop. Pure functions, so the numbers are testable.
 */

/** What a training job recorded. */
export interface JobResult {
  readonly job: 'iris' | 'synthetic' | 'mnist';
  readonly parameters: number;
  /** The loss of each training step. */
  readonly losses: readonly number[];
  /** The time of each training step (gradients and update), in ms. */
  readonly stepMs: readonly number[];
  /** The time of each optimizer step (`await optimizer.step()`), in ms. */
  readonly optimizerMs: readonly number[];
  /** Per epoch, where the job classifies: the share of correct predictions. */
  readonly accuracy: ReadonlyArray<{ readonly epoch: number; readonly train: number; readonly heldOut: number }> | null;
  /** The whole run, data and tfjs's forward and backward pass included. */
  readonly seconds: number;
  readonly workers: number;
  /** Replica threads that computed the gradients (0: the calling thread did), and micro-batches per step. */
  readonly replicas: number;
  readonly microBatches: number;
  /** With several replicas: the median training step on one replica, same micro-batches, in ms. */
  readonly oneReplicaStepMs: number | null;
  /** tf.train.rmsprop's median time for one update of the same variables on the same backend, in ms. */
  readonly tfjsStepMs: number;
  /** The checkpoint written at the end (`--save`), if any. */
  readonly savedTo: string | null;
}

/** A job's figures, as `--json` prints them. */
export interface JobFigures {
  readonly job: string;
  readonly parameters: number;
  readonly steps: number;
  readonly finalLoss: number;
  /** Mean loss over the first and the last tenth of the steps: the trend without one batch's noise. */
  readonly lossFirstTenth: number;
  readonly lossLastTenth: number;
  readonly heldOutAccuracy: number | null;
  /** Median over the steps after the first (which starts the threads): gradients and update. */
  readonly msPerTrainingStep: number;
  /** Median over the steps after the first, as `msPerTrainingStep`. */
  readonly optimizerMsPerStep: number;
  /** `optimizerMsPerStep / msPerTrainingStep`: the two medians printed beside it. */
  readonly optimizerShare: number;
  readonly gparamPerSecond: number;
  readonly tfjsRmspropMsPerStep: number;
  readonly workers: number;
  readonly replicas: number;
  readonly microBatches: number;
  /** How many times faster a training step ran on the replicas than on one (null: one replica, or none). */
  readonly speedupOverOneReplica: number | null;
  readonly checkpoint: string | null;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * An exponential moving average over about `window` points, debiased at the start (as
 * TensorBoard smooths): the trend of a noisy curve, starting where the curve starts.
 */
export function smooth(values: readonly number[], window: number): number[] {
  const decay = window <= 1 ? 0 : 1 - 1 / window;
  let average = 0;
  let weight = 0;
  return values.map((value) => {
    average = decay * average + (1 - decay) * value;
    weight = decay * weight + (1 - decay);
    return average / weight;
  });
}

/** Each point's median over the `span` points ending at it (fewer at the start). */
export function rollingMedian(values: readonly number[], span: number): number[] {
  return values.map((_, i) => median(values.slice(Math.max(0, i + 1 - span), i + 1)));
}

export function jobFigures(r: JobResult): JobFigures {
  const steps = r.losses.length;
  const tenth = Math.max(1, Math.ceil(steps / 10));
  // the first step starts threads and commits memory: the steady figures leave it out
  const steady = (values: readonly number[]) => median(values.length > 1 ? values.slice(1) : values);
  const optimizerMsPerStep = steady(r.optimizerMs);
  const msPerTrainingStep = steady(r.stepMs);
  return {
    job: r.job,
    parameters: r.parameters,
    steps,
    finalLoss: r.losses[steps - 1] ?? NaN,
    lossFirstTenth: mean(r.losses.slice(0, tenth)),
    lossLastTenth: mean(r.losses.slice(-tenth)),
    heldOutAccuracy: r.accuracy?.[r.accuracy.length - 1]?.heldOut ?? null,
    msPerTrainingStep,
    optimizerMsPerStep,
    optimizerShare: optimizerMsPerStep / msPerTrainingStep,
    gparamPerSecond: r.parameters / optimizerMsPerStep / 1e6,
    tfjsRmspropMsPerStep: r.tfjsStepMs,
    workers: r.workers,
    replicas: r.replicas,
    microBatches: r.microBatches,
    speedupOverOneReplica: r.oneReplicaStepMs === null ? null : r.oneReplicaStepMs / msPerTrainingStep,
    checkpoint: r.savedTo,
  };
}

/** A duration in the unit that reads best: 31.2 µs, 4.62 ms, 1.25 s. */
export function duration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toPrecision(3)} µs`;
  if (ms < 1000) return `${ms.toPrecision(3)} ms`;
  return `${(ms / 1000).toPrecision(3)} s`;
}

/** Parameters per second with the prefix that fits: 4.31 Mparam/s, 0.572 Gparam/s. */
export function throughput(paramsPerSecond: number): string {
  const [scale, prefix] =
    paramsPerSecond >= 1e8
      ? [1e9, 'G']
      : paramsPerSecond >= 1e5
        ? [1e6, 'M']
        : paramsPerSecond >= 100
          ? [1e3, 'k']
          : [1, ''];
  return `${(paramsPerSecond / scale).toPrecision(3)} ${prefix}param/s`;
}

/**
 * Below this many parameters an optimizer step costs about its fixed overhead (the call, the
 * step words, waking threads), so parameters per second says little about the update itself.
 */
export const OVERHEAD_BOUND_PARAMETERS = 100_000;

/** The human report of one job, line by line. */
export function reportLines(f: JobFigures): string[] {
  const where = f.workers === 0 ? 'the calling thread' : `${f.workers} worker threads`;
  const gradients =
    f.replicas === 0
      ? 'gradients on the calling thread'
      : `gradients of ${f.microBatches} micro-batches per step on ${f.replicas} replica thread${f.replicas > 1 ? 's' : ''}`;
  const lines = [
    `${f.job}: ${f.parameters.toLocaleString('en')} parameters, ${f.steps} steps, ${gradients}, optimizer on ${where}`,
    `  loss ${f.lossFirstTenth.toFixed(4)} (mean of the first tenth of the steps) -> ${f.lossLastTenth.toFixed(4)} ` +
      `(last tenth); final step ${f.finalLoss.toFixed(4)}`,
  ];
  if (f.heldOutAccuracy !== null) lines.push(`  held-out accuracy ${(100 * f.heldOutAccuracy).toFixed(1)}%`);
  lines.push(
    `  a training step takes ${duration(f.msPerTrainingStep)} (median); the optimizer's part ${(100 * f.optimizerShare).toFixed(1)}% ` +
      `(median ${duration(f.optimizerMsPerStep)} per step), the rest is tfjs's forward and backward pass`,
  );
  if (f.speedupOverOneReplica !== null) {
    lines.push(
      `  on ${f.replicas} replicas a training step ran ${f.speedupOverOneReplica.toFixed(2)}x as fast as on one ` +
        `(${duration(f.msPerTrainingStep)} vs ${duration(f.msPerTrainingStep * f.speedupOverOneReplica)}, same micro-batches)`,
    );
  }
  const perSecond = throughput(f.gparamPerSecond * 1e9);
  lines.push(
    f.parameters < OVERHEAD_BOUND_PARAMETERS
      ? `  ${perSecond}: at ${f.parameters.toLocaleString('en')} parameters a step is mostly fixed overhead; ` +
          'throughput means something from about 100k parameters'
      : `  optimizer throughput ${perSecond}`,
  );
  const ratio = f.tfjsRmspropMsPerStep / f.optimizerMsPerStep;
  const compared =
    ratio >= 1
      ? `${ratio.toFixed(1)}x as long as this optimizer's`
      : `${(1 / ratio).toFixed(1)}x faster than this optimizer's`;
  lines.push(
    `  tf.train.rmsprop, the same update of these variables on the same tfjs backend: ` +
      `${duration(f.tfjsRmspropMsPerStep)} per step, ${compared} ${duration(f.optimizerMsPerStep)}`,
  );
  if (f.checkpoint !== null) lines.push(`  checkpoint with the variables: ${f.checkpoint}`);
  return lines;
}

/**
 * The SVG `rmsprop-pool train` writes: a row per job, each panel with its own y range — the
 * loss (each step, faint, and its smoothed trend), the accuracy by epoch where the job
 * classifies, a data-parallel job's training step against one replica's, and the optimizer's
 * time per step against tf.train.rmsprop's on the same variables. The Vega-Lite spec is built
 * here (pure); `renderSvg` draws it.
 */
import { renderSvg } from './charts.js';
import { jobFigures, reportLines, rollingMedian, smooth, type JobResult } from './figures.js';

const PANEL = { width: 300, height: 170 } as const;
const [LIGHT_BLUE, BLUE, ORANGE, GREEN] = ['#9ecae9', '#1f77b4', '#ff7f0e', '#2ca02c'];

/** A color legend of its own above the panel, for series given by name (`datum`). */
function series(domain: readonly string[], range: readonly string[]) {
  return { scale: { domain: [...domain], range: [...range] }, legend: LEGEND };
}

const LEGEND = { orient: 'top' as const, title: null, labelLimit: 260 };

/** A y axis fitted to this panel's data (no zero, no rounding out to a power of ten). */
function yAxis(field: string, title: string, log: boolean, format?: string) {
  return {
    field,
    type: 'quantitative' as const,
    title,
    scale: log ? { type: 'log' as const, nice: false } : { zero: false, nice: false },
    ...(format === undefined ? {} : { axis: { format } }),
  };
}

const stepAxis = { field: 'step', type: 'quantitative' as const, title: 'step', scale: { nice: false } };

/** About 1/20 of the run, at least 1: enough to follow the trend, not so much that it lags. */
const window = (steps: number) => Math.max(1, Math.round(steps / 20));

function lossPanel(r: JobResult) {
  const smoothed = smooth(r.losses, window(r.losses.length));
  const names = ['each step', `smoothed (EMA over ~${window(r.losses.length)} steps)`] as const;
  const color = series(names, [LIGHT_BLUE, BLUE]);
  return {
    ...PANEL,
    title: 'training loss (log scale)',
    data: { values: r.losses.map((loss, i) => ({ step: i + 1, loss, smoothed: smoothed[i]! })) },
    encoding: { x: stepAxis },
    layer: [
      {
        mark: { type: 'line' as const, strokeWidth: 1, clip: true },
        encoding: { y: yAxis('loss', 'loss', true), color: { datum: names[0], ...color } },
      },
      {
        mark: { type: 'line' as const, strokeWidth: 2.5, clip: true },
        encoding: { y: { field: 'smoothed', type: 'quantitative' as const }, color: { datum: names[1], ...color } },
      },
    ],
  };
}

function accuracyPanel(accuracy: NonNullable<JobResult['accuracy']>) {
  const values = accuracy.flatMap(({ epoch, train, heldOut }) => [
    { epoch, split: 'training set', accuracy: train },
    { epoch, split: 'held-out set', accuracy: heldOut },
  ]);
  return {
    ...PANEL,
    title: 'accuracy after each epoch',
    data: { values },
    mark: { type: 'line' as const, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', scale: { nice: false } },
      y: yAxis('accuracy', 'accuracy', false, '.0%'),
      color: { field: 'split', type: 'nominal' as const, ...series(['training set', 'held-out set'], [BLUE, GREEN]) },
    },
  };
}

/**
 * Times per step on a log scale: each step (points), its rolling median (a line: the first
 * steps, threads starting and code warming up, do not drag the trend), and a reference median
 * as a dashed rule when there is one.
 */
function perStepPanel(
  times: readonly number[],
  title: { text: string; subtitle: string },
  labels: { each: string; reference: string },
  referenceMs: number | null,
) {
  const span = window(times.length);
  const smoothed = rollingMedian(times, span);
  const names = [`${labels.each}, each step`, `${labels.each}, median of ${span}`, labels.reference] as const;
  const color = { ...series(names, [BLUE, BLUE, ORANGE]), legend: { ...LEGEND, columns: 2 } };
  return {
    ...PANEL,
    title,
    layer: [
      {
        data: { values: times.map((ms, i) => ({ step: i + 1, ms, smoothed: smoothed[i]! })) },
        encoding: { x: stepAxis },
        layer: [
          {
            mark: { type: 'point' as const, size: 10, filled: true, opacity: 0.35 },
            encoding: { y: yAxis('ms', 'ms per step', true), color: { datum: names[0], ...color } },
          },
          {
            mark: { type: 'line' as const, strokeWidth: 2.5 },
            encoding: { y: { field: 'smoothed', type: 'quantitative' as const }, color: { datum: names[1], ...color } },
          },
        ],
      },
      ...(referenceMs === null
        ? []
        : [
            {
              data: { values: [{ ms: referenceMs }] },
              mark: { type: 'rule' as const, strokeDash: [6, 4], strokeWidth: 2 },
              encoding: { y: { field: 'ms', type: 'quantitative' as const }, color: { datum: names[2], ...color } },
            },
          ]),
    ],
  };
}

/** The optimizer's time per step against tf.train.rmsprop's median on the same variables. */
function timePanel(r: JobResult) {
  const f = jobFigures(r);
  const ratio = f.tfjsRmspropMsPerStep / f.optimizerMsPerStep;
  return perStepPanel(
    r.optimizerMs,
    {
      text: 'optimizer time per step (ms, log scale)',
      subtitle: `tf.train.rmsprop takes ${ratio.toFixed(1)}x as long (medians)`,
    },
    { each: 'rmsprop-pool', reference: 'tf.train.rmsprop (median)' },
    f.tfjsRmspropMsPerStep,
  );
}

/** A data-parallel job's training step (gradients on the replicas and the update) against one replica's. */
function stepPanel(r: JobResult) {
  const f = jobFigures(r);
  const subtitle =
    f.speedupOverOneReplica === null
      ? `${f.microBatches} micro-batches per step`
      : `${f.speedupOverOneReplica.toFixed(2)}x as fast as one replica (medians, ${f.microBatches} micro-batches)`;
  return perStepPanel(
    r.stepMs,
    { text: 'training step (ms): gradients and update', subtitle },
    { each: `${f.replicas} replica${f.replicas > 1 ? 's' : ''}`, reference: 'one replica (median)' },
    r.oneReplicaStepMs,
  );
}

/** The whole figure's Vega-Lite spec: a row per job. */
export function trainingChartSpec(results: readonly JobResult[], subtitle: readonly string[]): object {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'rmsprop-pool train', subtitle: [...subtitle], anchor: 'start' as const },
    vconcat: results.map((r) => {
      return {
        title: { text: reportLines(jobFigures(r))[0]!, anchor: 'start' as const },
        hconcat: [
          lossPanel(r),
          ...(r.accuracy === null ? [] : [accuracyPanel(r.accuracy)]),
          ...(r.replicas === 0 ? [] : [stepPanel(r)]),
          timePanel(r),
        ],
        resolve: { scale: { color: 'independent' as const }, legend: { color: 'independent' as const } },
      };
    }),
    spacing: 30,
    config: { view: { stroke: '#ddd' }, title: { fontSize: 14 }, concat: { spacing: 40 } },
  };
}

export function trainingChartSvg(results: readonly JobResult[], subtitle: readonly string[]): Promise<string> {
  return renderSvg(trainingChartSpec(results, subtitle));
}

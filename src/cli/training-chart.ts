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

/**
 * A y axis fitted to this panel's data (no zero, no rounding out to a power of ten), a few
 * pixels clear of the frame, and as wide in every panel, so the rows' columns line up.
 */
function yAxis(field: string, title: string, log: boolean, format?: string) {
  return {
    field,
    type: 'quantitative' as const,
    title,
    scale: log ? { type: 'log' as const, nice: false, padding: 6 } : { zero: false, nice: false, padding: 6 },
    axis: { tickCount: 6, minExtent: Y_LABELS, maxExtent: Y_LABELS, ...(format === undefined ? {} : { format }) },
  };
}

/** The width of every y axis's labels, in pixels. */
const Y_LABELS = 40;

/** Steps 1 to `steps` (the data's own range: not from 0, not rounded out). */
const stepAxis = (steps: number, field = 'step') => ({
  field,
  type: 'quantitative' as const,
  title: field,
  scale: { domain: [1, Math.max(2, steps)], nice: false },
  axis: { tickMinStep: 1, format: 'd' }, // whole steps only
});

/** About 1/20 of the run: enough to follow the trend, not so much that it lags; 1 (none) below 30 steps. */
const window = (steps: number) => Math.max(1, Math.round(steps / 20));

function lossPanel(r: JobResult) {
  const span = window(r.losses.length);
  const smoothed = smooth(r.losses, span);
  const data = { values: r.losses.map((loss, i) => ({ step: i + 1, loss, smoothed: smoothed[i]! })) };
  const y = yAxis('loss', 'loss', true);
  if (span === 1) {
    // too few steps to smooth: each step, as the one line
    const mark = { type: 'line' as const, strokeWidth: 2, clip: true, color: BLUE };
    return { ...PANEL, title: 'training loss (log scale)', data, mark, encoding: { x: stepAxis(r.losses.length), y } };
  }
  const names = ['each step', `smoothed (EMA over ~${span} steps)`] as const;
  const color = series(names, [LIGHT_BLUE, BLUE]);
  return {
    ...PANEL,
    title: 'training loss (log scale)',
    data,
    encoding: { x: stepAxis(r.losses.length) },
    layer: [
      {
        mark: { type: 'line' as const, strokeWidth: 1, clip: true },
        encoding: { y, color: { datum: names[0], ...color } },
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
      x: stepAxis(accuracy.length, 'epoch'),
      y: yAxis('accuracy', 'accuracy', false, '.0%'),
      color: { field: 'split', type: 'nominal' as const, ...series(['training set', 'held-out set'], [BLUE, GREEN]) },
    },
  };
}

/**
 * Times per step on a log scale: each step (dots), its rolling median (a line: the first
 * steps, threads starting and code warming up, do not drag the trend), and a reference median
 * as a dashed rule when there is one. The key is a line of the subtitle: a legend would draw
 * every entry with the dots' symbol.
 */
function perStepPanel(
  times: readonly number[],
  title: { text: string; subtitle: string },
  reference: { label: string; ms: number | null },
) {
  const span = window(times.length);
  const smoothed = rollingMedian(times, span);
  const key = [
    span === 1 ? 'line: each step' : `dots: each step; line: median of the last ${span}`,
    ...(reference.ms === null ? [] : [`dashed: ${reference.label}`]),
  ];
  const y = yAxis('ms', 'ms per step', true);
  return {
    ...PANEL,
    title: { text: title.text, subtitle: [title.subtitle, ...key] },
    layer: [
      {
        data: { values: times.map((ms, i) => ({ step: i + 1, ms, smoothed: smoothed[i]! })) },
        encoding: { x: stepAxis(times.length) },
        layer: [
          ...(span === 1
            ? []
            : [
                {
                  mark: { type: 'point' as const, size: 10, filled: true, opacity: 0.35, color: BLUE },
                  encoding: { y },
                },
              ]),
          {
            mark: { type: 'line' as const, strokeWidth: span === 1 ? 2 : 2.5, color: BLUE },
            encoding: { y: span === 1 ? y : { field: 'smoothed', type: 'quantitative' as const } },
          },
        ],
      },
      ...(reference.ms === null
        ? []
        : [
            {
              data: { values: [{ ms: reference.ms }] },
              mark: { type: 'rule' as const, strokeDash: [6, 4], strokeWidth: 2, color: ORANGE },
              encoding: { y: { field: 'ms', type: 'quantitative' as const } },
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
    { label: "tf.train.rmsprop's median", ms: f.tfjsRmspropMsPerStep },
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
    { label: "one replica's median", ms: r.oneReplicaStepMs },
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
        // place the plots by their own size (not their titles'), so every row's columns line up
        bounds: 'flush' as const,
        spacing: 110,
      };
    }),
    spacing: 30,
    config: { view: { stroke: '#ddd' }, title: { fontSize: 14 }, concat: { spacing: 40 } },
  };
}

export function trainingChartSvg(results: readonly JobResult[], subtitle: readonly string[]): Promise<string> {
  return renderSvg(trainingChartSpec(results, subtitle));
}

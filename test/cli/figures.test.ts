/**
 * What `rmsprop-pool train` reports, from recorded runs written here by hand: the figures, their
 * units at every size, the smoothing, the checkpoint names and the SVG's spec.
 */
import { describe, expect, it } from 'vitest';
import {
  duration,
  jobFigures,
  median,
  reportLines,
  rollingMedian,
  smooth,
  throughput,
  type JobResult,
} from '../../dist/src/cli/figures.js';
import { checkpointPath, shortestFloat32 } from '../../dist/src/cli/train.js';
import { trainingChartSpec } from '../../dist/src/cli/training-chart.js';

const run = (over: Partial<JobResult> = {}): JobResult => ({
  job: 'synthetic',
  parameters: 2_000_000,
  losses: [4, 3, 2, 1],
  stepMs: [300, 90, 100, 110], // the first step starts the threads
  optimizerMs: [50, 2, 4, 3],
  accuracy: null,
  seconds: 0.7,
  workers: 2,
  replicas: 2,
  microBatches: 4,
  oneReplicaStepMs: 180,
  tfjsStepMs: 30,
  savedTo: null,
  ...over,
});

describe('figures', () => {
  it('medians, a debiased moving average and a rolling median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(smooth([5, 5, 5], 10)).toEqual([5, 5, 5]); // debiased: starts where the data starts
    expect(smooth([1, 2, 3], 1)).toEqual([1, 2, 3]);
    // window 2: decay 1/2; weights 1/2, 3/4
    expect(smooth([0, 4], 2)).toEqual([0, 2 / 0.75]);
    expect(rollingMedian([50, 2, 4, 3], 3)).toEqual([50, 26, 4, 3]);
  });

  it('a job: per-step medians, the whole-run means, and throughput from the median step', () => {
    const f = jobFigures(run());
    expect(f).toMatchObject({ steps: 4, finalLoss: 1, lossFirstTenth: 4, lossLastTenth: 1, heldOutAccuracy: null });
    expect(f.msPerTrainingStep).toBe(100); // the median of the steps after the first
    expect(f.optimizerMsPerStep).toBe(3); // the same for the optimizer
    expect(f.optimizerShare).toBe(0.03); // the two medians' ratio, as printed beside them
    expect(f.speedupOverOneReplica).toBe(1.8);
    expect(jobFigures(run({ replicas: 1, oneReplicaStepMs: null })).speedupOverOneReplica).toBeNull();
    expect(f.gparamPerSecond).toBeCloseTo(2e6 / 3e-3 / 1e9, 12);
    const accuracy = [
      { epoch: 1, train: 0.5, heldOut: 0.4 },
      { epoch: 2, train: 0.9, heldOut: 0.8 },
    ];
    expect(jobFigures(run({ accuracy })).heldOutAccuracy).toBe(0.8);
  });

  it('units that fit every size', () => {
    expect(duration(0.0286)).toBe('28.6 µs');
    expect(duration(4.617)).toBe('4.62 ms');
    expect(duration(1250)).toBe('1.25 s');
    expect(throughput(4.57e6)).toBe('4.57 Mparam/s');
    expect(throughput(5.72e8)).toBe('0.572 Gparam/s');
    expect(throughput(2.5e3)).toBe('2.50 kparam/s');
    expect(throughput(12)).toBe('12.0 param/s');
  });

  it('the report says which figure to read at a small size, and compares with tf.train.rmsprop in words', () => {
    const big = reportLines(jobFigures(run()));
    expect(big[0]).toBe(
      'synthetic: 2,000,000 parameters, 4 steps, gradients of 4 micro-batches per step on 2 replica threads, optimizer on 2 worker threads',
    );
    expect(big).toContain(
      '  on 2 replicas a training step ran 1.80x as fast as on one (100 ms vs 180 ms, same micro-batches)',
    );
    expect(big).toContain(
      "  a training step takes 100 ms (median); the optimizer's part 3.0% (median 3.00 ms per step), the rest is tfjs's forward and backward pass",
    );
    expect(big).toContain('  optimizer throughput 0.667 Gparam/s');
    expect(big).toContain(
      "  tf.train.rmsprop, the same update of these variables on the same tfjs backend: 30.0 ms per step, 10.0x as long as this optimizer's 3.00 ms",
    );
    const small = reportLines(
      jobFigures(run({ parameters: 131, optimizerMs: [0.03], tfjsStepMs: 0.015, replicas: 0, oneReplicaStepMs: null })),
    );
    expect(small[0]).toContain('gradients on the calling thread');
    expect(small.join('\n')).not.toContain('replicas');
    expect(small.join('\n')).toContain('4.37 Mparam/s: at 131 parameters a step is mostly fixed overhead');
    expect(small.join('\n')).toContain("15.0 µs per step, 2.0x faster than this optimizer's 30.0 µs");
  });
});

describe('train helpers', () => {
  it('one checkpoint per job, named after it when there are several', () => {
    expect(checkpointPath('out/ck.safetensors', 'iris', ['iris'])).toBe('out/ck.safetensors');
    expect(checkpointPath('out/ck.safetensors', 'iris', ['iris', 'synthetic'])).toBe('out/ck-iris.safetensors');
    expect(checkpointPath('ck', 'synthetic', ['iris', 'synthetic'])).toBe('ck-synthetic');
  });

  it('numbers as the user wrote them: the shortest decimal of a float32', () => {
    expect(shortestFloat32(Math.fround(0.001))).toBe(0.001);
    expect(shortestFloat32(Math.fround(0.9))).toBe(0.9);
    expect(shortestFloat32(0.1)).toBe(0.1); // not a float32: as it is
    expect(shortestFloat32(3)).toBe(3);
  });
});

describe('the training chart', () => {
  type Panel = Record<string, unknown> & {
    title: unknown;
    layer?: Panel[];
    encoding?: Record<string, { scale?: object }>;
  };
  const spec = trainingChartSpec(
    [
      run({ job: 'iris', accuracy: [{ epoch: 1, train: 0.5, heldOut: 0.4 }], replicas: 0, oneReplicaStepMs: null }),
      run(),
    ],
    ['settings: ...', 'optimizer: ...'],
  ) as { vconcat: Array<{ hconcat: Panel[] }> };

  it('a row per job: loss, accuracy where there is one, the training step where replicas ran, optimizer time', () => {
    const titles = spec.vconcat.map((row) =>
      row.hconcat.map((p) => (typeof p.title === 'string' ? p.title : (p.title as { text: string }).text)),
    );
    expect(titles).toEqual([
      ['training loss (log scale)', 'accuracy after each epoch', 'optimizer time per step (ms, log scale)'],
      [
        'training loss (log scale)',
        'training step (ms): gradients and update',
        'optimizer time per step (ms, log scale)',
      ],
    ]);
    expect((spec.vconcat[1] as unknown as { title: { text: string } }).title.text).toBe(
      'synthetic: 2,000,000 parameters, 4 steps, gradients of 4 micro-batches per step on 2 replica threads, optimizer on 2 worker threads',
    );
  });

  it("the training step panel: each step, its rolling median, and a rule at one replica's median", () => {
    const step = spec.vconcat[1]!.hconcat[1]!;
    const values = (step.layer![0]!.data as { values: Array<{ ms: number }> }).values;
    expect(values.map((v) => v.ms)).toEqual([300, 90, 100, 110]);
    expect(step.layer![1]).toMatchObject({ mark: { type: 'rule' }, data: { values: [{ ms: 180 }] } });
    expect(JSON.stringify(step.title)).toContain('1.80x as fast as one replica (medians, 4 micro-batches)');
  });

  it('each panel fits its own data: no fixed domain, no zero, no rounding out, steps from 1', () => {
    const [loss, accuracy] = spec.vconcat[0]!.hconcat;
    expect(loss!.encoding!.y!.scale).toEqual({ type: 'log', nice: false, padding: 6 });
    expect(loss!.encoding!.x!.scale).toEqual({ domain: [1, 4], nice: false });
    expect(accuracy!.encoding!.y!.scale).toEqual({ zero: false, nice: false, padding: 6 });
    expect(JSON.stringify(spec)).not.toContain('"domain":[0');
  });

  it("columns line up: every y axis as wide, each row placed by its plots' size", () => {
    const extents = JSON.stringify(spec).match(/"minExtent":\d+,"maxExtent":\d+/g)!;
    expect(new Set(extents).size).toBe(1);
    expect(extents.length).toBeGreaterThanOrEqual(6);
    for (const row of spec.vconcat) expect(row).toMatchObject({ bounds: 'flush' });
  });

  it('a long run: the loss smoothed over the raw curve, the times as dots under their rolling median', () => {
    const steps = 600;
    const long = run({
      losses: Array.from({ length: steps }, (_, i) => 1 / (i + 1)),
      stepMs: Array.from({ length: steps }, () => 100),
      optimizerMs: Array.from({ length: steps }, () => 3),
    });
    const [row] = (trainingChartSpec([long], []) as { vconcat: Array<{ hconcat: Panel[] }> }).vconcat;
    const [loss, , time] = row!.hconcat;
    expect(loss!.layer!.map((l) => (l.mark as { strokeWidth: number }).strokeWidth)).toEqual([1, 2.5]);
    expect(JSON.stringify(loss)).toContain('smoothed (EMA over ~30 steps)');
    expect(time!.title).toMatchObject({
      subtitle: [
        expect.any(String),
        'dots: each step; line: median of the last 30',
        "dashed: tf.train.rmsprop's median",
      ],
    });
  });

  it('a short run: the loss and the times as plain lines; the time panel a rule at tf.train.rmsprop', () => {
    const [loss, , time] = spec.vconcat[0]!.hconcat; // iris: loss, accuracy, time
    const values = (loss!.data as { values: Array<{ loss: number; smoothed: number }> }).values;
    expect(values.map((v) => v.loss)).toEqual([4, 3, 2, 1]);
    expect(values.map((v) => v.smoothed)).toEqual(smooth([4, 3, 2, 1], 1));
    // 4 steps are too few to smooth: one line, no legend naming a second
    expect(loss!.layer).toBeUndefined();
    expect(JSON.stringify(loss)).not.toContain('smoothed (');
    expect(time!.title).toMatchObject({ subtitle: [expect.any(String), 'line: each step', expect.any(String)] });
    const rule = time!.layer![1]!;
    expect(rule.mark).toMatchObject({ type: 'rule' });
    expect(rule.data).toEqual({ values: [{ ms: 30 }] });
    expect(JSON.stringify(time!.title)).toContain('tf.train.rmsprop takes 10.0x as long');
  });
});

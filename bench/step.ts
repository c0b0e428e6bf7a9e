/**
 * `npm run bench [-- --quick] [-- --large]` (through index.ts): the optimizer step by model size (1e4 .. 1e8 float32
 * parameters), variant and workers, next to a naive JS loop doing the same work, tfjs-core's
 * rmsprop (cpu and wasm backends), a native fused C loop (when a C compiler is present) and the
 * machine's memory roofline; then build time and peak memory per size, each build alone in a
 * child process (`--large`: also 1e9 parameters, where memory allows). All measured in this run.
 * Writes a markdown table and an SVG chart to bench/results/. Reports only; no thresholds.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { Bench } from 'tinybench';
import { RMSprop, Variable, type RMSpropOptions } from '../src/index.js';
import { naiveBasic, naiveFull, naiveState, TFJS_MAX_SIZE, tfjsStep, type TfjsBackend } from './baselines.js';
import { lineChartSvg } from '../src/cli/charts.js';
import { copyBandwidth, pageCommitRate } from './roofline.js';
import { buildNative, nativeStep } from './native.js';
import { log, median, VARIANTS, WRITE_ALLOCATE, type BenchArgs, type Variant } from './lib.js';

/** The sizes the targets are stated at. */
const TARGET_SIZE = 5e7;

/** The naive JS loop doing each variant's work. */
const NAIVE: Record<Variant, typeof naiveBasic> = { basic: naiveBasic, full: naiveFull };
/** Bytes a float32 step moves per parameter. */
const bytesPerParameter = (variant: Variant): number => VARIANTS[variant].arrays * 4;

interface Row {
  size: number;
  variant: Variant;
  setup: string;
  medianMs: number;
}

interface BuildRow {
  size: number;
  variables: number;
  buildMs: number;
  firstStepMs: number;
  stepMs: number;
  threads: number;
  arenaBytes: number;
  peakRssBytes: number;
}

/** The step by size, variant and workers against the baselines, then build time and memory: bench/results/step.md. */
export async function run(args: BenchArgs): Promise<void> {
  const quick = args.quick;
  const cores = availableParallelism();
  const sizes = (quick ? [1e4, 1e6, TARGET_SIZE] : [1e4, 1e5, 1e6, 1e7, TARGET_SIZE, 1e8]).filter(
    (n) => n * 4 * 8 * 2 < totalmem(), // the full variant's arrays and the naive copy must fit
  );
  const workerCounts = Array.from({ length: cores + 1 }, (_, i) => i);
  const rows: Row[] = [];

  /** Median of one task, run alone so only its arrays are alive. */
  async function measure(size: number, fn: () => unknown): Promise<number> {
    const long = size >= 1e7;
    const bench = new Bench({
      time: quick ? 100 : 400,
      iterations: quick ? 3 : long ? 5 : 10,
      warmupIterations: long ? 1 : 5,
      warmupTime: quick ? 20 : 100,
    });
    bench.add('task', fn);
    await bench.run();
    const result = bench.tasks[0]!.result;
    if (result.state !== 'completed') throw new Error(`benchmark task failed: ${result.state}`);
    return result.latency.p50;
  }

  async function optimizerStep(size: number, options: RMSpropOptions): Promise<{ ms: number; threads: number }> {
    const w = new Variable(new Float32Array(size).fill(0.1), { name: 'w' });
    const optimizer = new RMSprop(options);
    optimizer.build([w]);
    w.grad.fill(0.01);
    try {
      return { ms: await measure(size, () => optimizer.step()), threads: optimizer.workers! };
    } finally {
      await optimizer.close();
    }
  }

  const started = performance.now();

  // The roofline: copies over the same thread counts the optimizer uses.
  const roofline = new Map<number, number>();
  for (const threads of [1, cores]) {
    roofline.set(threads, await copyBandwidth(threads, quick ? 128e6 : 512e6, quick ? 5 : 9));
    log(`roofline, ${threads} thread(s): ${roofline.get(threads)!.toFixed(1)} GB/s`);
  }

  // Dispatch: what waking the pool costs, on a model too small to need it.
  const dispatch = new Map<string, number>();
  let autoThreads = 0;
  for (const workers of [0, 1, 'auto'] as const) {
    const { ms, threads } = await optimizerStep(4096, { workers });
    if (workers === 'auto') autoThreads = threads;
    dispatch.set(`workers=${workers}`, ms);
  }
  const dispatchMs = (setup: string): number => dispatch.get(setup)!;

  for (const size of sizes) {
    for (const [variant, spec] of Object.entries(VARIANTS) as Array<[Variant, (typeof VARIANTS)[Variant]]>) {
      const state = naiveState(size, variant === 'full');
      rows.push({ size, variant, setup: 'naive JS loop', medianMs: await measure(size, () => NAIVE[variant](state)) });
      if (variant === 'basic') {
        for (const backend of ['wasm', 'cpu'] as TfjsBackend[]) {
          if (size > TFJS_MAX_SIZE[backend]) continue;
          const tfjs = await tfjsStep(backend, size);
          try {
            rows.push({
              size,
              variant,
              setup: `tfjs-core ${backend}`,
              medianMs: await measure(size, () => tfjs.step()),
            });
          } finally {
            tfjs.dispose();
          }
        }
      }
      for (const workers of workerCounts) {
        const { ms } = await optimizerStep(size, { ...spec.options, workers });
        rows.push({ size, variant, setup: `workers=${workers}`, medianMs: ms });
      }
    }
    log(`measured ${size.toExponential(0)} parameters (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }

  // The native reference: the same update as one fused C loop, at this CPU's widest vectors and at 128 bits
  const native = buildNative();
  if (typeof native === 'string') log(`native reference skipped: ${native}`);
  else {
    for (const size of sizes) {
      for (const threads of [1, cores]) {
        for (const build of native) {
          const ms = nativeStep(build, size, threads, quick ? 5 : size >= 1e7 ? 9 : 31);
          const setup = `${build.label}, ${threads} thread${threads > 1 ? 's' : ''}`;
          rows.push(
            { size, variant: 'basic', setup, medianMs: ms.basic },
            { size, variant: 'full', setup, medianMs: ms.full },
          );
        }
      }
    }
    log(`native reference measured (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }

  /**
   * The ratio to the native loop (this CPU's build) at the target size, from pairs measured back to
   * back on all cores — so a change in the shared machine's load between the table's rows does not
   * decide it: the median of PAIRS pairs per variant.
   */
  const PAIRS = quick ? 2 : 5;
  const pairedRatios = new Map<Variant, number[]>();
  if (typeof native !== 'string' && sizes.includes(TARGET_SIZE)) {
    for (const [variant, spec] of Object.entries(VARIANTS) as Array<[Variant, (typeof VARIANTS)[Variant]]>) {
      const ratios: number[] = [];
      for (let pair = 0; pair < PAIRS; pair++) {
        const ours = await optimizerStep(TARGET_SIZE, { ...spec.options, workers: cores });
        const reference = nativeStep(native[0]!, TARGET_SIZE, cores, 5)[variant];
        ratios.push(reference / ours.ms);
      }
      pairedRatios.set(
        variant,
        ratios.sort((a, b) => a - b),
      );
    }
    log(`paired with the native loop (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }

  // Build and the first step (which commits the arena) per size, each in its own process
  const buildRows: BuildRow[] = [];
  const buildSizes = [1e7, TARGET_SIZE, 1e8, ...(args.large ? [1e9] : [])].filter((n) => n * 12 * 1.2 < totalmem());
  for (const size of quick ? [1e7] : buildSizes) {
    const variables = size >= 1e9 ? 8 : 1;
    const child = new URL('./build-child.js', import.meta.url);
    const out = execFileSync(process.execPath, [child.pathname, String(size), String(variables)], { encoding: 'utf8' });
    buildRows.push({ ...(JSON.parse(out) as BuildRow), variables });
    log(`built ${size.toExponential(0)} parameters (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  // What committing fresh pages costs on this machine, with no optimizer code: the first step's floor
  const commitGiBps = await pageCommitRate(cores, quick ? 2 ** 28 : 2 ** 30);
  log(`fresh pages committed at ${commitGiBps.toFixed(2)} GiB/s on ${cores} threads`);

  const find = (size: number, variant: Variant, setup: string) =>
    rows.find((r) => r.size === size && r.variant === variant && r.setup === setup);
  const ratio = (a: Row | undefined, b: Row | undefined) =>
    a && b ? `${(a.medianMs / b.medianMs).toFixed(2)}x` : 'n/a';
  const gparams = (row: Row) => row.size / row.medianMs / 1e6;
  const best = (size: number, variant: Variant) =>
    rows
      .filter((r) => r.size === size && r.variant === variant && r.setup.startsWith('workers='))
      .sort((a, b) => a.medianMs - b.medianMs)[0];

  const lines = [
    `# Optimizer step, float32`,
    '',
    `${cpus()[0]?.model ?? 'cpu'}, ${cores} cores, Node ${process.version}, ${quick ? '`--quick`' : 'full run'}; ` +
      `medians of tinybench samples, every figure from this one run.`,
    '',
    `Memory roofline (parallel TypedArray copies over shared memory, bytes read + written): ` +
      [...roofline].map(([t, gbs]) => `${gbs.toFixed(1)} GB/s on ${t} thread${t > 1 ? 's' : ''}`).join(', ') +
      `. A copy also reads each destination line before overwriting it (write-allocate), so DRAM moves ` +
      `${WRITE_ALLOCATE}x the bytes counted; a step only writes lines it has just read. ` +
      `The chart's dashed line is ${WRITE_ALLOCATE} x copy GB/s / bytes per parameter: what JS copies of ` +
      `the same bytes reach, not the hardware's limit (the native C rows show how much more the memory gives).`,
    '',
    `Pool dispatch, 4,096 parameters (basic): ` +
      [...dispatch].map(([setup, ms]) => `${setup} ${(ms * 1000).toFixed(1)} µs`).join(', ') +
      `; waking the pool costs ~${((dispatchMs('workers=1') - dispatchMs('workers=0')) * 1000).toFixed(0)} µs a step; ` +
      `'auto' (${autoThreads} threads at this size) takes ` +
      `${(dispatchMs('workers=auto') / dispatchMs('workers=0')).toFixed(2)}x the workers=0 time.`,
    '',
    '## Targets at 5e7 parameters',
    '',
  ];
  if (sizes.includes(TARGET_SIZE)) {
    const basic = best(TARGET_SIZE, 'basic');
    const full = best(TARGET_SIZE, 'full');
    lines.push(
      `- basic, fastest (${basic?.setup}): ` +
        `${ratio(find(TARGET_SIZE, 'basic', 'naive JS loop'), basic)} the naive JS loop, ` +
        `${ratio(find(TARGET_SIZE, 'basic', 'tfjs-core wasm'), basic)} tfjs-core wasm`,
      `- full, fastest (${full?.setup}): ${ratio(find(TARGET_SIZE, 'full', 'naive JS loop'), full)} the naive JS loop`,
      `- basic, workers=1 -> workers=2: ` +
        ratio(find(TARGET_SIZE, 'basic', 'workers=1'), find(TARGET_SIZE, 'basic', 'workers=2')),
    );
    if (typeof native !== 'string') {
      for (const variant of ['basic', 'full'] as const) {
        const ours = best(TARGET_SIZE, variant);
        const against = native.map((b) => {
          const reference = find(TARGET_SIZE, variant, `${b.label}, ${cores} threads`);
          return `${reference && ours ? (reference.medianMs / ours.medianMs).toFixed(2) : 'n/a'}x ${b.label}`;
        });
        lines.push(
          `- ${variant}, fastest vs native C on ${cores} threads (speed ratio, 1 = as fast): ${against.join(', ')}`,
        );
        const paired = pairedRatios.get(variant);
        if (paired) {
          const middle = median(paired);
          lines.push(
            `- ${variant}, workers=${cores} vs ${native[0]!.label} on ${cores} threads, ${paired.length} pairs measured ` +
              `back to back: median ${middle.toFixed(2)}x (${paired.map((r) => r.toFixed(2)).join(', ')})`,
          );
        }
      }
    }
  } else {
    lines.push("- not measured: 5e7 parameters do not fit in this machine's memory");
  }
  lines.push(
    '',
    '## All measurements',
    '',
    'GB/s counts the bytes a step must move (basic 20 per parameter, full 48), whatever the setup.',
    '',
    '| parameters | variant | setup | median ms | Gparam/s | GB/s | vs naive JS | vs tfjs wasm |',
    '|---:|---|---|---:|---:|---:|---:|---:|',
  );
  for (const row of rows) {
    const gb = (gparams(row) * bytesPerParameter(row.variant)).toFixed(1);
    const vsNaive = ratio(find(row.size, row.variant, 'naive JS loop'), row);
    const vsTfjs = row.variant === 'basic' ? ratio(find(row.size, 'basic', 'tfjs-core wasm'), row) : '';
    const cells = [row.size.toExponential(0), row.variant, row.setup, row.medianMs.toFixed(3), gparams(row).toFixed(3)];
    lines.push(`| ${[...cells, gb, vsNaive, vsTfjs].join(' | ')} |`);
  }
  lines.push(
    '',
    '## Build and first step',
    '',
    "Each build alone in a child process, from 'zeros', default options, `workers: 'auto'`: build only " +
      'reserves the arena and writes the initial values; the first step commits its pages on the lanes. ' +
      "Peak is the growth of the child's peak resident memory (VmHWM) over the build and eleven steps; " +
      'step ms is the median of the ten after the first. ' +
      `Commit floor: the arena's size at the rate ${cores} threads commit a fresh shared wasm memory with no ` +
      `optimizer code (one write per 4 KiB page), measured in this run: ${commitGiBps.toFixed(2)} GiB/s.`,
    '',
    '| parameters | variables | threads | build ms | first step ms | commit floor ms | step ms | Gparam/s | arena GiB | peak GiB | peak - arena MiB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const b of buildRows) {
    const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
    lines.push(
      `| ${[
        b.size.toExponential(0),
        b.variables,
        b.threads,
        b.buildMs.toFixed(0),
        b.firstStepMs.toFixed(0),
        ((b.arenaBytes / 2 ** 30 / commitGiBps) * 1000).toFixed(0),
        b.stepMs.toFixed(1),
        (b.size / b.stepMs / 1e6).toFixed(3),
        gib(b.arenaBytes),
        gib(b.peakRssBytes),
        ((b.peakRssBytes - b.arenaBytes) / 2 ** 20).toFixed(0),
      ].join(' | ')} |`,
    );
  }
  const stepOf = (size: number) => buildRows.find((b) => b.size === size);
  const [target, billion] = [stepOf(TARGET_SIZE), stepOf(1e9)];
  if (target && billion) {
    lines.push(
      '',
      `1e9 vs 5e7 parameters, Gparam/s of the step measured the same way (above): ` +
        `${(billion.size / billion.stepMs / (target.size / target.stepMs)).toFixed(2)}x.`,
    );
  }
  if (!args.large) lines.push('', 'With `--large`: also 1e9 parameters (8 variables), where memory allows.');
  lines.push(
    '',
    `Chart: step${quick ? '-quick' : ''}.svg. ` +
      `Total benchmark time ${((performance.now() - started) / 1000).toFixed(0)} s.`,
    '',
  );

  const name = `step${quick ? '-quick' : ''}`;
  const report = lines.join('\n');
  console.log(report);
  writeFileSync(new URL(`../../bench/results/${name}.md`, import.meta.url), report);
  const points = rows.map((r) => ({
    parameters: r.size,
    variant: r.variant,
    setup: r.setup,
    gparams: gparams(r),
    kind: 'measured',
  }));
  for (const [threads, gbs] of roofline) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      for (const size of sizes) {
        const setup = `JS copy bound, ${threads} thread${threads > 1 ? 's' : ''}`;
        points.push({
          parameters: size,
          variant,
          setup,
          gparams: (WRITE_ALLOCATE * gbs) / bytesPerParameter(variant),
          kind: 'roofline',
        });
      }
    }
  }
  const svg = await lineChartSvg({
    title: 'RMSprop step throughput (float32; dashed: JS TypedArray copies of the bytes the step moves)',
    points,
    x: { field: 'parameters', title: 'parameters', log: true },
    y: { field: 'gparams', title: 'Gparam/s', log: true },
    color: 'setup',
    column: 'variant',
    dash: { field: 'kind', domain: ['measured', 'roofline'] },
  });
  writeFileSync(new URL(`../../bench/results/${name}.svg`, import.meta.url), svg);
}

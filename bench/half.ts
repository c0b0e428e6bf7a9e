/**
 * `npm run bench -- --half [--quick] [--large]`: the step over float32, float16 and bfloat16
 * variables of the same size (5e7 parameters; --quick 1e7), basic and full, on every core,
 * with the memory roofline measured in the same run; `--large` adds the ready time of 1e9 float32
 * and 2e9 float16 parameters (velocity only) against the page-commit rate, their step rate and
 * peak resident memory.
 * Writes bench/results/half.md. Reports only; no thresholds.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { RMSprop, Variable, type DType } from '../src/index.js';
import { fileURLToPath } from 'node:url';
import { copyBandwidth } from './roofline.js';
import { log, median as medianOf, medians, VARIANTS, WRITE_ALLOCATE, type BenchArgs } from './lib.js';

const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const bytesOf = (dtype: DType) => (dtype === 'float32' ? 4 : 2);

/** Variables of `size` parameters in pieces (a shared segment holds at most 4 GiB). */
function model(size: number, dtype: DType): Variable[] {
  const pieces = Math.ceil(size / 1e8);
  return Array.from(
    { length: pieces },
    (_, i) => new Variable('ones', { shape: [Math.min(1e8, size - i * 1e8)], dtype, name: `w${i}` }),
  );
}

function fillGradients(variables: readonly Variable[]): void {
  for (const v of variables) v.grad.fill(v.dtype === 'float32' ? 0.01 : v.dtype === 'float16' ? 0x211f : 0x3c24); // 0.01
}

/** float32 against float16 and bfloat16, basic and full, against the roofline: bench/results/half.md. */
export async function run({ quick, large }: BenchArgs): Promise<void> {
  const size = quick ? 1e7 : 5e7;
  const workers = availableParallelism();
  // first, while this process holds little memory: each run there needs most of the machine's
  const atScale = large ? largeRun(workers, quick) : [];
  const roofline = await copyBandwidth(workers, quick ? 128e6 : 512e6, quick ? 5 : 9);
  log(`roofline on ${workers} threads: ${roofline.toFixed(1)} GB/s`);
  const rows: string[] = [];
  for (const [variant, spec] of Object.entries(VARIANTS)) {
    const optimizers = DTYPES.map((dtype) => {
      const variables = model(size, dtype);
      const optimizer = new RMSprop({ ...spec.options, workers });
      optimizer.build(variables);
      fillGradients(variables);
      return optimizer;
    });
    const ms = await medians(
      optimizers.map((optimizer) => () => optimizer.step()),
      quick,
    );
    for (const optimizer of optimizers) await optimizer.close();
    const float32Rate = size / ms[0]! / 1e6;
    for (const [d, dtype] of DTYPES.entries()) {
      const rate = size / ms[d]! / 1e6; // Gparam/s
      const bound = (WRITE_ALLOCATE * roofline) / (spec.arrays * bytesOf(dtype)); // Gparam/s
      const row = `| ${variant} | ${dtype} | ${ms[d]!.toFixed(1)} | ${rate.toFixed(3)} | ${(rate / float32Rate).toFixed(2)}x | ${bound.toFixed(3)} | ${((100 * rate) / bound).toFixed(0)}% |`;
      log(row);
      rows.push(row);
    }
  }
  const lines = [
    `# Half-precision step, ${size.toExponential(0)} parameters, ${workers} workers`,
    '',
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${workers} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}.`,
    `Memory roofline (parallel copies, bytes read + written): ${roofline.toFixed(1)} GB/s on ${workers} threads. Bound = ${WRITE_ALLOCATE} x roofline / bytes moved per parameter (a copy also reads the lines it overwrites).`,
    '',
    '| variant | dtype | median ms | Gparam/s | vs float32 | roofline Gparam/s | of roofline |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows,
  ];
  if (large) lines.push('', '## At scale', '', ...atScale);
  writeFileSync(
    new URL(`../../bench/results/half${quick ? '-quick' : ''}.md`, import.meta.url),
    `${lines.join('\n')}\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Ready-time runs per size: committing fresh pages on this shared VM varies up to 3x from run to run. */
const READY_RUNS = 3;

/**
 * Ready time at scale, each build alone in a child process: 1e9 float32 and 2e9 float16
 * parameters (velocity only), the gradients written, then build plus the first step against
 * what committing that many fresh shared pages takes on the same threads, measured right after
 * each build; READY_RUNS pairs per size, reported as medians and the ratio of the medians.
 */
function largeRun(workers: number, quick: boolean): string[] {
  const lines = [
    `Medians of ${READY_RUNS} runs; each run's ratio (build + first step over committing the arena) in the last column.`,
    '',
    '| parameters | build s | writing the gradients s | first step s | build + first step s | committing the arena s | ratio | later steps ms | Gparam/s | peak resident GiB | ratio per run |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const [size, dtype] of [
    [1e9, 'float32'],
    [2e9, 'float16'],
  ] as const) {
    if (quick) break;
    const runs: { r: BuildResult; ready: number; commit: number }[] = [];
    for (let k = 0; k < READY_RUNS; k++) {
      const r = childJson<BuildResult>('build-child', [size, size / 1e8, workers, dtype, 3]);
      // the same bytes, fresh, in a process of its own (the memory goes back when it exits)
      const commit = childJson<{ seconds: number }>('commit-child', [workers, r.arenaBytes]).seconds;
      runs.push({ r, ready: (r.buildMs + r.firstStepMs) / 1e3, commit });
      log(
        `${size.toExponential(0)} ${dtype} run ${k + 1}: build + first step ${runs[k]!.ready.toFixed(1)} s, committing ${commit.toFixed(1)} s`,
      );
    }
    const m = (of: (run: (typeof runs)[number]) => number) => medianOf(runs.map(of));
    const [ready, commit, stepMs] = [m((x) => x.ready), m((x) => x.commit), m((x) => x.r.stepMs)];
    const line = `| ${size.toExponential(0)} ${dtype} | ${(m((x) => x.r.buildMs) / 1e3).toFixed(1)} | ${(m((x) => x.r.gradientsMs) / 1e3).toFixed(1)} | ${(m((x) => x.r.firstStepMs) / 1e3).toFixed(1)} | ${ready.toFixed(1)} | ${commit.toFixed(1)} | ${(ready / commit).toFixed(2)}x | ${stepMs.toFixed(0)} | ${(size / stepMs / 1e6).toFixed(3)} | ${(Math.max(...runs.map((x) => x.r.peakRssBytes)) / 2 ** 30).toFixed(1)} | ${runs.map((x) => `${(x.ready / x.commit).toFixed(2)}x`).join(', ')} |`;
    log(line);
    lines.push(line);
  }
  return lines;
}

/** Runs bench script `name` (built next to this one) in a process of its own; returns the JSON it prints. */
function childJson<T>(name: string, args: ReadonlyArray<string | number>): T {
  const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  return JSON.parse(execFileSync(process.execPath, [script, ...args.map(String)], { encoding: 'utf8' })) as T;
}

interface BuildResult {
  buildMs: number;
  gradientsMs: number;
  firstStepMs: number;
  stepMs: number;
  arenaBytes: number;
  peakRssBytes: number;
}

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
import { Bench } from 'tinybench';
import { RMSprop, Variable, type DType, type RMSpropOptions } from '../src/index.js';
import { fileURLToPath } from 'node:url';
import { copyBandwidth, pageCommitRate } from './roofline.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const VARIANTS: Record<'basic' | 'full', { options: RMSpropOptions; arrays: number }> = {
  // reads value, grad, velocity; writes value, velocity: 5 arrays moved
  basic: { options: {}, arrays: 5 },
  // the norm pass reads grad; the update reads grad and 5 arrays, writes those 5
  full: { options: { centered: true, momentum: 0.9, useEma: true, globalClipnorm: 1 }, arrays: 12 },
};
const bytesOf = (dtype: DType) => (dtype === 'float32' ? 4 : 2);
/** DRAM bytes per counted byte of a copy (it reads each destination line before writing it); a step writes only lines it has read (as step.ts). */
const WRITE_ALLOCATE = 1.5;

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

async function median(fn: () => Promise<void>, quick: boolean): Promise<number> {
  const bench = new Bench({ time: quick ? 200 : 600, iterations: quick ? 3 : 7, warmupIterations: 1, warmupTime: 50 });
  bench.add('step', fn);
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state !== 'completed') throw new Error(`benchmark task failed: ${result.state}`);
  return result.latency.p50;
}

export async function halfBench(quick: boolean, large: boolean): Promise<void> {
  const size = quick ? 1e7 : 5e7;
  const workers = availableParallelism();
  const roofline = await copyBandwidth(workers, quick ? 128e6 : 512e6, quick ? 5 : 9);
  log(`roofline on ${workers} threads: ${roofline.toFixed(1)} GB/s`);
  const rows: string[] = [];
  for (const [variant, spec] of Object.entries(VARIANTS)) {
    let float32Rate = 0;
    for (const dtype of DTYPES) {
      const variables = model(size, dtype);
      const optimizer = new RMSprop({ ...spec.options, workers });
      optimizer.build(variables);
      fillGradients(variables);
      const ms = await median(() => optimizer.step(), quick);
      await optimizer.close();
      const rate = size / ms / 1e6; // Gparam/s
      if (dtype === 'float32') float32Rate = rate;
      const bound = (WRITE_ALLOCATE * roofline) / (spec.arrays * bytesOf(dtype)); // Gparam/s
      const row = `| ${variant} | ${dtype} | ${ms.toFixed(1)} | ${rate.toFixed(3)} | ${(rate / float32Rate).toFixed(2)}x | ${bound.toFixed(3)} | ${((100 * rate) / bound).toFixed(0)}% |`;
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
  if (large) lines.push('', '## At scale', '', ...(await largeRun(workers, quick)));
  writeFileSync(
    new URL(`../../bench/results/half${quick ? '-quick' : ''}.md`, import.meta.url),
    `${lines.join('\n')}\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Ready time at scale, each build alone in a child process: 1e9 float32 and 2e9 float16
 * parameters (velocity only), the gradients written, then build plus the first step against
 * what committing that many fresh shared pages takes on the same threads, measured right after.
 */
async function largeRun(workers: number, quick: boolean): Promise<string[]> {
  const lines = [
    '| parameters | build s | writing the gradients s | first step s | build + first step s | committing the arena s | ratio | later steps ms | Gparam/s | peak resident GiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [size, dtype] of [
    [1e9, 'float32'],
    [2e9, 'float16'],
  ] as const) {
    if (quick) break;
    const child = fileURLToPath(new URL('./build-child.js', import.meta.url));
    const out = execFileSync(process.execPath, [child, String(size), String(size / 1e8), String(workers), dtype, '3'], {
      encoding: 'utf8',
    });
    const r = JSON.parse(out) as BuildResult;
    const commitS = r.arenaBytes / 2 ** 30 / (await pageCommitRate(workers, r.arenaBytes)); // the same bytes, fresh
    const ready = (r.buildMs + r.firstStepMs) / 1e3;
    const line = `| ${size.toExponential(0)} ${dtype} | ${(r.buildMs / 1e3).toFixed(1)} | ${(r.gradientsMs / 1e3).toFixed(1)} | ${(r.firstStepMs / 1e3).toFixed(1)} | ${ready.toFixed(1)} | ${commitS.toFixed(1)} | ${(ready / commitS).toFixed(2)}x | ${r.stepMs.toFixed(0)} | ${(size / r.stepMs / 1e6).toFixed(3)} | ${(r.peakRssBytes / 2 ** 30).toFixed(1)} |`;
    log(line);
    lines.push(line);
  }
  return lines;
}

interface BuildResult {
  buildMs: number;
  gradientsMs: number;
  firstStepMs: number;
  stepMs: number;
  arenaBytes: number;
  peakRssBytes: number;
}

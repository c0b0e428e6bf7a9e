/**
 * `npm run bench -- --half [--quick] [--large]`: the step over float32, float16 and bfloat16
 * variables of the same size (5e7 parameters; --quick 1e7), basic and full, on every core,
 * with the memory roofline measured in the same run; `--large` adds 2e9 float16 parameters
 * (velocity only): build time, the first step, the step rate and the peak resident memory.
 * Writes bench/results/half.md. Reports only; no thresholds.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { Bench } from 'tinybench';
import { RMSprop, Variable, type DType, type RMSpropOptions } from '../src/index.js';
import { copyBandwidth } from './roofline.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const VARIANTS: Record<'basic' | 'full', { options: RMSpropOptions; arrays: number }> = {
  // reads value, grad, velocity; writes value, velocity: 5 arrays moved
  basic: { options: {}, arrays: 5 },
  // the norm pass reads grad; the update reads grad and 5 arrays, writes those 5
  full: { options: { centered: true, momentum: 0.9, useEma: true, globalClipnorm: 1 }, arrays: 12 },
};
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
      const bound = (roofline * 1e9) / (spec.arrays * bytesOf(dtype)) / 1e9;
      const row = `| ${variant} | ${dtype} | ${ms.toFixed(1)} | ${rate.toFixed(3)} | ${(rate / float32Rate).toFixed(2)}x | ${bound.toFixed(3)} | ${((100 * rate) / bound).toFixed(0)}% |`;
      log(row);
      rows.push(row);
    }
  }
  const lines = [
    `# Half-precision step, ${size.toExponential(0)} parameters, ${workers} workers`,
    '',
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${workers} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}.`,
    `Memory roofline (parallel copies, bytes read + written): ${roofline.toFixed(1)} GB/s on ${workers} threads. Bound = roofline / bytes moved per parameter.`,
    '',
    '| variant | dtype | median ms | Gparam/s | vs float32 | roofline Gparam/s | of roofline |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows,
  ];
  if (large) lines.push('', ...(await largeRun(workers, quick)));
  writeFileSync(
    new URL(`../../bench/results/half${quick ? '-quick' : ''}.md`, import.meta.url),
    `${lines.join('\n')}\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** 2e9 float16 parameters, velocity only: build, first step (page commit), step rate, peak memory. */
async function largeRun(workers: number, quick: boolean): Promise<string[]> {
  const size = 2e9;
  const started = performance.now();
  const variables = model(size, 'float16');
  const optimizer = new RMSprop({ workers });
  optimizer.build(variables);
  const built = performance.now();
  fillGradients(variables);
  const filled = performance.now();
  await optimizer.step();
  const first = performance.now();
  const ms = await median(() => optimizer.step(), quick);
  await optimizer.close();
  const peak = process.resourceUsage().maxRSS * 1024;
  const line = `2e9 float16 (velocity only): build ${((built - started) / 1e3).toFixed(1)} s, writing the gradients ${((filled - built) / 1e3).toFixed(1)} s, first step (commits the pages) ${((first - filled) / 1e3).toFixed(1)} s, then ${ms.toFixed(0)} ms a step (${(size / ms / 1e6).toFixed(3)} Gparam/s); peak resident memory ${(peak / 2 ** 30).toFixed(1)} GiB`;
  log(line);
  return [line];
}

/**
 * One build, measured alone in its own process (`npm run bench` runs it per size): `size`
 * parameters of `dtype` (default float32) from 'zeros' in `variables` variables, built with the
 * default options; the gradients written (0.01), then `steps` steps (default 11);
 * prints JSON: build ms, the gradients' ms, the first step's ms, the median of later steps, the arena's bytes and
 * the process's peak resident memory above what it held before (Linux's VmHWM, which starts
 * afresh in a new process; ru_maxrss would carry the parent's peak over exec).
 *
 *   node dist/bench/build-child.js <size> [variables] [workers] [dtype] [steps]
 */
import { readFileSync } from 'node:fs';
import { median } from '../src/cli/figures.js';
import { RMSprop, Variable, type DType } from '../src/index.js';

/** This process's peak resident bytes. */
function peakResident(): number {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) * 1024;
  } catch {
    // not Linux: the resource usage is the best there is
  }
  return process.resourceUsage().maxRSS * 1024;
}

const [size, variables = 1, workers = 'auto'] = process.argv.slice(2, 5).map((a) => (a === 'auto' ? a : Number(a)));
const dtype = (process.argv[5] ?? 'float32') as DType;
const steps = Number(process.argv[6] ?? 11);
const total = Number(size);
const parts = Number(variables);
const rssBefore = peakResident();
const started = performance.now();
const vars = Array.from({ length: parts }, (_, i) => {
  const n = Math.floor(total / parts) + (i < total % parts ? 1 : 0);
  return new Variable('zeros', { shape: [n], name: `w${i}`, dtype });
});
const optimizer = new RMSprop({ workers: workers });
optimizer.build(vars);
const buildMs = performance.now() - started;
const writing = performance.now();
// 0.01 as the dtype stores it (float16 and bfloat16: its bits)
for (const v of vars) v.grad.fill(dtype === 'float16' ? 0x211f : dtype === 'bfloat16' ? 0x3c24 : 0.01);
const gradientsMs = performance.now() - writing;
const stepMs: number[] = [];
for (let s = 0; s < steps; s++) {
  const t = performance.now();
  await optimizer.step();
  stepMs.push(performance.now() - t);
}
console.log(
  JSON.stringify({
    size: total,
    dtype,
    buildMs,
    gradientsMs,
    firstStepMs: stepMs[0],
    stepMs: median(stepMs.slice(1)),
    threads: optimizer.workers,
    arenaBytes: optimizer.memoryBytes,
    peakRssBytes: peakResident() - rssBefore,
  }),
);
await optimizer.close();

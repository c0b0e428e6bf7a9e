/**
 * One build, measured alone in its own process (`npm run bench` runs it per size): `size`
 * float32 parameters from 'zeros' in `variables` variables, built with the default options;
 * prints JSON: build ms, the first step's ms, the median of later steps, the arena's bytes and
 * the process's peak resident memory above what it held before (Linux's VmHWM, which starts
 * afresh in a new process; ru_maxrss would carry the parent's peak over exec).
 *
 *   node dist/bench/build-child.js <size> [variables] [workers]
 */
import { readFileSync } from 'node:fs';
import { median } from '../src/cli/figures.js';
import { RMSprop, Variable } from '../src/index.js';

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

const [size, variables = 1, workers = 'auto'] = process.argv.slice(2).map((a) => (a === 'auto' ? a : Number(a)));
const total = Number(size);
const parts = Number(variables);
const rssBefore = peakResident();
const started = performance.now();
const vars = Array.from({ length: parts }, (_, i) => {
  const n = Math.floor(total / parts) + (i < total % parts ? 1 : 0);
  return new Variable('zeros', { shape: [n], name: `w${i}` });
});
const optimizer = new RMSprop({ workers: workers });
optimizer.build(vars);
const buildMs = performance.now() - started;
for (const v of vars) v.grad.fill(0.01);
const stepMs: number[] = [];
for (let s = 0; s < 11; s++) {
  const t = performance.now();
  await optimizer.step();
  stepMs.push(performance.now() - t);
}
console.log(
  JSON.stringify({
    size: total,
    buildMs,
    firstStepMs: stepMs[0],
    stepMs: median(stepMs.slice(1)),
    threads: optimizer.workers,
    arenaBytes: optimizer.memoryBytes,
    peakRssBytes: peakResident() - rssBefore,
  }),
);
await optimizer.close();

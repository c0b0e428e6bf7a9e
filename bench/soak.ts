/**
 * `npm run soak [-- --seconds 25 --step-timeout-ms 10000 --params 100000 --workers 2]`: awaits
 * `step()` in a loop for longer than the step timeout and prints, per 1-second window, the
 * steps per second, the resident memory and the active handles — so a slowdown or a pile-up
 * that starts once the timeout has elapsed shows. Writes the table to bench/results/soak.md.
 * Reports only; no thresholds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median } from '../src/cli/figures.js';
import { RMSprop, Variable } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    'step-timeout-ms': { type: 'string', default: '10000' },
    params: { type: 'string', default: '100000' },
    workers: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/soak.md' },
  },
});
const stepTimeoutMs = Number(args['step-timeout-ms']);
const seconds = args.seconds === undefined ? Math.ceil((2.5 * stepTimeoutMs) / 1000) : Number(args.seconds);
const params = Number(args.params);
const workers = args.workers === 'auto' ? 'auto' : Number(args.workers);

interface Window {
  second: number;
  steps: number;
  rssMiB: number;
  handles: number;
}

const mib = (bytes: number): number => bytes / 2 ** 20;

const variable = new Variable(new Float32Array(params).fill(0.5), { name: 'w' });
const optimizer = new RMSprop({ workers, stepTimeoutMs });
optimizer.build([variable]);
variable.grad.fill(0.25);
const rssStart = mib(process.memoryUsage().rss);

const windows: Window[] = [];
const started = performance.now();
let windowStart = started;
let steps = 0;
while (windows.length < seconds) {
  await optimizer.step();
  steps++;
  const now = performance.now();
  if (now - windowStart >= 1000) {
    const perSecond = (steps * 1000) / (now - windowStart);
    windows.push({
      second: windows.length + 1,
      steps: perSecond,
      rssMiB: mib(process.memoryUsage().rss),
      handles: process.getActiveResourcesInfo().length,
    });
    windowStart = now;
    steps = 0;
  }
}
const total = optimizer.iterations;
await optimizer.close();

const rates = windows.map((w) => w.steps);
const steady = rates.slice(1);
const afterTimeout = rates.slice(Math.ceil(stepTimeoutMs / 1000));
const [slowest, typical] = [Math.min(...steady), median(steady)];
const rss = [rssStart, windows[0]!.rssMiB, windows.at(-1)!.rssMiB].map((x) => x.toFixed(0));
const lines = [
  `# Soak: ${total} steps in ${seconds} s`,
  '',
  `${params.toLocaleString('en-US')} float32 parameters, workers ${optimizer.workers ?? workers}, ` +
    `stepTimeoutMs ${stepTimeoutMs} (the run lasts ${((seconds * 1000) / stepTimeoutMs).toFixed(1)} x the timeout), ` +
    `Node ${process.version}.`,
  '',
  '| second | steps/s | RSS MiB | active handles |',
  '|---:|---:|---:|---:|',
  ...windows.map((w) => `| ${w.second} | ${w.steps.toFixed(0)} | ${w.rssMiB.toFixed(0)} | ${w.handles} |`),
  '',
  `First window (threads starting) ${rates[0]!.toFixed(0)} steps/s. ` +
    `After it: slowest window ${slowest.toFixed(0)} steps/s, median ${typical.toFixed(0)} steps/s ` +
    `(slowest / median ${(slowest / typical).toFixed(2)}); ` +
    (afterTimeout.length > 0
      ? `after the timeout had elapsed: median ${median(afterTimeout).toFixed(0)} steps/s. `
      : 'the run ended before the timeout. ') +
    `RSS ${rss[0]} MiB at build, ${rss[1]} MiB after 1 s, ${rss[2]} MiB at the end.`,
];
console.log(lines.join('\n'));
mkdirSync('bench/results', { recursive: true });
writeFileSync(args.out, lines.join('\n') + '\n');

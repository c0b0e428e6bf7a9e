/**
 * `npm run bench [-- --quick]`: median time of one optimizer step (zero-copy `step()`) by model
 * size, variant and workers, next to a naive single-thread JS loop doing the basic update, all
 * measured in the same run. Writes bench/results/step.md. No thresholds: this only reports.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { RMSprop, Variable, type RMSpropOptions } from '../src/index.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const sizes = args.quick ? [1e4, 1e6] : [1e4, 1e5, 1e6, 1e7];
const cores = availableParallelism();
const workerSettings: Array<number | 'auto'> = [...new Set([0, 1, cores]), 'auto'];
const variants: Record<string, RMSpropOptions> = {
  basic: {},
  full: { centered: true, momentum: 0.9, useEma: true, globalClipnorm: 1 },
};

/** The update a user would write by hand: Keras's basic RMSprop, float32-rounded, one thread. */
function naiveLoop(p: Float32Array, g: Float32Array, v: Float32Array): void {
  const R = Math.fround;
  const lr = R(0.001), rho = R(0.9), oneMinusRho = R(0.1), eps = R(1e-7);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const vi = R(R(rho * v[i]!) + R(oneMinusRho * R(gi * gi)));
    v[i] = vi;
    p[i] = R(p[i]! - R(R(lr * gi) / R(Math.sqrt(R(vi + eps)))));
  }
}

interface Row {
  size: number;
  variant: string;
  setup: string;
  medianMs: number;
}

const rows: Row[] = [];
const optimizers: RMSprop[] = [];
const time = args.quick ? 150 : 800;

for (const size of sizes) {
  const bench = new Bench({ time, warmupIterations: 2, iterations: 5 });
  const naive = [new Float32Array(size).fill(0.1), new Float32Array(size).fill(0.01), new Float32Array(size)] as const;
  bench.add(`naive|basic`, () => naiveLoop(...naive));
  for (const [variant, options] of Object.entries(variants)) {
    for (const workers of workerSettings) {
      const w = new Variable(new Float32Array(size).fill(0.1), { name: 'w' });
      const optimizer = new RMSprop({ ...options, workers });
      optimizer.build([w]);
      w.grad!.fill(0.01);
      optimizers.push(optimizer);
      bench.add(`workers=${workers} (${optimizer.workers} threads)|${variant}`, () => optimizer.step());
    }
  }
  await bench.run();
  for (const task of bench.tasks) {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    const [setup, variant] = task.name.split('|') as [string, string];
    rows.push({ size, variant, setup, medianMs: result.latency.p50 });
  }
  while (optimizers.length > 0) await optimizers.pop()!.close();
  process.stderr.write(`measured ${size.toExponential(0)} parameters\n`);
}

const lines = [
  `# Optimizer step, float32 (${cpus()[0]?.model ?? 'cpu'}, ${cores} cores, Node ${process.version})`,
  '',
  `Median of tinybench samples; speedups are against workers=0 and the naive loop of the same size, measured in this run.`,
  '',
  '| parameters | variant | setup | median ms | Gparam/s | vs workers=0 | vs naive JS |',
  '|---:|---|---|---:|---:|---:|---:|',
];
for (const row of rows) {
  const single = rows.find((r) => r.size === row.size && r.variant === row.variant && r.setup.startsWith('workers=0 '));
  const naive = rows.find((r) => r.size === row.size && r.setup === 'naive');
  lines.push(
    `| ${row.size.toLocaleString('en')} | ${row.variant} | ${row.setup} | ${row.medianMs.toFixed(3)} | ${(row.size / row.medianMs / 1e6).toFixed(3)} | ` +
      `${single ? (single.medianMs / row.medianMs).toFixed(2) + 'x' : ''} | ${naive ? (naive.medianMs / row.medianMs).toFixed(2) + 'x' : ''} |`,
  );
}
const table = lines.join('\n') + '\n';
console.log(table);
writeFileSync(new URL(`../../bench/results/step${args.quick ? '-quick' : ''}.md`, import.meta.url), table);

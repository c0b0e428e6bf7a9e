/**
 * `npm run bench -- --norms [--quick] [--against REF]`: the step of the norm-clipping variants
 * (`full`, with globalClipnorm, and clipnorm alone) against the same step of an earlier commit
 * (REF, by default the last one whose norm pass summed float64 per 4 KiB block, before numpy's
 * order), built from git into a temporary worktree and measured in the same run, in turn, on
 * one large variable and on many small ones, at every worker count. Writes
 * bench/results/norms.md. Reports only; no thresholds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as current from '../src/index.js';
import { log, median, medians, VARIANTS, type BenchArgs } from './lib.js';

/** Rounds of each pair of steps, in turn: single rows on this shared VM scatter by tens of percent. */
const ROUNDS = 15;

/** The commit before the norm pass followed numpy's order (issue 31). */
export const BEFORE_NUMPY_ORDER = 'ef60ba5';

type Library = Pick<typeof current, 'RMSprop' | 'Variable'>;

const SETUPS = {
  full: VARIANTS.full.options,
  clipnorm: { clipnorm: 1 },
} as const;

/** Models: one variable of `size`, or `size` parameters in variables of 5,000 (a dense layer's). */
const MODELS = [
  { label: 'one variable', shapes: (size: number) => [size] },
  { label: 'variables of 5,000', shapes: (size: number) => Array.from({ length: size / 5000 }, () => 5000) },
] as const;

/** Builds commit `ref` into a temporary worktree (sharing this checkout's node_modules); returns its root. */
function buildAt(ref: string): string {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'rmsprop-pool-against-'));
  execFileSync('git', ['worktree', 'add', '--detach', dir, ref], { cwd: root, stdio: 'ignore' });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir });
  execFileSync(process.execPath, ['dist/scripts/build-wasm.js'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

function removeWorktree(dir: string): void {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: root, stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

/** One step of `library`'s optimizer over `shapes`, built and ready; `close` ends it. */
function stepper(library: Library, shapes: readonly number[], options: current.RMSpropOptions) {
  const variables = shapes.map((n, i) => new library.Variable(new Float32Array(n).fill(0.1), { name: `w${i}` }));
  const optimizer = new library.RMSprop(options);
  optimizer.build(variables);
  for (const v of variables) (v.grad as Float32Array).fill(0.01);
  return { step: () => optimizer.step(), close: () => optimizer.close() };
}

export async function run({ quick }: BenchArgs, against = BEFORE_NUMPY_ORDER): Promise<void> {
  const cores = availableParallelism();
  const sizes = quick ? [1e6] : [1e5, 1e6, 1e7, 5e7];
  const dir = buildAt(against);
  const rows: string[] = [];
  const ratios: Record<string, number[]> = { full: [], clipnorm: [] };
  try {
    const before = (await import(pathToFileURL(join(dir, 'dist/src/index.js')).href)) as Library;
    for (const size of sizes) {
      for (const model of MODELS) {
        if (model.label !== 'one variable' && size > 1e7) continue;
        for (const [variant, options] of Object.entries(SETUPS)) {
          for (let workers = 0; workers <= cores; workers++) {
            const setup = { ...options, workers };
            const steppers = [stepper(before, model.shapes(size), setup), stepper(current, model.shapes(size), setup)];
            try {
              const [then, now] = await medians(
                steppers.map((s) => s.step),
                quick,
                ROUNDS,
              );
              ratios[variant]!.push(then! / now!);
              const line = `| ${size.toExponential(0)} | ${model.label} | ${variant} | ${workers} | ${then!.toFixed(3)} | ${now!.toFixed(3)} | ${(then! / now!).toFixed(2)}x |`;
              rows.push(line);
              log(line);
            } finally {
              await Promise.all(steppers.map((s) => s.close()));
            }
          }
        }
      }
    }
  } finally {
    removeWorktree(dir);
  }
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  writeFileSync(
    new URL(`../../bench/results/norms${quick ? '-quick' : ''}.md`, import.meta.url),
    [
      '# The norm pass in numpy’s order, against the one before',
      '',
      `${cpus()[0]?.model.trim() ?? 'CPU'}, ${cores} cores, Node ${process.version}; \`npm run bench -- --norms${quick ? ' --quick' : ''}\` at ${commit} against ${against}, float32, ` +
        `medians of steps measured in turn (${quick ? 2 : ROUNDS} rounds of 3), every figure from this one run. ` +
        'Speed ratio: the earlier commit’s step time over this one’s (1.00x = as fast, above = faster now).',
      '',
      `\`full\`: ${JSON.stringify(SETUPS.full)}; \`clipnorm\`: ${JSON.stringify(SETUPS.clipnorm)}.`,
      '',
      ...Object.entries(ratios).map(
        ([variant, r]) =>
          `- ${variant}: median speed ratio ${median(r).toFixed(2)}x over its ${r.length} rows (lowest ${Math.min(...r).toFixed(2)}x, highest ${Math.max(...r).toFixed(2)}x)`,
      ),
      '',
      '| parameters | model | variant | workers | before ms | now ms | speed ratio |',
      '|---:|---|---|---:|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
}

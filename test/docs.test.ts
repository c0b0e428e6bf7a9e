/**
 * The API reference builds from the TSDoc without a warning (what `npm run docs` generates); the
 * reproductions in docs/tfjs-wasm.md run and show what the page says.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** TypeDoc over the project as `npm run docs` configures it, generating nothing. */
function typedoc(...flags: string[]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const bin = fileURLToPath(new URL('../node_modules/typedoc/bin/typedoc', import.meta.url));
  return spawnSync(process.execPath, [bin, '--emit', 'none', ...flags], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

it('typedoc documents every exported symbol without warnings', () => {
  const run = typedoc('--treatWarningsAsErrors');
  expect(run.status, run.stdout + run.stderr).toBe(0);
});

it('every exported class, interface, type, function and method has a summary', () => {
  const run = typedoc('--validation.notDocumented');
  expect(run.status, run.stderr).toBe(0);
  const undocumented = (run.stdout + run.stderr)
    .split('\n')
    .filter((line) =>
      / \((Class|Interface|TypeAlias|Function|Method|Accessor|Constructor|Namespace)\), defined in /.test(line),
    );
  expect(undocumented).toEqual([]);
});

it('exports no internals (option plumbing, name conversion, build-time checks)', async () => {
  const api: Record<string, unknown> = await import('../dist/src/index.js');
  for (const name of ['resolveLanes', 'MIN_ELEMENTS_PER_WORKER', 'camelToSnake', 'snakeToCamel', 'scheduleClasses']) {
    expect(api, name).not.toHaveProperty(name);
    expect(api.schedules, `schedules.${name}`).not.toHaveProperty(name);
  }
  expect(api).toHaveProperty('RMSprop');
  expect(api.schedules).toHaveProperty('CosineDecay');
});

describe('docs/tfjs-wasm.md: each reproduction runs and shows what it says', () => {
  const page = readFileSync(new URL('../docs/tfjs-wasm.md', import.meta.url), 'utf8');
  const blocks = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  /** What each reproduction prints: tfjs-wasm's result, then ours (timings vary: only their form). */
  const expected = [
    /^ms for x W, x\^T dy, dy W\^T: tfjs-wasm [\d.]+, [\d.]+, [\d.]+; useWasmTrainingKernels [\d.]+, [\d.]+, [\d.]+\n$/,
    // tfjs-wasm's own is wrong (not the right answer); ours is a^T b + bias
    /^tfjs-wasm: (?!15 24 34 17 25 35 19 26 36\n)[^\n]+\nours: {6}15 24 34 17 25 35 19 26 36\n$/,
    /^tfjs-wasm: (?!16 20\n)[^\n]+\nours: {6}16 20\n$/,
    /^tfjs-wasm: Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'\nours: loss \d+\.\d{3}\n$/,
    /^tfjs's shape: 1x9x8x1\nConv2D: tfjs sizes this convolution's output 9x8, but tfjs-wasm's XNNPACK would write 9x9, past the end of the output\n$/,
  ];

  it('has the reproductions this test knows about', () => {
    expect(blocks.length).toBe(expected.length);
  });
  it.each(blocks.map((code, i) => [i + 1, code] as const))('reproduction %i', (i, code) => {
    const dir = new URL('./.readme/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const file = new URL(`tfjs-wasm-${i}.mjs`, dir);
    writeFileSync(file, code);
    const run = spawnSync(process.execPath, [file.pathname], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(expected[i - 1]!);
  });
});

it('the README and the docs pages link only to files that exist', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const pages = [
    'README.md',
    'ARCHITECTURE.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const broken = pages.flatMap((page) =>
    [...readFileSync(join(root, page), 'utf8').matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1]!)
      .filter((target) => !/^[a-z]+:/.test(target) && !existsSync(join(root, dirname(page), target)))
      .map((target) => `${page} -> ${target}`),
  );
  expect(broken).toEqual([]);
});

describe('the figures users read come from a benchmark run', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const results = readdirSync(join(root, 'bench/results'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => readFileSync(join(root, 'bench/results', f), 'utf8'))
    .join('\n');
  /** A measured figure: a number with a unit of time, rate, size or ratio. */
  const FIGURE = /(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(ms|s|µs|GB\/s|GiB|Gparam\/s|GFLOP\/s|x|%)(?![\w/])/g;

  it.each(['docs/performance.md', 'README.md'])('%s quotes only figures that bench/results/ holds', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    const figures = [...text.matchAll(FIGURE)];
    expect(figures.length).toBeGreaterThan(5);
    const missing = figures
      .map((m) => m[0])
      .filter((figure) => !results.includes(figure.match(/[\d,.]+/)![0].replaceAll(',', '')));
    expect(missing).toEqual([]);
  });

  it("docs/performance.md's optimizer-step rows are the results file's rows, as measured", () => {
    const page = readFileSync(join(root, 'docs/performance.md'), 'utf8');
    const rows = page.split('\n').filter((line) => line.startsWith('| 5e+7 |'));
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) expect(results, row).toContain(row);
  });
});

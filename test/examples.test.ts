/** The examples run as written (built into dist/examples by `npm run build`). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('example:data-parallel: one replica and one per core give the same weights, byte for byte', () => {
  const script = fileURLToPath(new URL('../dist/examples/train-data-parallel.js', import.meta.url));
  const run = spawnSync(process.execPath, [script, '4'], { encoding: 'utf8', timeout: 120_000 });
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout).toMatch(/^1 replica: loss \d\.\d{4} after 4 steps, median [\d.]+ ms\/step\n/);
  expect(run.stdout).toContain('same weights byte for byte: true;');
});

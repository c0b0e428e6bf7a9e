/** The API reference builds from the TSDoc without a warning (what `npm run docs` generates). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

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

/**
 * The layering ARCHITECTURE.md's folder map states, held against the code: every import of a
 * module in src/ or workers/ (type imports and re-exports included, read by TypeScript's own
 * scanner) stays in its folder or goes to a folder its row allows, each row above it; no cycle
 * among the modules; every folder in the map; the top of src/ only the package's entries; no
 * module over 400 lines.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const MAX_LINES = 400;
const MAX_TOP_FILES = 4;

interface Row {
  /** The folder as the map names it in "may import": `optimizer/schedules`, `workers`, `` for src/ itself. */
  readonly name: string;
  readonly mayImport: readonly string[];
}

/** The folder map: the table under "## Folders", bottom to top. */
function folderMap(): Row[] {
  const text = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');
  const section = text.slice(text.indexOf('## Folders'), text.indexOf('\n## ', text.indexOf('## Folders') + 1));
  return [...section.matchAll(/^\| `([^`]+)` \|[^|]*\| ([^|]*) \|$/gm)].map(([, folder, allowed]) => ({
    name: folderName(folder!),
    mayImport: allowed!.trim() === '—' ? [] : allowed!.split(',').map((s) => s.trim()),
  }));
}

/** `src/optimizer/` -> `optimizer`, `src/` -> ``, `workers/` -> `workers`. */
function folderName(path: string): string {
  const bare = path.replace(/\/$/, '');
  return bare === 'src' ? '' : bare.startsWith('src/') ? bare.slice(4) : bare;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return sourceFiles(path);
    return /\.[cm]?ts$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const MODULES = [...sourceFiles('src'), ...sourceFiles('workers')];

/** A module's relative imports (static, dynamic, type-only, re-exports), as repository paths of sources. */
function importsOf(module: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(root, module), 'utf8'), true, true);
  return importedFiles
    .map((file) => file.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) =>
      join(dirname(module), spec)
        .replace(/\.js$/, '.ts')
        .replace(/\.cjs$/, '.cts')
        .replace(/\.mjs$/, '.mts'),
    );
}

/**
 * The row a module belongs to: the longest folder of the map that holds it. The `src/` row
 * holds only the files at the top of src/, so a module in a folder the map lacks has none; a
 * folder inside a row's folder is that row's (`kernels/wasm` is `kernels`'s) unless it has a row.
 */
function rowOf(module: string, rows: readonly Row[]): Row | undefined {
  const holds = (row: Row) =>
    row.name === ''
      ? dirname(module) === 'src'
      : module.startsWith(row.name === 'workers' ? 'workers/' : `src/${row.name}/`);
  return rows.filter(holds).sort((a, b) => b.name.length - a.name.length)[0];
}

/** Every cycle of the graph, as its modules (Tarjan's strongly connected components of more than one module, or a self-import). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do component.push((w = stack.pop()!));
      while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the folder map in ARCHITECTURE.md is the code’s layering', () => {
  const rows = folderMap();

  it('names the folder of every module, and every folder it names holds one; a row may import only rows above it', () => {
    expect(rows.length).toBeGreaterThan(8);
    for (const m of MODULES) expect(rowOf(m, rows), `${m}: its folder is not in the map`).toBeDefined();
    for (const row of rows)
      expect(
        MODULES.some((m) => rowOf(m, rows) === row),
        `${row.name || 'src'}: no module`,
      ).toBe(true);
    rows.forEach((row, k) => {
      const above = rows.slice(0, k).map((r) => r.name);
      for (const allowed of row.mayImport)
        expect(above, `${row.name || 'src'} may import ${allowed}`).toContain(allowed);
    });
  });

  it('no module imports a folder its row does not allow', () => {
    const refused = MODULES.flatMap((module) => {
      const from = rowOf(module, rows)!;
      return importsOf(module)
        .map((target) => ({ target, to: rowOf(target, rows) }))
        .filter(({ to }) => to !== undefined && to !== from && !from.mayImport.includes(to.name))
        .map(({ target, to }) => `${module} -> ${target} (${from.name || 'src'} may not import ${to!.name || 'src'})`);
    });
    expect(refused).toEqual([]);
  });

  it('the layering test sees an upward import and a cycle where there is one', () => {
    const upward = rowOf('src/memory/arena.ts', rows)!;
    expect(upward.mayImport).not.toContain(rowOf('src/kernels/rmsprop.ts', rows)!.name);
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c']]);
  });

  it('no import cycle among the modules of src/ and workers/, type imports included', () => {
    const graph = new Map(MODULES.map((m) => [m, importsOf(m).filter((t) => MODULES.includes(t))]));
    expect(graph.get('src/optimizer/optimizer.ts')!.length).toBeGreaterThan(5);
    expect(cycles(graph)).toEqual([]);
  });

  it(`the top of src/ holds only the package's entries (at most ${MAX_TOP_FILES} files)`, () => {
    const top = readdirSync(join(root, 'src')).filter((name) => statSync(join(root, 'src', name)).isFile());
    expect(top.length).toBeLessThanOrEqual(MAX_TOP_FILES);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { default: string }>;
    };
    const entries = Object.values(pkg.exports)
      .map((target) => (typeof target === 'string' ? target : target.default))
      .map((target) => relative('dist', target.replace(/^\.\//, '')).replace(/\.js$/, '.ts'));
    for (const name of top)
      expect(entries, `src/${name} is not an entry of package.json's exports`).toContain(`src/${name}`);
  });

  it(`no module is over ${MAX_LINES} lines`, () => {
    const long = MODULES.map((m) => [m, readFileSync(join(root, m), 'utf8').split('\n').length - 1] as const).filter(
      ([, lines]) => lines > MAX_LINES,
    );
    expect(long).toEqual([]);
  });
});

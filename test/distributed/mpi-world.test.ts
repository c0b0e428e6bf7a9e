/**
 * The sharded update under real `mpirun`: 1, 2, 3 and 4 ranks, over shared memory and over TCP
 * on loopback, leave the bytes of one process without MPI (values and every slot, hashed), as
 * the in-process world does (sharded-step.test.ts), through the same runs (world-run.mjs); and
 * so does training (world-train.mjs) at 1, 2 and 4 ranks × 1 and 2 replicas, losses included.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RMSprop, Variable } from '../../dist/src/index.js';
import { jsonLines, mpiAvailable, mpirunOf, mpirunStarted, mpiRuns, MPI_TRANSPORTS } from '../helpers/mpi.js';
import { RESAVE, runRank } from '../modules/world-run.mjs';
import { trainRank } from '../modules/world-train.mjs';
import { fitRank } from '../modules/world-fit.mjs';

const script = fileURLToPath(new URL('../modules/mpi-world-run.mjs', import.meta.url));
const SETTINGS = ['clipnorm', 'half'] as const;

/** One process's hashes, without MPI. */
async function alone(microBatches: number): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const setting of SETTINGS) {
    const { hash, iterations } = await runRank(null, { setting, microBatches });
    hashes[setting] = `${hash} after ${iterations} iterations`;
  }
  return hashes;
}

describe.skipIf(!mpiAvailable)('the sharded update under mpirun', () => {
  for (const [label, transport] of MPI_TRANSPORTS) {
    const works = mpiRuns(label, transport);
    for (const [ranks, microBatches] of [
      [1, 4],
      [2, 4],
      [3, 6],
      [4, 4],
    ] as const) {
      it.skipIf(!works)(
        `${ranks} ranks over ${label}: one process's bytes (${microBatches} micro-batches)`,
        async () => {
          const expected = await alone(microBatches);
          const run = mpirunOf(script, ranks, transport, ['update', String(microBatches), ...SETTINGS], 120_000);
          expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
          const seen = jsonLines<{ rank: number; hashes: Record<string, string> }>(run.stdout);
          expect(seen.map((s) => s.rank)).toEqual(Array.from({ length: ranks }, (_, r) => r));
          for (const s of seen) expect(s.hashes).toEqual(expected);
        },
      );
    }
  }

  describe('training', () => {
    const works = mpiRuns('shared memory', MPI_TRANSPORTS[0][1]);
    for (const [ranks, replicas] of [
      [1, 2],
      [2, 1],
      [2, 2],
      [4, 1],
    ] as const) {
      it.skipIf(!works)(`${ranks} ranks × ${replicas} replicas: one process's values, slots and losses`, async () => {
        const expected = await trainRank(null, { microBatches: 4, replicas: 2 });
        const run = mpirunOf(script, ranks, MPI_TRANSPORTS[0][1], ['train', '4', String(replicas)], 120_000);
        expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
        const seen = jsonLines<{ rank: number; hash: string; losses: number[] }>(run.stdout);
        expect(seen.map((s) => s.rank)).toEqual(Array.from({ length: ranks }, (_, r) => r));
        for (const s of seen) {
          expect(s.hash).toBe(expected.hash);
          expect(s.losses).toEqual(expected.losses);
        }
      });
    }
  });

  it.skipIf(!mpiRuns('shared memory', MPI_TRANSPORTS[0][1]))(
    "fitDataParallel over a world, 2 ranks × 1 replica: one process's weights and History (Dropout, shuffled, validated)",
    async () => {
      const expected = await fitRank(null, { replicas: 2 });
      const run = mpirunOf(script, 2, MPI_TRANSPORTS[0][1], ['fit', '4', '1'], 120_000);
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      const seen = jsonLines<{ rank: number; hash: string; history: Record<string, number[]> }>(run.stdout);
      expect(seen.map((s) => s.rank)).toEqual([0, 1]);
      expect(Object.keys(expected.history).sort()).toEqual(['acc', 'loss', 'val_acc', 'val_loss']);
      for (const s of seen) {
        expect(s.hash).toBe(expected.hash);
        expect(s.history).toEqual(expected.history);
      }
    },
  );

  it.skipIf(!mpiRuns('shared memory', MPI_TRANSPORTS[0][1]))(
    'ranks that built differently are refused on every rank, naming the rank and the difference',
    () => {
      const run = mpirunOf(script, 3, MPI_TRANSPORTS[0][1], ['disagree', '3']);
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      const seen = jsonLines<{ rank: number; refused: string | null }>(run.stdout);
      expect(seen).toHaveLength(3);
      for (const s of seen)
        expect(s.refused).toMatch(
          /rank 2 differs from rank 0 in what they built: rank 0 has variable 0: 'v', shape \[10\], float32; rank 2 has variable 0: 'v', shape \[12\], float32/,
        );
    },
  );

  describe('checkpoints', () => {
    const works = mpiRuns('shared memory', MPI_TRANSPORTS[0][1]);
    const run = { setting: 'global' as const, microBatches: 4, steps: 5 };

    it.skipIf(!works)('saved at 4 ranks, loaded at 2 and at 1 rank, continue bit for bit', async () => {
      const directory = join(await mkdtemp(join(tmpdir(), 'rmsprop-pool-mpi-')), 'checkpoint');
      const expected = (await runRank(null, run)).hash;
      const saved = mpirunOf(script, 4, MPI_TRANSPORTS[0][1], ['save', '4', directory], 120_000);
      expect(saved.status, `${saved.stdout}\n${saved.stderr}`).toBe(0);
      for (const ranks of [2, 1]) {
        const loaded = mpirunOf(script, ranks, MPI_TRANSPORTS[0][1], ['load', '4', directory], 120_000);
        expect(loaded.status, `${loaded.stdout}\n${loaded.stderr}`).toBe(0);
        const seen = jsonLines<{ rank: number; hash: string }>(loaded.stdout);
        expect(seen).toHaveLength(ranks);
        for (const s of seen) expect(s.hash).toBe(expected);
      }
      await rm(dirname(directory), { recursive: true, force: true });
    });

    it.skipIf(!works)(
      'a rank SIGKILLed mid-step: every process ends, non-zero, without hanging; the last checkpoint is intact',
      async () => {
        const directory = join(await mkdtemp(join(tmpdir(), 'rmsprop-pool-mpi-')), 'checkpoint');
        const started = Date.now();
        const died = mpirunOf(script, 4, MPI_TRANSPORTS[0][1], ['die', '4', directory], 120_000);
        expect(died.error, 'mpirun ended before its timeout').toBeUndefined();
        expect(died.status).not.toBe(0);
        expect(died.stdout).not.toContain('"hash"'); // no rank finished the run
        expect(Date.now() - started).toBeLessThan(60_000);
        // the checkpoint after step 2 loads, and the run from it ends as one that never failed
        const expected = (await runRank(null, run)).hash;
        const resumed = await runRank(null, { ...run, loadFrom: directory, at: 2 });
        expect(resumed.hash).toBe(expected);
        await rm(dirname(directory), { recursive: true, force: true });
      },
    );
    it.skipIf(!works)(
      'a rank SIGKILLed from outside while it writes its shard of a second save: non-zero, no hang; the first save loads',
      async () => {
        const directory = join(await mkdtemp(join(tmpdir(), 'rmsprop-pool-mpi-')), 'checkpoint');
        await mkdir(directory);
        const started = Date.now();
        const job = mpirunStarted(script, 4, MPI_TRANSPORTS[0][1], ['resave', '4', directory]);
        let stdout = '';
        let stderr = '';
        job.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        job.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const ended = new Promise<number | null>((resolve) => job.on('exit', (code) => resolve(code)));
        const bound = setTimeout(() => job.kill('SIGKILL'), 120_000);
        // rank 1's temporary shard of a save after the first save's manifest landed: kill rank 1 there
        let killed: string | null = null;
        const watcher = watch(directory, (_, name) => {
          const manifest = join(directory, 'manifest.json');
          if (killed !== null || name === null || !existsSync(manifest)) return;
          const first = (JSON.parse(readFileSync(manifest, 'utf8')) as { shards: string[] }).shards[0]!.split('-')[1]!;
          const pid = jsonLines<{ rank: number; pid?: number }>(stdout).find((l) => l.rank === 1)?.pid;
          if (!/^\.shard-[^-]+-00001-of-00004\.safetensors\..*\.tmp$/.test(name) || name.includes(first)) return;
          if (pid === undefined) return;
          process.kill(pid, 'SIGKILL');
          killed = name;
        });
        const status = await ended;
        clearTimeout(bound);
        watcher.close();
        expect(killed, `rank 1 was never seen writing a second save:\n${stdout}\n${stderr}`).not.toBeNull();
        expect(status).not.toBe(0);
        expect(stdout).not.toContain('"hash"'); // no rank finished the run
        expect(Date.now() - started).toBeLessThan(90_000);
        // the first save (after step 1) loads, and the run from it ends as one that never failed
        const run = { ...RESAVE, microBatches: 4 };
        const resumed = await runRank(null, { ...run, loadFrom: directory });
        const expected = await runRank(null, run);
        expect(resumed.hash).toBe(expected.hash);
        await rm(dirname(directory), { recursive: true, force: true });
      },
    );
  });

  it.skipIf(!mpiRuns('shared memory', MPI_TRANSPORTS[0][1]))(
    '`mpirun -np 2 rmsprop-pool train`: the synthetic job across the ranks, rank 0 reporting every rank',
    () => {
      const cli = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
      const run = mpirunOf(
        cli,
        2,
        MPI_TRANSPORTS[0][1],
        ['train', '--steps', '3', '--hidden', '512,256', '--no-svg', '--no-chart', '--json'],
        180_000,
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout.match(/^settings: /gm)).toHaveLength(1); // rank 1 prints nothing
      expect(run.stdout).toMatch(/^world: 2 ranks \(MPI\), 4 micro-batches \(2 per rank\)/m);
      // bytes sent within 5% of 2(N-1)/N of the gradient's; slots about half of one process's each
      for (const rank of [0, 1]) {
        const line = new RegExp(
          `^rank ${rank}: [\\d.]+ steps/s, sent [\\d.]+ MiB per step in [\\d.]+ collectives \\(([\\d.]+) of the bound\\), slots [\\d.]+ MiB \\(([\\d.]+)% of one process's\\)`,
          'm',
        ).exec(run.stdout);
        expect(line, run.stdout).not.toBeNull();
        expect(Number(line![1])).toBeLessThanOrEqual(1.05);
        expect(Math.abs(Number(line![2]) - 50)).toBeLessThan(5);
      }
    },
  );

  it.skipIf(!mpiRuns('shared memory', MPI_TRANSPORTS[0][1]))(
    "docs/distributed.md's program runs as written under mpirun -np 2, and its checkpoint loads in one process",
    async () => {
      const page = await readFile(fileURLToPath(new URL('../../docs/distributed.md', import.meta.url)), 'utf8');
      const program = /```js\n([\s\S]*?)```/.exec(page)![1]!;
      // inside the package, so that `import 'rmsprop-pool'` resolves to it (a self-reference)
      const file = fileURLToPath(new URL('../.readme/docs-distributed.mjs', import.meta.url));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, program);
      const cwd = await mkdtemp(join(tmpdir(), 'rmsprop-pool-docs-'));
      const run = spawnSync(
        'mpirun',
        ['-np', '2', '--oversubscribe', '--bind-to', 'none', ...MPI_TRANSPORTS[0][1], process.execPath, file],
        {
          cwd,
          encoding: 'utf8',
          timeout: 120_000,
          env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
        },
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      const w = new Variable('zeros', { name: 'w', shape: [1000, 1000] });
      const optimizer = await RMSprop.load(join(cwd, 'checkpoint'), [w]);
      expect(optimizer.iterations).toBe(100);
      expect(w.value[0]).toBeLessThan(0); // moved against the positive gradients
      await optimizer.close();
      await rm(cwd, { recursive: true, force: true });
    },
  );
});

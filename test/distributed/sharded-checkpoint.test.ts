/**
 * Checkpoints of a world of ranks (in one process; the MPI runs are in mpi-world.test.ts): a
 * save at 4 ranks loads at 4, 2 and 1 ranks and in one process without a world, and the run goes
 * on bit for bit; the manifest names one save's shards, written last; a save that fails on one
 * rank fails on all and leaves the previous checkpoint loadable; a damaged shard or manifest is
 * refused; the whole model exports to one ordinary checkpoint.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RMSprop } from '../../dist/src/index.js';
import { localWorld, type World } from '../../dist/src/distributed/world.js';
import { runRank } from '../modules/world-run.mjs';

type Run = Parameters<typeof runRank>[1];

const made: string[] = [];
afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function directory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmsprop-pool-sharded-'));
  made.push(dir);
  return join(dir, 'checkpoint');
}

async function ranksOf(ranks: number, run: Run) {
  const worlds: Array<World | null> = ranks === 0 ? [null] : localWorld(ranks);
  return await Promise.all(worlds.map((world) => runRank(world, run)));
}

describe('a checkpoint of a world of ranks', () => {
  for (const setting of ['global', 'accumulate', 'half'] as const) {
    it(`${setting}: saved at 4 ranks, loaded at 4, 2, 1 and without a world, continues bit for bit`, async () => {
      const dir = await directory();
      const run = { setting, microBatches: 4, steps: 5, at: 3 };
      const [alone] = await ranksOf(0, run);
      await ranksOf(4, { ...run, saveTo: dir });
      const files = await readdir(dir);
      expect(files).toHaveLength(5);
      expect(files).toContain('manifest.json');
      for (const ranks of [4, 2, 1, 0]) {
        const seen = await ranksOf(ranks, { ...run, loadFrom: dir });
        for (const s of seen)
          expect(`${s.hash} ${s.iterations}`, `at ${ranks} ranks`).toBe(`${alone!.hash} ${alone!.iterations}`);
      }
    });
  }

  it('a second save replaces the first: its manifest names only its own shards, the others are removed', async () => {
    const dir = await directory();
    await ranksOf(2, { setting: 'global', microBatches: 2, steps: 1, at: 1, saveTo: dir });
    const first = (await readdir(dir)).filter((f) => f.startsWith('shard-'));
    await ranksOf(4, { setting: 'global', microBatches: 4, steps: 1, at: 1, saveTo: dir });
    const second = (await readdir(dir)).filter((f) => f.startsWith('shard-'));
    expect(second).toHaveLength(4);
    expect(second.some((f) => first.includes(f))).toBe(false);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { shards: string[] };
    expect(manifest.shards.sort()).toEqual(second.sort());
  });

  it('what a save killed before its manifest leaves changes nothing, and the next save removes it', async () => {
    const dir = await directory();
    const run = { setting: 'global' as const, microBatches: 2, steps: 3, at: 2 };
    const [alone] = await ranksOf(0, run);
    await ranksOf(2, { ...run, saveTo: dir });
    // a later save that died: one rank's shard landed, another's temporary did not, no manifest
    const landed = (await readdir(dir)).find((f) => f.startsWith('shard-'))!;
    await writeFile(join(dir, landed.replace(/^shard-[^-]+-/, 'shard-zzzz-')), 'a shard of a save that died');
    const temporary = '.shard-zzzz-00001-of-00002.safetensors.999999.0a1b2c3d-0000-4000-8000-00000000dead.tmp';
    await writeFile(join(dir, temporary), 'half a shard');
    const [loaded] = await ranksOf(0, { ...run, loadFrom: dir });
    expect(loaded!.hash).toBe(alone!.hash);
    await ranksOf(2, { ...run, saveTo: dir });
    expect((await readdir(dir)).filter((f) => f.includes('zzzz'))).toEqual([]);
  });

  it('refuses a damaged shard, a damaged manifest and a missing shard, naming what is wrong', async () => {
    const dir = await directory();
    const run = { setting: 'global' as const, microBatches: 2, steps: 2, at: 1 };
    await ranksOf(2, { ...run, saveTo: dir });
    const manifestPath = join(dir, 'manifest.json');
    const manifest = await readFile(manifestPath, 'utf8');
    const shard = join(dir, (JSON.parse(manifest) as { shards: string[] }).shards[1]!);
    const bytes = await readFile(shard);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 3]! ^= 0x40; // inside the last piece's data
    await writeFile(shard, damaged);
    await expect(ranksOf(0, { ...run, loadFrom: dir })).rejects.toThrow(/fails its CRC-32 check|CRC/);
    await writeFile(shard, bytes);
    await writeFile(manifestPath, manifest.replace('"values":true', '"values":false'));
    await expect(ranksOf(0, { ...run, loadFrom: dir })).rejects.toThrow(/manifest.json fails its CRC-32 check/);
    await writeFile(manifestPath, manifest);
    await rm(shard);
    await expect(ranksOf(0, { ...run, loadFrom: dir })).rejects.toThrow(/ENOENT|no such file/);
  });

  it('exports to one ordinary checkpoint: loaded without variables, saved with them', async () => {
    const dir = await directory();
    const run = { setting: 'global' as const, microBatches: 4, steps: 3, at: 2 };
    await ranksOf(4, { ...run, saveTo: dir });
    const whole = `${dir}.safetensors`;
    const optimizer = await RMSprop.load(dir);
    await optimizer.save(whole, { variables: true });
    await optimizer.close();
    const [alone] = await ranksOf(0, run);
    const [fromWhole] = await ranksOf(0, { ...run, loadFrom: whole });
    expect(fromWhole!.hash).toBe(alone!.hash);
  });
});

/**
 * Checkpoint files you can trust: every tensor and the metadata carry a CRC-32 that load
 * verifies before anything changes, files of any size stream in and out (one over 2 GiB loads),
 * and a writer killed mid-save leaves the target whole and no temporary files that pile up.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CheckpointError, readCheckpoint, RMSprop, type RMSpropOptions } from '../../dist/src/index.js';
import { encodeHeader } from '../../dist/src/checkpoint/safetensors.js';
import { decodeSafetensors, encodeSafetensors } from '../helpers/safetensors-codec.js';
import { bytesOf } from '../helpers/compare.js';
import { randomValues } from '../helpers/state.js';
import { checkpointDirectory, headerOf, tensorNames } from '../helpers/files.js';
import { grads, model } from '../helpers/checkpoint-model.js';

const { dir, fresh } = checkpointDirectory('checkpoint-files');

/** Momentum and centering: every kind of slot, so every tensor position of a real file is covered. */
const OPTIONS: RMSpropOptions = { workers: 0, momentum: 0.9, centered: true, useEma: true };

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function saved(): Promise<string> {
  const opt = new RMSprop(OPTIONS);
  const vars = model();
  for (let s = 0; s < 2; s++) await opt.apply(grads(s), vars);
  const path = fresh();
  await opt.save(path, { variables: true });
  await opt.close();
  return path;
}

/**
 * `load` refuses `path` with a CheckpointError matching `message`; the variables given to it keep
 * their values and stay unbuilt.
 */
async function expectRefused(path: string, message: RegExp): Promise<void> {
  const vars = model(7);
  const before = bytesOf(vars.map((v) => v.value));
  const error = await RMSprop.load(path, vars).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).toContain(path);
  expect(bytesOf(vars.map((v) => v.value)).equals(before)).toBe(true);
  for (const v of vars) expect(v.value.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  await expect(readCheckpoint(path)).rejects.toThrow(message);
}

/** The documented recipe, written out independently: CRC-32 of `key NUL value NUL` for each covered key present. */
function metadataCrc(m: Record<string, string>): string {
  let crc = 0;
  for (const k of ['format', 'version', 'config', 'state', 'variables', 'checksums'])
    if (k in m) crc = crc32(`${k}\0${m[k]}\0`, crc);
  return crc.toString(16).padStart(8, '0');
}

describe('checksums', () => {
  it('stores a CRC-32 per tensor and one of the metadata, as Python zlib.crc32 computes them', async () => {
    const bytes = readFileSync(await saved());
    const h = headerOf(bytes);
    const m = h.json.__metadata__;
    expect(m.version).toBe('2');
    expect(Object.values(m).every((v) => typeof v === 'string')).toBe(true);
    const checksums = JSON.parse(m.checksums!) as Record<string, string>;
    expect(Object.keys(checksums).sort()).toEqual(tensorNames(h).sort());
    const data = bytes.subarray(8 + h.headerLength);
    for (const name of tensorNames(h)) {
      const [begin, end] = h.json[name]!.data_offsets;
      expect(checksums[name], name).toBe(crc32(data.subarray(begin, end)).toString(16).padStart(8, '0'));
    }
    expect(m.metadata_crc32).toBe(metadataCrc(m));
  });

  it('a flipped bit in any tensor is refused, naming the tensor, and nothing changes', async () => {
    const path = await saved();
    const bytes = readFileSync(path);
    const h = headerOf(bytes);
    const names = tensorNames(h);
    expect(names.length).toBe(17); // iteration, learning_rate, 4 slots x 3 variables, 3 variables
    const picks = randomValues(2 * names.length, 42);
    for (const [i, name] of names.entries()) {
      const [begin, end] = h.json[name]!.data_offsets;
      const at = 8 + h.headerLength + begin + Math.floor(((picks[2 * i]! + 2) / 4) * (end - begin));
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 1 << Math.floor(((picks[2 * i + 1]! + 2) / 4) * 8);
      const copy = fresh();
      writeFileSync(copy, damaged);
      const crcs = '\\(stored [0-9a-f]{8}, computed [0-9a-f]{8}\\)';
      const message = `tensor '${escape(name)}' fails its CRC-32 check ${crcs}: the file is damaged`;
      await expectRefused(copy, new RegExp(message));
    }
  });

  it('a flipped bit is refused in the config (rho), the state list, the checksums and the CRC itself', async () => {
    const path = await saved();
    const bytes = readFileSync(path);
    const header = bytes.subarray(0, 8 + headerOf(bytes).headerLength).toString('latin1');
    const rho = header.indexOf('\\"rho\\":0.9') + '\\"rho\\":0.'.length;
    expect(header[rho]).toBe('9');
    const inside = (key: string, skip: number) => header.indexOf(`"${key}":"`) + key.length + 4 + skip;
    // '9' ^ 8 is '1'; the others flip the lowest bit of a letter or digit, which keeps the JSON valid
    const flips: Array<[number, number]> = [
      [rho, 8],
      [inside('state', 4), 1],
      [inside('checksums', 20), 1],
      [inside('metadata_crc32', 3), 1],
      [inside('variables', 4), 1],
    ];
    for (const [at, bit] of flips) {
      expect(header[at], `position ${at}`).toMatch(/[a-z0-9]/i);
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= bit;
      const copy = fresh();
      writeFileSync(copy, damaged);
      await expectRefused(
        copy,
        /metadata fails its CRC-32 check \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\): the file is damaged/,
      );
    }
  });

  it('reads version 1 files (no checksums: not verified); refuses version 2 without checksums', async () => {
    const path = await saved();
    const file = decodeSafetensors(readFileSync(path));
    const { checksums: _c, metadata_crc32: _m, ...rest } = file.metadata;
    const v1 = fresh();
    writeFileSync(v1, encodeSafetensors({ ...file, metadata: { ...rest, version: '1' } }));
    const vars = model(7);
    const fromV1 = await RMSprop.load(v1, vars);
    expect(fromV1.iterations).toBe(2);
    const savedValues = (await readCheckpoint(path)).variables!.map((v) => v.data as Float32Array | Float64Array);
    expect(bytesOf(vars.map((v) => v.value)).equals(bytesOf(savedValues))).toBe(true);
    await fromV1.close();
    const stripped = fresh();
    writeFileSync(stripped, encodeSafetensors({ ...file, metadata: rest }));
    await expectRefused(stripped, /version 2 needs the metadata 'checksums' and 'metadata_crc32'/);
    const future = fresh();
    writeFileSync(future, encodeSafetensors({ ...file, metadata: { ...rest, version: '3' } }));
    await expectRefused(future, /unsupported version "3" \(this library reads 1 and 2\)/);
  });

  it('a header claiming 2^53 bytes, or a tensor past the end, is refused before any allocation', async () => {
    const huge = fresh();
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(2n ** 53n);
    writeFileSync(huge, Buffer.concat([length, Buffer.from('{}')]));
    await expect(readCheckpoint(huge)).rejects.toThrow(
      /its header claims 9007199254740992 bytes, the file has 2 after the length/,
    );
    const past = fresh();
    writeFileSync(past, encodeHeader({}, [{ name: 'w', dtype: 'F32', shape: [2 ** 50] }]));
    await expect(readCheckpoint(past)).rejects.toThrow(
      /tensor 'w' lies outside the data \(bytes 0\.\.4503599627370496 of 0\): the file is truncated/,
    );
  });
});

describe('files of any size', () => {
  it('a load streams the file into the arena: memory beyond the arena stays small (peak resident memory of a child)', () => {
    const path = fresh();
    const n = 24 * 2 ** 20; // 96 MiB per array; the file holds three: 288 MiB
    const child = (...args: string[]) => {
      const run = spawnSync(
        process.execPath,
        [fileURLToPath(new URL('../modules/load-peak.mjs', import.meta.url)), ...args],
        {
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      expect(run.status, run.stderr).toBe(0);
      return run.stdout;
    };
    child('save', path, String(n));
    const { grown, arena, ok, iterations } = JSON.parse(child('load', path, String(n))) as Record<
      string,
      number | boolean
    >;
    expect(ok).toBe(true);
    expect(iterations).toBe(1);
    expect(grown).toBeGreaterThan(3 * 96 * 2 ** 20); // the arena's pages the file filled are resident
    expect(grown as number).toBeLessThan((arena as number) + 64 * 2 ** 20); // and next to nothing more
  });

  it('a checkpoint over 2 GiB loads (a sparse file of zeros, checksummed in pieces)', async () => {
    // float32: 2 GiB + 256 KiB (first touches of fresh memory are what this test spends its time on)
    const n = 2 ** 29 + 2 ** 16;
    const path = fresh();
    const iteration = new Uint8Array(BigInt64Array.of(7n).buffer);
    let zeros = 0;
    const piece = new Uint8Array(64 * 2 ** 20);
    for (let done = 0; done < n * 4; done += piece.length) zeros = crc32(piece.subarray(0, n * 4 - done), zeros);
    const hex = (crc: number) => crc.toString(16).padStart(8, '0');
    const metadata: Record<string, string> = {
      format: 'rmsprop-pool/checkpoint',
      version: '2',
      config: JSON.stringify(new RMSprop().getConfig()),
      state: '["iteration"]',
      variables: '["big"]',
      checksums: JSON.stringify({ iteration: hex(crc32(iteration)), 'variables/big': hex(zeros) }),
    };
    metadata.metadata_crc32 = metadataCrc(metadata);
    const header = encodeHeader(metadata, [
      { name: 'iteration', dtype: 'I64', shape: [] },
      { name: 'variables/big', dtype: 'F32', shape: [n] },
    ]);
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, header);
      writeSync(fd, iteration);
      ftruncateSync(fd, header.length + 8 + n * 4); // a hole: no disk used
    } finally {
      closeSync(fd);
    }
    expect(statSync(path).size).toBeGreaterThan(2 ** 31);
    expect(statSync(path).blocks * 512).toBeLessThan(2 ** 20);
    const checkpoint = await readCheckpoint(path);
    expect(checkpoint.state[0]!.data).toEqual(BigInt64Array.of(7n));
    const big = checkpoint.variables![0]!;
    expect(big.name).toBe('big');
    expect(big.shape).toEqual([n]);
    expect(big.data).toBeInstanceOf(Float32Array);
    expect(big.data.length).toBe(n);
    for (const i of [0, 1, 2 ** 28, 2 ** 29 - 1, 2 ** 29, n - 1]) expect(big.data[i]).toBe(0);
    rmSync(path);
  });
});

describe('temporary files of killed writers', () => {
  const deadPid = (): number => {
    const child = spawnSync(process.execPath, ['-e', '']);
    return child.pid;
  };

  it("a save removes dead writers' temporary files (any target, nothing else); concurrent saves succeed", async () => {
    const sub = join(dir, 'sweep');
    mkdirSync(sub);
    const target = join(sub, 'model.safetensors');
    const dead = deadPid();
    const temporary = (name: string, pid: number) => `.${name}.${pid}.${randomUUID()}.tmp`;
    // another target's too
    const orphans = [temporary('model.safetensors', dead), temporary('epoch-3.safetensors', dead)];
    const kept = [
      temporary('model.safetensors', process.pid), // this process: alive
      temporary('model.safetensors', 1), // init: alive (EPERM for a user, permitted for root)
      `.model.safetensors.${dead}.not-a-uuid.tmp`, // not a name a save makes
    ];
    for (const name of [...orphans, ...kept]) writeFileSync(join(sub, name), 'partial');
    const opts = [0, 1, 2, 3].map(() => new RMSprop(OPTIONS));
    await Promise.all(opts.map(async (opt, i) => opt.apply(grads(i), model(i + 1))));
    await Promise.all(opts.map((opt) => opt.save(target, { variables: true })));
    expect(readdirSync(sub).sort()).toEqual(['model.safetensors', ...kept].sort());
    expect((await readCheckpoint(target)).state[0]!.data).toEqual(BigInt64Array.of(1n));
    await Promise.all(opts.map((opt) => opt.close()));
  });

  it('SIGKILL mid-save: the target still loads and verifies; the next save leaves no temporary files', async () => {
    const sub = join(dir, 'kills');
    mkdirSync(sub);
    const target = join(sub, 'model.safetensors');
    const n = 2_000_000;
    const index = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
    const script = (once: boolean) => `
      import { RMSprop, Variable } from ${JSON.stringify(index)};
      const w = new Variable(new Float32Array(${n}).fill(0.5), { name: 'w' });
      const opt = new RMSprop({ momentum: 0.9, workers: 0 });
      const g = new Float32Array(${n});
      for (let i = 1; ; i++) {
        g.fill(i / 1000);
        await opt.apply([g], [w]);
        const start = performance.now();
        await opt.save(${JSON.stringify(target)}, { variables: true });
        process.stdout.write('saved ' + (performance.now() - start) + '\\n');
        if (${once}) break;
      }
      await opt.close();`;
    /** Starts a writer; resolves with it and the duration of its first complete save. */
    const start = (once: boolean) =>
      new Promise<{ child: ReturnType<typeof spawn>; saveMs: number }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script(once)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /saved ([\d.]+)\n/.exec(out);
          if (m) resolve({ child, saveMs: Number(m[1]) });
        });
        child.on('exit', (code) => reject(new Error(`writer exited (${code}) before a save: ${err}`)));
      });
    const exited = (child: ReturnType<typeof spawn>) =>
      new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
      );

    const writing = () => readdirSync(sub).some((f) => f.endsWith('.tmp'));
    const delays = randomValues(12, 2024).map((x) => (x + 2) / 4); // seeded, in [0, 1)
    let orphansSeen = 0;
    for (const [k, fraction] of delays.entries()) {
      const { child, saveMs } = await start(false);
      if (k % 3 === 2) {
        // surely inside a save: once its temporary file exists (the first save swept the older ones)
        while (!writing() && child.exitCode === null) await new Promise((r) => setTimeout(r, 1));
      } else {
        // somewhere in the next two or three saves; where exactly does not matter, only that it varies
        await new Promise((r) => setTimeout(r, fraction * 2.5 * saveMs));
      }
      child.kill('SIGKILL');
      await exited(child);
      orphansSeen += readdirSync(sub).filter((f) => f.endsWith('.tmp')).length;
      const checkpoint = await readCheckpoint(target); // verifies every CRC
      const w = checkpoint.variables![0]!.data as Float32Array;
      expect(w.length).toBe(n);
      expect(w[n - 1]).toBe(w[0]); // one save's values, not a mix
      expect(readdirSync(sub).filter((f) => !f.endsWith('.tmp'))).toEqual([basename(target)]);
    }
    expect(orphansSeen).toBeGreaterThan(0); // some kills did land inside a save
    const last = await start(true);
    await exited(last.child);
    expect(last.child.exitCode).toBe(0);
    expect(readdirSync(sub)).toEqual([basename(target)]);
    await readCheckpoint(target);
  });
});

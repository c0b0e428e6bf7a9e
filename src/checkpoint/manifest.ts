/**
 * A sharded checkpoint (one per world of ranks) is a directory: one ordinary checkpoint file per
 * rank (`shard-<save>-<rank>-of-<ranks>.safetensors`: that rank's pieces of the slots, and of the
 * values when saved with them, with CRCs) and `manifest.json`, written last, atomically, once
 * every shard has landed. The manifest names the shards of the one save it belongs to, so a
 * checkpoint exists only when all of them do; a save that dies before its manifest leaves the
 * previous one, whose shards are removed only after the new manifest is in place.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { DType } from '../memory/dtype.js';
import { writeFileAtomically } from './atomic-file.js';
import { CheckpointError, hex } from './write.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'rmsprop-pool/sharded-checkpoint';
export const MANIFEST_VERSION = '1';

/** What a sharded checkpoint's manifest says. */
export interface Manifest {
  /** The ranks that saved it (any world size loads it). */
  readonly ranks: number;
  /** Each rank's shard file, in rank order, relative to the directory. */
  readonly shards: readonly string[];
  /** The model's variables, in build order. */
  readonly variables: ReadonlyArray<{
    readonly name: string;
    readonly shape: readonly number[];
    readonly dtype: DType;
  }>;
  /** Whether the shards hold the variables' values. */
  readonly values: boolean;
}

/** The file of rank `rank`'s shard of save `save`. */
export function shardFile(save: string, rank: number, ranks: number): string {
  const digits = (n: number) => String(n).padStart(5, '0');
  return `shard-${save}-${digits(rank)}-of-${digits(ranks)}.safetensors`;
}

/** The manifest's body as written: its CRC-32 covers the JSON of everything before it. */
function body(manifest: Manifest): string {
  const { ranks, shards, variables, values } = manifest;
  return JSON.stringify({ format: MANIFEST_FORMAT, version: MANIFEST_VERSION, ranks, shards, variables, values });
}

/** Writes `directory`'s manifest atomically: the checkpoint is the one it names from now on. */
export async function writeManifest(directory: string, manifest: Manifest): Promise<void> {
  const text = body(manifest);
  const json = `${text.slice(0, -1)},"crc32":"${hex(crc32(text))}"}\n`;
  await writeFileAtomically(join(directory, MANIFEST_FILE), async (file) => {
    await file.writeFile(json);
  });
}

/** Reads and checks `directory`'s manifest: its CRC, format and version, and what it holds. */
export async function readManifest(directory: string): Promise<Manifest> {
  const path = join(directory, MANIFEST_FILE);
  const fail = (why: string): never => {
    throw new CheckpointError(`sharded checkpoint '${directory}': ${why}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') fail(`no ${MANIFEST_FILE}: no save finished there`);
    return fail(`${MANIFEST_FILE} is not JSON: the file is damaged`);
  }
  const { crc32: stored, ...rest } = parsed as Record<string, unknown>;
  const m = rest as Partial<Manifest> & { format?: unknown; version?: unknown };
  const ok =
    m.format === MANIFEST_FORMAT &&
    Number.isInteger(m.ranks) &&
    Array.isArray(m.shards) &&
    m.shards.length === m.ranks &&
    m.shards.every((s) => typeof s === 'string' && !s.includes('/')) &&
    Array.isArray(m.variables) &&
    typeof m.values === 'boolean';
  if (!ok || typeof stored !== 'string') fail(`${MANIFEST_FILE} is not a sharded checkpoint's manifest`);
  if (m.version !== MANIFEST_VERSION) fail(`unsupported manifest version ${JSON.stringify(m.version)}`);
  const manifest = rest as unknown as Manifest;
  const computed = hex(crc32(body(manifest)));
  if (computed !== stored)
    fail(
      `${MANIFEST_FILE} fails its CRC-32 check (stored ${String(stored)}, computed ${computed}): the file is damaged`,
    );
  return manifest;
}

/** Removes the shard files of `directory` that `manifest` does not name: earlier saves', and saves that died. */
export async function removeOtherShards(directory: string, manifest: Manifest): Promise<void> {
  const kept = new Set(manifest.shards);
  for (const name of await readdir(directory))
    if (/^shard-.*\.safetensors$/.test(name) && !kept.has(name)) await rm(join(directory, name), { force: true });
}

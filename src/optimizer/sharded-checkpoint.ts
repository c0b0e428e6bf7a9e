/**
 * Checkpoints of a world of ranks (checkpoint/manifest.ts): each rank writes its pieces, the
 * slots of its slice (and of the values, when saved with them) as `<Keras name>@<first element>`,
 * 1-D, into its own ordinary checkpoint file with CRCs; rank 0 writes the manifest once every
 * shard has landed, and removes what it no longer names. A load at any world size (one process
 * included) reads, for each slot, the pieces that overlap this rank's slice, each verified whole,
 * and streams them into the new arena: the run continues bit for bit.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest, removeOtherShards, shardFile, writeManifest, type Manifest } from '../checkpoint/manifest.js';
import { openCheckpoint, type CheckpointReader, type SavedTensor } from '../checkpoint/read.js';
import { CheckpointError, writeCheckpointFile, type NamedArray } from '../checkpoint/write.js';
import { arrayConstructor, type FloatArray } from '../memory/dtype.js';
import { fieldsFor, type Field } from '../memory/slots.js';
import type { KerasConfig } from './options.js';
import {
  asTensor,
  countersOf,
  countersState,
  readCounters,
  type Persisted,
  type PersistedOptimizer,
} from './persisted.js';
import { checkBuildable, ownedRange, variableView, writeInitialValues, type Built } from './state.js';
import { slotSpecs } from './state-listing.js';
import { Variable } from './variable.js';

/** A piece of an array in a shard: which file, which tensor, from which element of the whole. */
interface Piece {
  readonly reader: CheckpointReader;
  readonly tensor: SavedTensor;
  readonly from: number;
}

/** This rank's piece of variable `i`'s `field` (its owned range), named after the whole array; none when it owns none. */
function pieceOf(built: Built, i: number, field: Field, name: string): NamedArray[] {
  const [from, to] = ownedRange(built, i);
  if (to === from) return [];
  const data = variableView(built, i, field)!.subarray(from, to);
  return [{ name: `${name}@${from}`, shape: [to - from], dtype: built.variables[i]!.dtype, data }];
}

/** `save()` on a rank of a world: `directory` holds the checkpoint (see the module's comment). */
export async function saveShardedCheckpoint(directory: string, withValues: boolean, target: Persisted): Promise<void> {
  const built = target.built!;
  const world = built.world!;
  await mkdir(directory, { recursive: true });
  const save = await world.saveName();
  const ranks = built.arena.groups[0]?.ranks ?? 1;
  const shards = Array.from({ length: ranks }, (_, r) => shardFile(save, r, ranks));
  let failure: Error | null = null;
  try {
    const slots = slotSpecs(built.fields, built.variables);
    await writeCheckpointFile(join(directory, shards[world.rank]!), {
      config: target.optimizer.getConfig(),
      state: [
        ...countersState(target).map(asTensor),
        ...slots.flatMap((slot) => pieceOf(built, slot.index, slot.field, slot.name)),
      ],
      variables: withValues ? built.variables.flatMap((v, i) => pieceOf(built, i, 'value', v.name)) : null,
    });
  } catch (error) {
    failure = error as Error;
  }
  await world.agree(failure !== null, 'the manifest of the save', false); // another rank's failure throws here
  if (failure !== null) throw failure;
  const manifest: Manifest = {
    ranks,
    shards,
    variables: built.variables.map((v) => ({ name: v.name, shape: v.shape, dtype: v.dtype })),
    values: withValues,
  };
  const unwritten =
    world.rank === 0
      ? await writeManifest(directory, manifest).then(
          () => null,
          (error: unknown) => error as Error,
        )
      : null;
  await world.agree(unwritten !== null, 'the end of the save', false);
  if (unwritten !== null) throw unwritten;
  if (world.rank === 0) await removeOtherShards(directory, manifest);
}

/**
 * `load()` of a sharded checkpoint, at this process's world size: everything the manifest and
 * the shards' headers promise is checked first (the same save in every shard, the variables, every
 * array's pieces covering it exactly), then the optimizer is built over `variables` (default:
 * new ones, as the manifest names them) while the pieces stream in.
 */
export async function loadShardedCheckpoint<T extends PersistedOptimizer>(
  directory: string,
  variables: readonly Variable[] | undefined,
  create: (config: KerasConfig) => Persisted<T>,
): Promise<T> {
  const manifest = await readManifest(directory);
  const fail = (why: string): never => {
    throw new CheckpointError(`sharded checkpoint '${directory}': ${why}`);
  };
  const readers: CheckpointReader[] = [];
  try {
    for (const shard of manifest.shards) readers.push(await openCheckpoint(join(directory, shard)));
    // one save's shards: the same config, but for the name (ranks in one process name theirs apart)
    const unnamed = (c: KerasConfig) =>
      JSON.stringify(c, (key, value: unknown) => (key === 'name' ? undefined : value));
    const config = unnamed(readers[0]!.config);
    if (readers.some((r) => unnamed(r.config) !== config)) fail('its shards hold different configs');
    const target = create(readers[0]!.config);
    try {
      await restore(manifest, readers, variables ?? variablesOf(manifest), target, fail);
    } catch (error) {
      await target.optimizer.close();
      throw error;
    }
    return target.optimizer;
  } finally {
    for (const reader of readers) await reader.close();
  }
}

function variablesOf(manifest: Manifest): Variable[] {
  return manifest.variables.map(({ name, shape, dtype }) => new Variable('zeros', { name, shape: [...shape], dtype }));
}

async function restore(
  manifest: Manifest,
  readers: readonly CheckpointReader[],
  variables: readonly Variable[],
  target: Persisted,
  fail: (why: string) => never,
): Promise<void> {
  checkBuildable(variables, target.optimizer, 'load');
  if (variables.length !== manifest.variables.length)
    fail(`it holds ${manifest.variables.length} variables, ${variables.length} were given`);
  variables.forEach((v, i) => {
    const saved = manifest.variables[i]!;
    if (saved.name !== v.name || saved.dtype !== v.dtype || saved.shape.join() !== v.shape.join())
      fail(
        `variable ${i} is '${saved.name}' [${saved.shape.join(', ')}] ${saved.dtype}, ` +
          `'${v.name}' [${v.shape.join(', ')}] ${v.dtype} was given`,
      );
  });
  const counters = countersOf(target);
  for (const reader of readers)
    counters.forEach((name, k) => {
      if (reader.state[k]?.name !== name) fail(`shard '${reader.path}': state array ${k} is not '${name}'`);
    });
  const slots = slotSpecs(fieldsFor(target.options), variables);
  const slotPieces = piecesByName(readers, (r) => r.state.slice(counters.length), fail);
  const valuePieces = piecesByName(readers, (r) => r.variables ?? [], fail);
  const cover = (name: string, size: number, dtype: string, pieces: Map<string, Piece[]>) => {
    let next = 0;
    for (const piece of pieces.get(name) ?? []) {
      if (piece.from !== next || piece.tensor.dtype !== dtype) break;
      next += piece.tensor.shape[0]!;
    }
    if (next !== size) fail(`the pieces of '${name}' do not cover its ${size} ${dtype} elements`);
  };
  for (const slot of slots) cover(slot.name, variables[slot.index]!.size, slot.dtype, slotPieces);
  if (manifest.values) variables.forEach((v) => cover(v.name, v.size, v.dtype, valuePieces));
  const { counters: values, setExtra } = await readCounters(readers[0]!, target, []);
  await target.buildFrom(variables, async (built) => {
    if (!manifest.values) writeInitialValues(built);
    else
      for (const [i, v] of variables.entries())
        await readPieces(valuePieces.get(v.name)!, variableView(built, i, 'value')!, [0, v.size]);
    for (const slot of slots)
      await readPieces(
        slotPieces.get(slot.name)!,
        variableView(built, slot.index, slot.field)!,
        ownedRange(built, slot.index),
      );
  });
  target.setCounters(values);
  setExtra?.();
}

/** The shards' pieces, by the name of the array they are part of, in element order. */
function piecesByName(
  readers: readonly CheckpointReader[],
  tensorsOf: (reader: CheckpointReader) => readonly SavedTensor[],
  fail: (why: string) => never,
): Map<string, Piece[]> {
  const byName = new Map<string, Piece[]>();
  for (const reader of readers)
    for (const tensor of tensorsOf(reader)) {
      const at = tensor.name.lastIndexOf('@');
      const from = Number(tensor.name.slice(at + 1));
      if (at < 0 || !Number.isInteger(from) || from < 0 || tensor.shape.length !== 1)
        fail(`shard '${reader.path}': '${tensor.name}' is not a piece of an array`);
      const name = tensor.name.slice(0, at);
      byName.set(name, [...(byName.get(name) ?? []), { reader, tensor, from }]);
    }
  for (const pieces of byName.values()) pieces.sort((a, b) => a.from - b.from);
  return byName;
}

/** The elements [first, end) of an array, from its pieces, into `view` (the whole array's): each piece read and verified whole. */
async function readPieces(pieces: readonly Piece[], view: FloatArray, [first, end]: readonly [number, number]) {
  for (const { reader, tensor, from } of pieces) {
    const to = from + tensor.shape[0]!;
    if (to <= first || from >= end) continue;
    if (from >= first && to <= end) {
      await reader.readInto(tensor, view.subarray(from, to)); // straight into the arena
      continue;
    }
    const Array = arrayConstructor(tensor.dtype === 'int64' ? 'float64' : tensor.dtype) as Float32ArrayConstructor;
    const whole = new Array(to - from) as unknown as FloatArray;
    await reader.readInto(tensor, whole);
    const [lo, hi] = [Math.max(first, from), Math.min(end, to)];
    view.set(whole.subarray(lo - from, hi - from), lo);
  }
}

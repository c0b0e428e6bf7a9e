/**
 * Checkpoint files: the optimizer's config, its iteration counter and every state array (and
 * optionally the model's variables) as one safetensors file that Python's `safetensors` reads.
 * Writes are atomic (temporary file, fsync, rename, fsync of the directory); reads check the
 * whole file before handing anything back.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { DType } from './dtype.js';
import { decodeSafetensors, dtypeOf, encodeSafetensors, type Tensor, type TensorData } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'rmsprop-pool/checkpoint';
export const CHECKPOINT_VERSION = '1';
/** Tensor-name prefix of the model's variables (the state arrays keep Keras's names). */
export const VARIABLE_PREFIX = 'variables/';

export interface NamedArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export interface Checkpoint {
  /** Keras's `get_config()` of the optimizer. */
  readonly config: Record<string, unknown>;
  /** Keras's `optimizer.variables`, in order: iteration (int64), learning_rate (if a number), the slots. */
  readonly state: readonly NamedArray[];
  /** The model's variables, when saved with them. */
  readonly variables: readonly NamedArray[] | null;
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const tensor = (prefix: string) => (a: NamedArray): Tensor => ({ name: prefix + a.name, dtype: dtypeOf(a.data), shape: a.shape, data: a.data });
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: JSON.stringify(checkpoint.config),
    state: JSON.stringify(checkpoint.state.map((a) => a.name)),
  };
  if (checkpoint.variables !== null) metadata.variables = JSON.stringify(checkpoint.variables.map((a) => a.name));
  return encodeSafetensors({
    metadata,
    tensors: [...checkpoint.state.map(tensor('')), ...(checkpoint.variables ?? []).map(tensor(VARIABLE_PREFIX))],
  });
}

export function decodeCheckpoint(bytes: Uint8Array, path: string): Checkpoint {
  const file = decodeSafetensors(bytes, `checkpoint '${path}'`);
  const fail = (why: string): never => {
    throw new CheckpointError(`checkpoint '${path}': ${why}`);
  };
  const m = file.metadata;
  if (m.format !== CHECKPOINT_FORMAT) fail(`not an rmsprop-pool checkpoint (metadata format ${JSON.stringify(m.format)})`);
  if (m.version !== CHECKPOINT_VERSION) fail(`unsupported version ${JSON.stringify(m.version)} (this library reads ${CHECKPOINT_VERSION})`);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const list = (key: string, prefix: string): NamedArray[] => {
    let names: unknown;
    try {
      names = JSON.parse(m[key]!);
    } catch {
      return fail(`metadata '${key}' is not a JSON list of names`);
    }
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) return fail(`metadata '${key}' is not a list of names`);
    return names.map((name: string) => {
      const t = byName.get(prefix + name) ?? fail(`tensor '${prefix + name}' is listed but missing`);
      byName.delete(prefix + name);
      return { name, shape: t.shape, data: t.data };
    });
  };
  let config: unknown;
  try {
    config = JSON.parse(m.config ?? 'null');
  } catch {
    fail('metadata config is not JSON');
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) fail('metadata config is not a Keras optimizer config');
  const state = list('state', '');
  const variables = m.variables === undefined ? null : list('variables', VARIABLE_PREFIX);
  if (byName.size > 0) fail(`unexpected tensors ${[...byName.keys()].map((n) => `'${n}'`).join(', ')}`);
  const iteration = state[0];
  if (iteration?.name !== 'iteration' || !(iteration.data instanceof BigInt64Array) || iteration.data.length !== 1) {
    fail("the first state array must be 'iteration', one int64");
  }
  return { config: config as Record<string, unknown>, state, variables };
}

export interface ArraySpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/**
 * Checks that a checkpoint fits the optimizer about to take it: its counters, and — given the
 * model's variables — the saved variables and the slot arrays the options give them, by name,
 * shape and dtype. Throws a CheckpointError naming the first mismatch.
 */
export function checkCheckpoint(
  checkpoint: Checkpoint,
  path: string,
  expected: { counters: readonly string[]; variables: readonly ArraySpec[] | undefined; slots: readonly ArraySpec[] | undefined },
): void {
  const fail = (why: string): never => {
    throw new CheckpointError(`checkpoint '${path}': ${why}`);
  };
  const { counters } = expected;
  checkpoint.state.slice(0, counters.length).forEach((a, i) => {
    if (a.name !== counters[i]) fail(`state array ${i} is '${a.name}', expected '${counters[i]}'`);
  });
  const savedSlots = checkpoint.state.slice(counters.length);
  if (expected.variables === undefined || expected.slots === undefined) {
    if (savedSlots.length > 0 || checkpoint.variables !== null) fail('it holds the state of a built optimizer: pass the model variables to load()');
    return;
  }
  if (checkpoint.variables !== null) {
    if (checkpoint.variables.length !== expected.variables.length) {
      fail(`it holds ${checkpoint.variables.length} variables, ${expected.variables.length} were given`);
    }
    checkpoint.variables.forEach((saved, i) => expectArray(saved, expected.variables![i]!, fail));
  }
  if (savedSlots.length === 0) return; // saved before build: the slots start at zero
  if (savedSlots.length !== expected.slots.length) fail(`it holds ${savedSlots.length} slot arrays, these options and variables need ${expected.slots.length}`);
  savedSlots.forEach((saved, i) => expectArray(saved, expected.slots![i]!, fail));
}

function expectArray(saved: NamedArray, { name, shape, dtype }: ArraySpec, fail: (why: string) => never): void {
  if (saved.name !== name) fail(`expected '${name}', found '${saved.name}'`);
  if (saved.shape.length !== shape.length || saved.shape.some((d, i) => d !== shape[i])) fail(`'${name}' has shape [${saved.shape}], expected [${shape}]`);
  if (!(saved.data instanceof (dtype === 'float32' ? Float32Array : Float64Array))) fail(`'${name}' is not ${dtype}`);
}

/** Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const target = resolve(path);
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const file = await open(temporary, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, target);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw cause;
  }
  const directory = await open(dirname(target), 'r');
  try {
    await directory.sync(); // the rename itself survives a crash
  } finally {
    await directory.close();
  }
}

export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(await readFile(path), path);
}

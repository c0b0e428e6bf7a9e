/**
 * Checkpoint files: the optimizer's config, its iteration counter and every state array (and
 * optionally the model's variables) as one safetensors file that Python's `safetensors` reads.
 *
 * Integrity (version 2): `__metadata__.checksums` maps every tensor to the CRC-32 of its bytes
 * (8 hex digits, what Python's `zlib.crc32` gives), and `__metadata__.metadata_crc32` protects
 * the metadata that gives the tensors their meaning (see `metadataCrc32`). A read verifies all
 * of them before it returns anything. Version 1 files (the previous release) carry no checksums
 * and are read unverified.
 *
 * Any size: both sides stream. A write goes to a temporary file in the target's directory,
 * straight from the (shared) arrays in pieces, then fsync, rename, fsync of the directory, so a
 * reader sees the old file or the new one, never a part; temporary files that killed writers
 * left behind are removed by the next save into the same directory. A read allocates one fresh array
 * per tensor and fills it with bounded reads, so files over 2 GiB load.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { writeFileAtomically } from './atomic-file.js';
import { shapeSize, type DType } from './dtype.js';
import {
  dtypeOf,
  encodeHeader,
  headerLengthOf,
  parseHeader,
  SafetensorsError,
  tensorData,
  type SafetensorsHeader,
  type Tensor,
  type TensorData,
  type TensorEntry,
} from './safetensors.js';

export const CHECKPOINT_FORMAT = 'rmsprop-pool/checkpoint';
export const CHECKPOINT_VERSION = '2';
/** '1': the previous release, without checksums (read, not verified); '2': with checksums, required. */
const READABLE_VERSIONS: readonly string[] = ['1', '2'];
/** Tensor-name prefix of the model's variables (the state arrays keep Keras's names). */
export const VARIABLE_PREFIX = 'variables/';
/** Metadata keys that `metadata_crc32` covers, in this order (absent ones are skipped). */
const COVERED_KEYS = ['format', 'version', 'config', 'state', 'variables', 'checksums'] as const;
/** Largest piece handed to one write: bounds what the OS and libuv hold per call, copies nothing. */
const WRITE_PIECE_BYTES = 64 * 2 ** 20;
/** Largest piece asked of one read (Linux returns at most ~2 GiB per read anyway). */
const READ_PIECE_BYTES = 2 ** 30;

/** One tensor of a checkpoint. */
export interface NamedArray {
  /** Keras's name: 'iteration', 'learning_rate', 'w_velocity', ... or a variable's name. */
  readonly name: string;
  readonly shape: readonly number[];
  /** The values, in the dtype the file stores (int64 as BigInt64Array). */
  readonly data: TensorData;
}

/** What `readCheckpoint` returns: a checkpoint file, checked (checksums included). */
export interface Checkpoint {
  /** Keras's `get_config()` of the optimizer. */
  readonly config: Record<string, unknown>;
  /** Keras's `optimizer.variables`, in order: iteration (int64), learning_rate (if a number), the slots. */
  readonly state: readonly NamedArray[];
  /** The model's variables, when saved with them. */
  readonly variables: readonly NamedArray[] | null;
}

/** A checkpoint file that cannot be trusted or does not fit: damaged, truncated, or for other variables. Nothing was changed. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

/** A CRC-32 as the checkpoint stores it: 8 lowercase hex digits (Python: `f'{zlib.crc32(b):08x}'`). */
function hex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

/**
 * The CRC-32 of the metadata that gives the tensors their meaning: for each of COVERED_KEYS
 * present, in order, the UTF-8 of `key NUL value NUL`, chained. In Python:
 * `c = 0; for k in KEYS: c = zlib.crc32(f'{k}\0{m[k]}\0'.encode(), c) if k in m else c`.
 * The values are JSON or fixed words, so no NUL occurs inside them and the framing is unambiguous.
 */
export function metadataCrc32(metadata: Readonly<Record<string, string>>): string {
  let crc = 0;
  for (const key of COVERED_KEYS) {
    if (Object.hasOwn(metadata, key)) crc = crc32(`${key}\0${metadata[key]}\0`, crc);
  }
  return hex(crc);
}

/** The checkpoint's tensors in file order: the state arrays, then the variables under VARIABLE_PREFIX. */
function tensorsOf(checkpoint: Checkpoint): Tensor[] {
  const tensor =
    (prefix: string) =>
    (a: NamedArray): Tensor => {
      if (shapeSize(a.shape) !== a.data.length)
        throw new CheckpointError(
          `array '${a.name}': shape [${a.shape.join(',')}] does not hold ${a.data.length} values`,
        );
      return { name: prefix + a.name, dtype: dtypeOf(a.data), shape: a.shape, data: a.data };
    };
  return [...checkpoint.state.map(tensor('')), ...(checkpoint.variables ?? []).map(tensor(VARIABLE_PREFIX))];
}

/**
 * The `__metadata__` of a version 2 file. `crcs` (per tensor, in `tensors` order) may be null:
 * every CRC is then the placeholder 00000000, which has the width of a real one, so the header
 * keeps its byte length when the real values replace it.
 */
function metadataOf(
  checkpoint: Checkpoint,
  tensors: readonly Tensor[],
  crcs: readonly number[] | null,
): Record<string, string> {
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: JSON.stringify(checkpoint.config),
    state: JSON.stringify(checkpoint.state.map((a) => a.name)),
  };
  if (checkpoint.variables !== null) metadata.variables = JSON.stringify(checkpoint.variables.map((a) => a.name));
  metadata.checksums = JSON.stringify(Object.fromEntries(tensors.map((t, i) => [t.name, hex(crcs?.[i] ?? 0)])));
  metadata.metadata_crc32 = metadataCrc32(metadata);
  return metadata;
}

/**
 * Checks the metadata of a parsed header: the metadata CRC first (so a damaged word is reported
 * as damage), then format and version, then the checksums' coverage of exactly the file's
 * tensors. Returns the stored CRC per tensor name, or null for a version 1 file without them.
 */
function checkedChecksums(header: SafetensorsHeader, path: string): Map<string, string> | null {
  const fail = failure(path);
  const m = header.metadata;
  if (m.metadata_crc32 !== undefined) {
    const computed = metadataCrc32(m);
    if (computed !== m.metadata_crc32)
      fail(`metadata fails its CRC-32 check (stored ${m.metadata_crc32}, computed ${computed}): the file is damaged`);
  }
  if (m.format !== CHECKPOINT_FORMAT)
    fail(`not an rmsprop-pool checkpoint (metadata format ${JSON.stringify(m.format)})`);
  if (!READABLE_VERSIONS.includes(m.version!)) {
    fail(`unsupported version ${JSON.stringify(m.version)} (this library reads ${READABLE_VERSIONS.join(' and ')})`);
  }
  if (m.version === '1' && m.checksums === undefined && m.metadata_crc32 === undefined) return null; // written unverifiable
  if (m.checksums === undefined || m.metadata_crc32 === undefined)
    fail(`version ${m.version} needs the metadata 'checksums' and 'metadata_crc32'`);
  let stored: unknown;
  try {
    stored = JSON.parse(m.checksums!);
  } catch {
    return fail("metadata 'checksums' is not JSON");
  }
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored))
    fail("metadata 'checksums' is not an object of CRCs");
  const checksums = new Map(Object.entries(stored as Record<string, unknown>));
  for (const [name, crc] of checksums) {
    if (typeof crc !== 'string' || !/^[0-9a-f]{8}$/.test(crc))
      fail(`tensor '${name}' has an invalid checksum ${JSON.stringify(crc)}`);
  }
  for (const { name } of header.entries) if (!checksums.has(name)) fail(`tensor '${name}' has no checksum`);
  if (checksums.size !== header.entries.length) fail("metadata 'checksums' names tensors the file does not hold");
  return checksums as Map<string, string>;
}

/** Where each array of the checkpoint is in the file: the contents checked before any data is read. */
interface Plan {
  readonly config: Record<string, unknown>;
  readonly state: ReadonlyArray<readonly [name: string, entry: TensorEntry]>;
  readonly variables: ReadonlyArray<readonly [name: string, entry: TensorEntry]> | null;
}

function planOf(header: SafetensorsHeader, path: string): Plan {
  const fail = failure(path);
  const m = header.metadata;
  const byName = new Map(header.entries.map((t) => [t.name, t]));
  const list = (key: string, prefix: string): Array<[string, TensorEntry]> => {
    let names: unknown;
    try {
      names = JSON.parse(m[key]!);
    } catch {
      return fail(`metadata '${key}' is not a JSON list of names`);
    }
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
      return fail(`metadata '${key}' is not a list of names`);
    return names.map((name: string) => {
      const t = byName.get(prefix + name) ?? fail(`tensor '${prefix + name}' is listed but missing`);
      byName.delete(prefix + name);
      return [name, t];
    });
  };
  let config: unknown;
  try {
    config = JSON.parse(m.config ?? 'null');
  } catch {
    fail('metadata config is not JSON');
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    fail('metadata config is not a Keras optimizer config');
  const state = list('state', '');
  const variables = m.variables === undefined ? null : list('variables', VARIABLE_PREFIX);
  if (byName.size > 0) fail(`unexpected tensors ${[...byName.keys()].map((n) => `'${n}'`).join(', ')}`);
  const iteration = state[0];
  if (iteration?.[0] !== 'iteration' || iteration[1].dtype !== 'I64' || shapeSize(iteration[1].shape) !== 1) {
    fail("the first state array must be 'iteration', one int64");
  }
  return { config: config as Record<string, unknown>, state, variables };
}

function failure(path: string): (why: string) => never {
  return (why) => {
    throw new CheckpointError(`checkpoint '${path}': ${why}`);
  };
}

export interface ArraySpec {
  readonly name: string;
  /** A name earlier releases wrote for the same array, accepted when reading. */
  readonly formerName?: string;
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
  expected: {
    counters: readonly string[];
    variables: readonly ArraySpec[] | undefined;
    slots: readonly ArraySpec[] | undefined;
  },
): void {
  const fail = failure(path);
  const { counters } = expected;
  checkpoint.state.slice(0, counters.length).forEach((a, i) => {
    if (a.name !== counters[i]) fail(`state array ${i} is '${a.name}', expected '${counters[i]}'`);
  });
  const savedSlots = checkpoint.state.slice(counters.length);
  if (expected.variables === undefined || expected.slots === undefined) {
    if (savedSlots.length > 0 || checkpoint.variables !== null)
      fail('it holds the state of a built optimizer: pass the model variables to load()');
    return;
  }
  if (checkpoint.variables !== null) {
    if (checkpoint.variables.length !== expected.variables.length) {
      fail(`it holds ${checkpoint.variables.length} variables, ${expected.variables.length} were given`);
    }
    checkpoint.variables.forEach((saved, i) => expectArray(saved, expected.variables![i]!, fail));
  }
  if (savedSlots.length === 0) return; // saved before build: the slots start at zero
  if (savedSlots.length !== expected.slots.length)
    fail(`it holds ${savedSlots.length} slot arrays, these options and variables need ${expected.slots.length}`);
  savedSlots.forEach((saved, i) => expectArray(saved, expected.slots![i]!, fail));
}

function expectArray(
  saved: NamedArray,
  { name, formerName, shape, dtype }: ArraySpec,
  fail: (why: string) => never,
): void {
  if (saved.name !== name && saved.name !== formerName) fail(`expected '${name}', found '${saved.name}'`);
  if (saved.shape.length !== shape.length || saved.shape.some((d, i) => d !== shape[i]))
    fail(`'${name}' has shape [${saved.shape.join(',')}], expected [${shape.join(',')}]`);
  if (!(saved.data instanceof (dtype === 'float32' ? Float32Array : Float64Array))) fail(`'${name}' is not ${dtype}`);
}

/**
 * Writes `checkpoint` to `path` so that a reader sees the old file or the new one, never a part,
 * streaming the arrays (possibly views of shared memory) without copying them. One pass: the
 * header is laid out with placeholder CRCs of fixed width, the data is written after it in
 * pieces of at most 64 MiB while each piece's CRC is chained, and the final header — the same
 * byte length — is written at offset 0 last. Memory beyond the arrays: the header. The caller
 * keeps the arrays unchanged until the promise settles (the optimizer's queue does).
 */
export async function writeCheckpointFile(path: string, checkpoint: Checkpoint): Promise<void> {
  const tensors = tensorsOf(checkpoint);
  await writeFileAtomically(path, (file) => writeContents(file, checkpoint, tensors));
}

async function writeContents(file: FileHandle, checkpoint: Checkpoint, tensors: readonly Tensor[]): Promise<void> {
  const placeholder = encodeHeader(metadataOf(checkpoint, tensors, null), tensors);
  let position = placeholder.length;
  const crcs: number[] = [];
  for (const { data } of tensors) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let crc = 0;
    for (let at = 0; at < bytes.length; at += WRITE_PIECE_BYTES) {
      const piece = bytes.subarray(at, at + WRITE_PIECE_BYTES);
      crc = crc32(piece, crc); // over the very piece written next
      await writeFully(file, piece, position);
      position += piece.length;
    }
    crcs.push(crc);
  }
  const header = encodeHeader(metadataOf(checkpoint, tensors, crcs), tensors);
  if (header.length !== placeholder.length) {
    throw new Error(
      `internal: the final header (${header.length} bytes) differs from its placeholder (${placeholder.length})`,
    );
  }
  await writeFully(file, header, 0);
}

async function writeFully(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`writing a checkpoint: the file took 0 of ${bytes.length - done} bytes`);
    done += bytesWritten;
  }
}

/**
 * Reads and checks a checkpoint file of any size: the header (bounded by the file's size and
 * MAX_HEADER_BYTES before anything is allocated for it), the metadata and its CRC, the contents,
 * then each tensor into a fresh array, verifying its CRC-32. Throws a CheckpointError or
 * SafetensorsError naming the file and what is wrong; returns only a fully verified checkpoint.
 */
export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  const what = `checkpoint '${path}'`;
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const headerLength = headerLengthOf(await readExactly(file, Math.min(8, size), 0, path), size, what);
    const header = parseHeader(await readExactly(file, headerLength, 8, path), size - 8 - headerLength, what);
    const checksums = checkedChecksums(header, path);
    const plan = planOf(header, path);
    const data = new Map<string, TensorData>();
    for (const entry of header.entries) {
      data.set(entry.name, await readTensor(file, entry, 8 + headerLength, checksums?.get(entry.name) ?? null, path));
    }
    const arrays = (list: Plan['state']): NamedArray[] =>
      list.map(([name, entry]) => ({ name, shape: entry.shape, data: data.get(entry.name)! }));
    return {
      config: plan.config,
      state: arrays(plan.state),
      variables: plan.variables === null ? null : arrays(plan.variables),
    };
  } finally {
    await file.close();
  }
}

/** One tensor into its own, aligned array, read in bounded pieces while its CRC-32 is chained, then verified. */
async function readTensor(
  file: FileHandle,
  entry: TensorEntry,
  dataStart: number,
  stored: string | null,
  path: string,
): Promise<TensorData> {
  const bytes = new Uint8Array(entry.end - entry.begin);
  let crc = 0;
  for (let done = 0; done < bytes.length;) {
    const length = Math.min(READ_PIECE_BYTES, bytes.length - done);
    const { bytesRead } = await file.read(bytes, done, length, dataStart + entry.begin + done);
    if (bytesRead === 0)
      failure(path)(
        `the file is truncated: it ends inside tensor '${entry.name}' (read ${done} of its ${bytes.length} bytes)`,
      );
    crc = crc32(bytes.subarray(done, done + bytesRead), crc);
    done += bytesRead;
  }
  if (stored !== null && hex(crc) !== stored) {
    failure(path)(
      `tensor '${entry.name}' fails its CRC-32 check (stored ${stored}, computed ${hex(crc)}): the file is damaged`,
    );
  }
  return tensorData(entry.dtype, bytes);
}

/** `length` bytes at `position`, or a SafetensorsError saying the file is truncated. */
async function readExactly(file: FileHandle, length: number, position: number, path: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const { bytesRead } = await file.read(bytes, done, Math.min(READ_PIECE_BYTES, length - done), position + done);
    if (bytesRead === 0)
      throw new SafetensorsError(
        `checkpoint '${path}' is truncated: it ends at byte ${position + done}, inside its header`,
      );
    done += bytesRead;
  }
  return bytes;
}

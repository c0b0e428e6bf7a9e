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
 * left behind are removed by the next save into the same directory. Reading is
 * `read.ts`'s.
 */
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { shapeSize, type DType } from '../memory/dtype.js';
import { writeFileAtomically } from './atomic-file.js';
import { dtypeOf, encodeHeader, type Tensor, type TensorData } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'rmsprop-pool/checkpoint';
export const CHECKPOINT_VERSION = '2';
/** '1': the previous release, without checksums (read, not verified); '2': with checksums, required. */
export const READABLE_VERSIONS: readonly string[] = ['1', '2'];
/** Tensor-name prefix of the model's variables (the state arrays keep Keras's names). */
export const VARIABLE_PREFIX = 'variables/';
/** Metadata keys that `metadata_crc32` covers, in this order (absent ones are skipped). */
const COVERED_KEYS = ['format', 'version', 'config', 'state', 'variables', 'checksums'] as const;
/** Largest piece handed to one write: bounds what the OS and libuv hold per call, copies nothing. */
const WRITE_PIECE_BYTES = 64 * 2 ** 20;

/** One tensor of a checkpoint. */
export interface NamedArray {
  /** Keras's name: 'iteration', 'learning_rate', 'w_velocity', ... or a variable's name. */
  readonly name: string;
  readonly shape: readonly number[];
  /** The values, in the dtype the file stores (int64 as BigInt64Array, half precision as its bits). */
  readonly data: TensorData;
  /** Which half format a Uint16Array holds (default float16). */
  readonly dtype?: DType | 'int64';
}

/** A saved array as the header describes it: what it is, before any of its data is read. */
export interface SavedArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType | 'int64';
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
export function hex(crc: number): string {
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
      return {
        name: prefix + a.name,
        dtype: dtypeOf(a.data, a.dtype === 'bfloat16' ? 'BF16' : 'F16'),
        shape: a.shape,
        data: a.data,
      };
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

export function failure(path: string): (why: string) => never {
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
  checkpoint: { readonly state: readonly SavedArray[]; readonly variables: readonly SavedArray[] | null },
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
  saved: SavedArray,
  { name, formerName, shape, dtype }: ArraySpec,
  fail: (why: string) => never,
): void {
  if (saved.name !== name && saved.name !== formerName) fail(`expected '${name}', found '${saved.name}'`);
  if (saved.shape.length !== shape.length || saved.shape.some((d, i) => d !== shape[i]))
    fail(`'${name}' has shape [${saved.shape.join(',')}], expected [${shape.join(',')}]`);
  if (saved.dtype !== dtype) fail(`'${name}' is not ${dtype}`);
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

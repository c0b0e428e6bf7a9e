/**
 * Reading checkpoint files (the format is `write.ts`'s) of any size, in two forms:
 * `openCheckpoint` checks the header, the metadata and its CRC and the contents without reading
 * any tensor, then reads each tensor on demand straight into the caller's array — the arena, for
 * a load, so nothing beyond the optimizer's own memory is allocated — verifying its CRC-32 on
 * the way; `readCheckpointFile` reads every tensor into a fresh array (`readCheckpoint`).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { shapeSize } from '../memory/dtype.js';
import {
  headerLengthOf,
  parseHeader,
  SafetensorsError,
  tensorData,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorData,
  type TensorEntry,
} from './safetensors.js';
import {
  CHECKPOINT_FORMAT,
  failure,
  hex,
  metadataCrc32,
  READABLE_VERSIONS,
  VARIABLE_PREFIX,
  type Checkpoint,
  type NamedArray,
  type SavedArray,
} from './write.js';

/** Largest piece asked of one read (Linux returns at most ~2 GiB per read anyway). */
const READ_PIECE_BYTES = 2 ** 30;

const DTYPES: Record<SafetensorsDType, SavedArray['dtype']> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
};

/** A saved array and where its bytes are. */
export interface SavedTensor extends SavedArray {
  readonly entry: TensorEntry;
}

/** An open checkpoint whose header and metadata are checked; tensors are read on demand. */
export interface CheckpointReader {
  readonly path: string;
  readonly config: Record<string, unknown>;
  /** Keras's `optimizer.variables` as saved: iteration, learning_rate (if a number), the slots. */
  readonly state: readonly SavedTensor[];
  readonly variables: readonly SavedTensor[] | null;
  /**
   * Reads `tensor` into `target` (of its exact byte length) in bounded pieces, chaining its
   * CRC-32, and verifies it: a damaged or truncated tensor throws, naming it (`target` then
   * holds part of it: the caller discards it).
   */
  readInto(tensor: SavedTensor, target: TensorData): Promise<void>;
  /** `readInto` a fresh array. */
  read(tensor: SavedTensor): Promise<TensorData>;
  close(): Promise<void>;
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

/**
 * Opens a checkpoint and checks everything but the tensors' bytes: the header (bounded by the
 * file's size and MAX_HEADER_BYTES before anything is allocated for it), the metadata and its
 * CRC, which tensors it holds and where. Throws a CheckpointError or SafetensorsError naming the
 * file and what is wrong. Close the reader when done.
 */
export async function openCheckpoint(path: string): Promise<CheckpointReader> {
  const what = `checkpoint '${path}'`;
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const headerLength = headerLengthOf(await readExactly(file, Math.min(8, size), 0, path), size, what);
    const header = parseHeader(await readExactly(file, headerLength, 8, path), size - 8 - headerLength, what);
    const checksums = checkedChecksums(header, path);
    const plan = planOf(header, path);
    const dataStart = 8 + headerLength;
    const saved = (list: Plan['state']): SavedTensor[] =>
      list.map(([name, entry]) => ({ name, shape: entry.shape, dtype: DTYPES[entry.dtype], entry }));
    const readInto = (tensor: SavedTensor, target: TensorData): Promise<void> =>
      readTensor(file, tensor.entry, dataStart, checksums?.get(tensor.entry.name) ?? null, target, path);
    return {
      path,
      config: plan.config,
      state: saved(plan.state),
      variables: plan.variables === null ? null : saved(plan.variables),
      readInto,
      read: async (tensor) => {
        const bytes = new Uint8Array(tensor.entry.end - tensor.entry.begin);
        const data = tensorData(tensor.entry.dtype, bytes);
        await readInto(tensor, data);
        return data;
      },
      close: () => file.close(),
    };
  } catch (error) {
    await file.close();
    throw error;
  }
}

/**
 * Reads and checks a whole checkpoint file of any size, each tensor into a fresh array, verifying
 * every CRC-32; returns only a fully verified checkpoint.
 */
export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  const reader = await openCheckpoint(path);
  try {
    const arrays = async (list: readonly SavedTensor[]): Promise<NamedArray[]> => {
      const out: NamedArray[] = [];
      for (const t of list) out.push({ name: t.name, shape: t.shape, data: await reader.read(t) });
      return out;
    };
    const state = await arrays(reader.state);
    const variables = reader.variables === null ? null : await arrays(reader.variables);
    return { config: reader.config, state, variables };
  } finally {
    await reader.close();
  }
}

/** One tensor's bytes into `target`, read in bounded pieces while its CRC-32 is chained, then verified. */
async function readTensor(
  file: FileHandle,
  entry: TensorEntry,
  dataStart: number,
  stored: string | null,
  target: TensorData,
  path: string,
): Promise<void> {
  const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
  if (bytes.length !== entry.end - entry.begin) {
    throw new Error(
      `internal: tensor '${entry.name}' has ${entry.end - entry.begin} bytes, its target ${bytes.length}`,
    );
  }
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

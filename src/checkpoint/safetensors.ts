/**
 * The safetensors layout (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a JSON header (`__metadata__` of strings, then per tensor its dtype, shape and
 * byte range), then the raw little-endian tensors back to back. Pure: the header's encoding,
 * length check and parsing are separate functions so that the streamed checkpoint reader
 * (read.ts) and writer (write.ts) share them, and every promise a header makes is checked before
 * anything is allocated for or read from it.
 */
import { shapeSize } from '../memory/dtype.js';

export type SafetensorsDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64';
/** A tensor's values as read from a file: half precision (F16, BF16) as its bits. */
export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array;

export interface Tensor {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export interface SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  /** In file order. */
  readonly tensors: readonly Tensor[];
}

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8 };
/** Largest header this reader accepts (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

/** A file that is not valid safetensors (header, offsets, dtypes); refused before anything is allocated for it. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
}

/** The dtype of `data`; a Uint16Array is half precision, whose format only its owner knows (`half`). */
export function dtypeOf(data: TensorData, half: 'F16' | 'BF16' = 'F16'): SafetensorsDType {
  if (data instanceof Uint16Array) return half;
  return data instanceof Float32Array ? 'F32' : data instanceof Float64Array ? 'F64' : 'I64';
}

/** Where one tensor's bytes lie in the data section (after the header), and what they hold. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

/** A parsed, checked header: the metadata and the tensors, sorted by offset, tiling the data exactly. */
export interface SafetensorsHeader {
  readonly metadata: Readonly<Record<string, string>>;
  readonly entries: readonly TensorEntry[];
}

/** What a header describes per tensor; the data itself is not needed to lay the file out. */
export interface TensorDescription {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

/**
 * The length prefix and JSON header for tensors stored back to back in the given order, the
 * JSON padded with spaces so the data starts 8-byte aligned. Pure: a writer streams the data
 * after it, and the same metadata with the same string lengths gives a header of the same size.
 */
export function encodeHeader(
  metadata: Readonly<Record<string, string>>,
  tensors: readonly TensorDescription[],
): Uint8Array {
  // no prototype: any string, '__proto__' included, is just a tensor name
  const header: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, {
    __metadata__: metadata,
  });
  let offset = 0;
  for (const t of tensors) {
    if (Object.hasOwn(header, t.name)) throw new SafetensorsError(`duplicate or reserved tensor name '${t.name}'`);
    const bytes = shapeSize(t.shape) * BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const out = new Uint8Array(8 + Buffer.byteLength(json));
  new DataView(out.buffer).setBigUint64(0, BigInt(out.length - 8), true);
  Buffer.from(out.buffer).write(json, 8, 'utf8');
  return out;
}

/**
 * The header's length from the file's first bytes (at least 8 of them, when the file has 8),
 * checked against the file's size and MAX_HEADER_BYTES before anyone allocates for it: a
 * crafted length of 2^53 is refused here.
 */
export function headerLengthOf(prefix: Uint8Array, fileBytes: number, what: string): number {
  if (fileBytes < 8 || prefix.length < 8)
    throw new SafetensorsError(`${what} is truncated: ${fileBytes} bytes, not even a header length`);
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(Math.min(MAX_HEADER_BYTES, fileBytes - 8))) {
    const claim = `its header claims ${length} bytes, the file has ${fileBytes - 8} after the length`;
    throw new SafetensorsError(`${what} is truncated or not safetensors: ${claim}`);
  }
  return Number(length);
}

/**
 * Parses and checks the JSON header of a file whose data section holds `dataLength` bytes:
 * metadata of strings, known dtypes, shapes that match their byte ranges, ranges that tile the
 * data exactly. Throws SafetensorsError saying what is wrong; reads no tensor data.
 */
export function parseHeader(json: Uint8Array, dataLength: number, what: string): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
  } catch (cause) {
    throw new SafetensorsError(`${what}: the header is not valid JSON`, { cause });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new SafetensorsError(`${what}: the header is not a JSON object`);
  const { __metadata__: metadata = {}, ...described } = header as Record<string, unknown>;
  if (metadata === null || typeof metadata !== 'object' || Object.values(metadata).some((v) => typeof v !== 'string')) {
    throw new SafetensorsError(`${what}: __metadata__ must map strings to strings`);
  }
  const entries = Object.entries(described).map(([name, entry]) => checkEntry(what, name, entry, dataLength));
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end); // empty tensors first at a shared offset
  let expected = 0;
  for (const t of entries) {
    if (t.begin !== expected)
      throw new SafetensorsError(
        `${what}: tensor '${t.name}' starts at byte ${t.begin}, expected ${expected} (tensors must tile the data)`,
      );
    expected = t.end;
  }
  if (expected !== dataLength) {
    const cover = `the tensors cover ${expected} data bytes, the file holds ${dataLength}`;
    throw new SafetensorsError(`${what} is truncated or has trailing bytes: ${cover}`);
  }
  return { metadata: metadata as Record<string, string>, entries };
}

/** A typed array of the entry's dtype over `bytes` (which must be its own, aligned buffer). */
export function tensorData(dtype: SafetensorsDType, bytes: Uint8Array): TensorData {
  const { buffer, byteOffset, byteLength } = bytes;
  const n = byteLength / BYTES[dtype];
  if (dtype === 'F32') return new Float32Array(buffer, byteOffset, n);
  if (dtype === 'F16' || dtype === 'BF16') return new Uint16Array(buffer, byteOffset, n);
  return dtype === 'F64' ? new Float64Array(buffer, byteOffset, n) : new BigInt64Array(buffer, byteOffset, n);
}

function checkEntry(what: string, name: string, entry: unknown, dataLength: number): TensorEntry {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  const fail = (why: string): never => {
    throw new SafetensorsError(`${what}: tensor '${name}' ${why}`);
  };
  if (e === null || typeof e !== 'object') return fail('has no description');
  if (typeof e.dtype !== 'string' || !(e.dtype in BYTES))
    return fail(`has unsupported dtype ${JSON.stringify(e.dtype)} (F32, F64, F16, BF16 or I64)`);
  const dtype = e.dtype as SafetensorsDType;
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    return fail('has an invalid shape');
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0))
    return fail('has invalid data_offsets');
  const [begin, end] = offsets as [number, number];
  if (end < begin || end > dataLength)
    return fail(`lies outside the data (bytes ${begin}..${end} of ${dataLength}): the file is truncated`);
  const shape = e.shape as number[];
  if (end - begin !== shapeSize(shape) * BYTES[dtype])
    return fail(`has ${end - begin} bytes for shape [${shape.join(', ')}] of ${dtype}`);
  return { name, dtype, shape, begin, end };
}

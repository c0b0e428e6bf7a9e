/**
 * The safetensors layout (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a JSON header (`__metadata__` of strings, then per tensor its dtype, shape and
 * byte range), then the raw little-endian tensors back to back. Pure encoding and a decoder that
 * checks every promise the header makes before anything is read from it.
 */

export type SafetensorsDType = 'F32' | 'F64' | 'I64';
export type TensorData = Float32Array | Float64Array | BigInt64Array;

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

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, I64: 8 };
/** Largest header this reader accepts (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
}

export function dtypeOf(data: TensorData): SafetensorsDType {
  return data instanceof Float32Array ? 'F32' : data instanceof Float64Array ? 'F64' : 'I64';
}

/** The file's bytes: header padded with spaces so the data starts 8-byte aligned. */
export function encodeSafetensors(file: SafetensorsFile): Uint8Array {
  // no prototype: any string, '__proto__' included, is just a tensor name
  const header: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, { __metadata__: file.metadata });
  let offset = 0;
  for (const t of file.tensors) {
    if (Object.hasOwn(header, t.name)) throw new SafetensorsError(`duplicate or reserved tensor name '${t.name}'`);
    if (shapeSize(t.shape) !== t.data.length) throw new SafetensorsError(`tensor '${t.name}': shape [${t.shape}] does not hold ${t.data.length} values`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.length;
  for (const t of file.tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), cursor);
    cursor += t.data.byteLength;
  }
  return out;
}

/** Parses and checks a whole file; tensors are fresh, aligned copies. Throws SafetensorsError saying what is wrong. */
export function decodeSafetensors(bytes: Uint8Array, what = 'safetensors file'): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(`${what} is truncated: ${bytes.length} bytes, not even a header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw new SafetensorsError(`${what} is truncated or not safetensors: its header claims ${headerLength} bytes, the file has ${bytes.length - 8} after the length`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, Number(headerLength)).toString('utf8'));
  } catch (cause) {
    throw new SafetensorsError(`${what}: the header is not valid JSON`, { cause });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError(`${what}: the header is not a JSON object`);
  const { __metadata__: metadata = {}, ...entries } = header as Record<string, unknown>;
  if (metadata === null || typeof metadata !== 'object' || Object.values(metadata).some((v) => typeof v !== 'string')) {
    throw new SafetensorsError(`${what}: __metadata__ must map strings to strings`);
  }
  const dataLength = bytes.length - dataStart;
  const parsed = Object.entries(entries).map(([name, entry]) => checkEntry(what, name, entry, dataLength));
  parsed.sort((a, b) => a.begin - b.begin || a.end - b.end); // empty tensors first at a shared offset
  let expected = 0;
  for (const t of parsed) {
    if (t.begin !== expected) throw new SafetensorsError(`${what}: tensor '${t.name}' starts at byte ${t.begin}, expected ${expected} (tensors must tile the data)`);
    expected = t.end;
  }
  if (expected !== dataLength) {
    throw new SafetensorsError(`${what} is truncated or has trailing bytes: the tensors cover ${expected} data bytes, the file holds ${dataLength}`);
  }
  const tensors = parsed.map((t): Tensor => {
    const copy = new Uint8Array(bytes.subarray(dataStart + t.begin, dataStart + t.end)); // own, aligned buffer
    const data = t.dtype === 'F32' ? new Float32Array(copy.buffer) : t.dtype === 'F64' ? new Float64Array(copy.buffer) : new BigInt64Array(copy.buffer);
    return { name: t.name, dtype: t.dtype, shape: t.shape, data };
  });
  return { metadata: metadata as Record<string, string>, tensors };
}

function checkEntry(what: string, name: string, entry: unknown, dataLength: number) {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  const fail = (why: string): never => {
    throw new SafetensorsError(`${what}: tensor '${name}' ${why}`);
  };
  if (e === null || typeof e !== 'object') return fail('has no description');
  if (typeof e.dtype !== 'string' || !(e.dtype in BYTES)) return fail(`has unsupported dtype ${JSON.stringify(e.dtype)} (F32, F64 or I64)`);
  const dtype = e.dtype as SafetensorsDType;
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return fail('has an invalid shape');
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) return fail('has invalid data_offsets');
  const [begin, end] = offsets as [number, number];
  if (end < begin || end > dataLength) return fail(`lies outside the data (bytes ${begin}..${end} of ${dataLength}): the file is truncated`);
  const shape = e.shape as number[];
  if ((end - begin) !== shapeSize(shape) * BYTES[dtype]) return fail(`has ${end - begin} bytes for shape [${shape}] of ${dtype}`);
  return { name, dtype, shape, begin, end };
}

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

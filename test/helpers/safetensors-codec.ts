/**
 * A whole safetensors file in memory, encoded and decoded with the library's own header writer and
 * checks (`dist/src/checkpoint/safetensors.js`): what the tests use to craft files and read them
 * back. The library itself streams files (checkpoint/write.ts, read.ts) and needs neither.
 */
import {
  encodeHeader,
  headerLengthOf,
  parseHeader,
  SafetensorsError,
  tensorData,
  type SafetensorsFile,
  type Tensor,
} from '../../dist/src/checkpoint/safetensors.js';
import { shapeSize } from '../../dist/src/memory/dtype.js';

/** The file's bytes: header padded with spaces so the data starts 8-byte aligned. */
export function encodeSafetensors(file: SafetensorsFile): Uint8Array {
  for (const t of file.tensors) {
    if (shapeSize(t.shape) !== t.data.length)
      throw new SafetensorsError(
        `tensor '${t.name}': shape [${t.shape.join(', ')}] does not hold ${t.data.length} values`,
      );
  }
  const header = encodeHeader(file.metadata, file.tensors);
  const out = new Uint8Array(header.length + file.tensors.reduce((n, t) => n + t.data.byteLength, 0));
  out.set(header);
  let cursor = header.length;
  for (const t of file.tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), cursor);
    cursor += t.data.byteLength;
  }
  return out;
}

/**
 * Parses and checks a whole file in memory; tensors are fresh, aligned copies. Throws
 * SafetensorsError saying what is wrong.
 */
export function decodeSafetensors(bytes: Uint8Array, what = 'safetensors file'): SafetensorsFile {
  const headerLength = headerLengthOf(bytes, bytes.length, what);
  const dataStart = 8 + headerLength;
  const { metadata, entries } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, what);
  const tensors = entries.map((t): Tensor => {
    const copy = new Uint8Array(bytes.subarray(dataStart + t.begin, dataStart + t.end)); // own, aligned buffer
    return { name: t.name, dtype: t.dtype, shape: t.shape, data: tensorData(t.dtype, copy) };
  });
  return { metadata, tensors };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A safetensors file's header, parsed here as the format defines it (not by the library's decoder). */
export interface Header {
  /** Bytes of the JSON header (after the 8-byte length). */
  headerLength: number;
  json: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & {
    __metadata__: Record<string, string>;
  };
}

export function headerOf(bytes: Buffer): Header {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  return { headerLength, json: JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Header['json'] };
}

export const tensorNames = (h: Header): string[] => Object.keys(h.json).filter((k) => k !== '__metadata__');

/** A temporary directory for one test file, removed after it, and fresh checkpoint paths in it. */
export function checkpointDirectory(prefix: string): { dir: string; fresh: () => string } {
  const dir = mkdtempSync(join(tmpdir(), `rmsprop-pool-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return { dir, fresh: () => join(dir, `ck${files++}.safetensors`) };
}

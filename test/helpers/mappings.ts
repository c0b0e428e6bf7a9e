/**
 * The resident size of one memory mapping of this process, from /proc/self/smaps (Linux).
 * Process RSS moves with everything else the process does (a GC that unmaps a heap page, a
 * test that ran before); the arena's own mapping moves only with the arena.
 */
import { readFileSync } from 'node:fs';

export interface Mapping {
  range: string;
  writable: boolean;
  sizeBytes: number;
  residentBytes: number;
}

export const smapsAvailable = (() => {
  try {
    readFileSync('/proc/self/smaps_rollup');
    return true;
  } catch {
    return false;
  }
})();

/** Every mapping of this process with its size and resident bytes. */
export function mappings(): Mapping[] {
  const result: Mapping[] = [];
  let current: Mapping | null = null;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^([0-9a-f]+-[0-9a-f]+) (\S+) /.exec(line);
    if (header) {
      current = { range: header[1]!, writable: header[2]!.startsWith('rw'), sizeBytes: 0, residentBytes: 0 };
      result.push(current);
      continue;
    }
    const field = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (field && current) {
      const bytes = Number(field[2]) * 1024;
      if (field[1] === 'Size') current.sizeBytes = bytes;
      else current.residentBytes = bytes;
    }
  }
  return result;
}

/**
 * The one writable mapping of at least `minBytes` that `create` added (a wasm memory's
 * reservation around it is not writable); throws unless there is exactly one.
 */
export function newMapping(minBytes: number, create: () => void): () => number {
  const before = new Set(mappings().map((m) => m.range));
  create();
  const added = mappings().filter((m) => !before.has(m.range) && m.writable && m.sizeBytes >= minBytes);
  if (added.length !== 1) throw new Error(`expected one new mapping of >= ${minBytes} bytes, found ${added.length}`);
  const range = added[0]!.range;
  return () => {
    const found = mappings().find((m) => m.range === range);
    if (!found) throw new Error(`mapping ${range} is gone`);
    return found.residentBytes;
  };
}

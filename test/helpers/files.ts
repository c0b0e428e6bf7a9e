import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A temporary directory for one test file, removed after it, and fresh checkpoint paths in it. */
export function checkpointDirectory(prefix: string): { dir: string; fresh: () => string } {
  const dir = mkdtempSync(join(tmpdir(), `rmsprop-pool-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return { dir, fresh: () => join(dir, `ck${files++}.safetensors`) };
}

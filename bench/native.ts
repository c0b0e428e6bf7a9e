/**
 * The native reference rows of `npm run bench`: `native/rmsprop.c` (Keras's update as one fused
 * float32 loop per variant, OpenMP threads), compiled here when a C compiler is present — once
 * for this CPU's widest vectors and once for 128-bit vectors, the width WebAssembly SIMD has.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../bench/native/rmsprop.c', import.meta.url));
/** Same operations, same order, each rounded: no FMA contraction, no fast-math (errno only is off, so sqrtf vectorizes). */
const FLAGS = ['-O3', '-ffp-contract=off', '-fno-math-errno', '-fopenmp'];

export interface NativeBuild {
  /** What the rows are called. */
  readonly label: string;
  readonly binary: string;
}

/** The builds, or why there are none. */
export function buildNative(): NativeBuild[] | string {
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);
  if (cc === undefined) return 'no C compiler (cc, gcc or clang) on PATH';
  const dir = mkdtempSync(join(tmpdir(), 'rmsprop-pool-native-'));
  const builds: NativeBuild[] = [];
  for (const [label, march] of [
    ['native C, this CPU', '-march=native'],
    ['native C, 128-bit SIMD', '-march=x86-64-v2'],
  ] as const) {
    const binary = join(dir, march.slice(7));
    try {
      execFileSync(cc, [...FLAGS, march, '-o', binary, SOURCE, '-lm'], { stdio: 'pipe' });
      builds.push({ label, binary });
    } catch (error) {
      const message = (error as { stderr?: Buffer }).stderr?.toString().split('\n')[0] ?? String(error);
      if (builds.length === 0) return `${cc} could not build ${SOURCE}: ${message}`;
    }
  }
  return builds;
}

/** Median ms of the basic and the full step at `size` on `threads` threads. */
export function nativeStep(
  build: NativeBuild,
  size: number,
  threads: number,
  reps: number,
): { basic: number; full: number } {
  const out = execFileSync(build.binary, [String(size), String(threads), String(reps)], { encoding: 'utf8' });
  return JSON.parse(out) as { basic: number; full: number };
}

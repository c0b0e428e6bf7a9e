import type { RMSprop, Variable } from '../../dist/src/index.js';
import { bytesOf } from './compare.js';

/** Every byte the optimizer owns: state slots, counters and variable values. */
export function snapshot(optimizer: RMSprop, variables: readonly Variable[]): Buffer {
  return Buffer.concat([bytesOf(optimizer.variables.map((s) => s.value)), bytesOf(variables.map((v) => v.value))]);
}

/** Deterministic pseudo-random values in [-2, 2) (mulberry32). */
export function randomValues(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 4 - 2;
  }
  return out;
}

/**
 * The shipped WebAssembly binary is exactly what the generator and wabt make from this source,
 * it uses only IEEE SIMD operations (nothing relaxed or fused), and every specialisation the
 * loader can ask for exists.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateKernelsWat } from '../dist/src/kernels/wasm/generate.js';
import { kernelModule } from '../dist/src/kernels/wasm/index.js';
import {
  ACCUMULATE_VARIANTS,
  exportName,
  SUM_SQUARES_VARIANTS,
  UPDATE_VARIANTS,
  updateFlags,
  updateVariant,
} from '../dist/src/kernels/wasm/variants.js';
import { assembleKernels } from '../dist/scripts/assemble.js';

describe('wasm kernels build', () => {
  it('dist/src/kernels/wasm/kernels.wasm is the assembled generator output, byte for byte', async () => {
    const shipped = readFileSync(new URL('../dist/src/kernels/wasm/kernels.wasm', import.meta.url));
    expect(Buffer.from(await assembleKernels()).equals(shipped)).toBe(true);
  });

  it('uses no relaxed, fused or approximate operations', () => {
    const wat = generateKernelsWat();
    expect(wat).not.toMatch(/relaxed|fma|fms|qfma|nearest|pmin|pmax|demote/);
    // the arithmetic is exactly the IEEE set the JS kernels round with fround
    const ops = new Set(wat.match(/\((?:f32x4|f64x2|f32|f64)\.[a-z_0-9]+/g)!.map((m) => m.slice(1).split('.')[1]!));
    for (const op of ops)
      expect([
        'add',
        'sub',
        'mul',
        'div',
        'sqrt',
        'neg',
        'min',
        'max',
        'load',
        'store',
        'splat',
        'const',
        'promote_f32',
        'promote_low_f32x4',
        'extract_lane',
        'replace_lane',
      ]).toContain(op);
  });

  it('exports every specialisation the loader selects', () => {
    const names = new Set(WebAssembly.Module.exports(kernelModule()).map((e) => e.name));
    for (const dtype of ['float32', 'float64'] as const) {
      for (let v = 0; v < UPDATE_VARIANTS; v++) expect(names.has(exportName(dtype, 'update', v))).toBe(true);
      for (let v = 0; v < ACCUMULATE_VARIANTS; v++) expect(names.has(exportName(dtype, 'accumulate', v))).toBe(true);
      for (let v = 0; v < SUM_SQUARES_VARIANTS; v++) expect(names.has(exportName(dtype, 'sumSquares', v))).toBe(true);
    }
    expect(names.size).toBe(2 * (UPDATE_VARIANTS + ACCUMULATE_VARIANTS + SUM_SQUARES_VARIANTS));
  });

  it('variant numbers and flags map one to one', () => {
    for (let v = 0; v < UPDATE_VARIANTS; v++) {
      const f = updateFlags(v);
      expect(updateVariant(f.unscale, f.applyAccumulated, f.clip, f.decay, f.centered, f.momentum, f.ema)).toBe(v);
    }
  });
});

/**
 * The shipped WebAssembly binary is exactly what the generator and wabt make from this source,
 * it uses only IEEE SIMD operations (nothing relaxed or fused), and every specialisation the
 * loader can ask for exists.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateKernelsWat } from '../../dist/src/kernels/wasm/generate.js';
import { kernelModule } from '../../dist/src/kernels/wasm/index.js';
import { flagsOf, variantCount, variantOf } from '../../dist/src/kernels/program.js';
import { PROGRAMS } from '../../dist/src/kernels/rmsprop.js';
import { signatureOf } from '../../dist/src/kernels/signature.js';
import { exportName } from '../../dist/src/kernels/wasm/generate.js';
import { assembleKernels } from '../../dist/scripts/assemble.js';

describe('wasm kernels build', () => {
  it('dist/src/kernels/wasm/kernels.wasm is the assembled generator output, byte for byte', async () => {
    const shipped = readFileSync(new URL('../../dist/src/kernels/wasm/kernels.wasm', import.meta.url));
    expect(Buffer.from(await assembleKernels()).equals(shipped)).toBe(true);
  });

  it('uses no relaxed, fused or approximate operations', () => {
    const wat = generateKernelsWat();
    expect(wat).not.toMatch(/relaxed|fma|fms|qfma|nearest|pmin|pmax/);
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
        'demote_f64', // float64 computed as Keras's numpy backend does: rounded to float32, as fround rounds
        'demote_f64x2_zero',
        'extract_lane',
        'replace_lane',
        'convert_i32_u', // the shard count as a float: an integer up to 1024, exact
        'ge', // float16: the overflow test when rounding (half-wat.ts), false for a NaN
      ]).toContain(op);
  });

  it('exports every specialisation the loader selects', () => {
    const names = new Set(WebAssembly.Module.exports(kernelModule()).map((e) => e.name));
    let expected = 0;
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
      for (const program of PROGRAMS) {
        for (let v = 0; v < variantCount(program); v++) {
          if (!signatureOf(program).writes[v]) continue; // a specialisation that changes nothing is never called
          // a loss-scaled gradient is float32: a specialisation of the half dtypes and float64 only
          if (dtype === 'float32' && (flagsOf(program, v) as Record<string, number>).wide) continue;
          expect(names.has(exportName(dtype, program, v)), exportName(dtype, program, v)).toBe(true);
          expected++;
        }
      }
    }
    expect(names.size).toBe(expected);
  });

  it('variant numbers and flags map one to one', () => {
    for (const program of PROGRAMS) {
      const seen = new Set<string>();
      for (let v = 0; v < variantCount(program); v++) {
        const flags = flagsOf(program, v);
        seen.add(JSON.stringify(flags));
        // a step whose words give these flags selects this variant
        const specs = Object.entries(program.flags);
        const read = specs.map(([name, spec]) => ({ ...spec, read: () => flags[name]! }));
        const probe = { ...program, flags: Object.fromEntries(specs.map(([name], i) => [name, read[i]!])) };
        expect(variantOf(probe, new Float64Array(0), new Float64Array(0), 0, null as never)).toBe(v);
      }
      expect(seen.size).toBe(variantCount(program));
    }
  });
});

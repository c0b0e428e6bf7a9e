import wabtFactory from 'wabt';
import { generateKernelsWat } from '../src/kernels/wasm/generate.js';

/** The kernels' WebAssembly text, assembled and validated (SIMD and shared memory on, nothing relaxed). */
export async function assembleKernels(): Promise<Uint8Array> {
  const wabt = await wabtFactory();
  const features = { simd: true, threads: true, relaxed_simd: false };
  const module = wabt.parseWat('kernels.wat', generateKernelsWat(), features);
  try {
    // wabt.js's validate() takes the feature set (its typings omit the parameter).
    (module as unknown as { validate(f: typeof features): void }).validate(features);
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

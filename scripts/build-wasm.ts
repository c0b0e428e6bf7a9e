/**
 * `npm run build` step: assembles the generated WebAssembly text of the SIMD kernels with wabt
 * (an npm dev dependency) into dist/src/kernels/wasm/kernels.wasm, next to the loader.
 * Nothing prebuilt is committed: the binary is always made from src/kernels/wasm/generate.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleKernels } from './assemble.js';

const target = fileURLToPath(new URL('../src/kernels/wasm/kernels.wasm', import.meta.url));
const binary = await assembleKernels();
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, binary);
console.log(`wasm kernels: ${binary.length} bytes -> ${target}`);

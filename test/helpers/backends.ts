/**
 * Comparing a tfjs computation on the wasm backend with tfjs's cpu backend: the same tensors
 * made on each, and the largest difference as a share of the result's scale.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { useWasmTrainingKernels, type WasmTrainingKernels } from '../../dist/src/tfjs.js';
import { randomValues } from './state.js';

export type Make = () => tf.Tensor | tf.Tensor[];

/** A tensor of `shape` with values from `seed` (the same on every backend). */
export const random = (shape: number[], seed: number) =>
  tf.tensor(
    randomValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );

/** The values `make` computes on `backend` (tensors made inside it, so on that backend). */
export async function valuesOn(backend: 'cpu' | 'wasm', make: Make): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(make);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  return values;
}

/** max |wasm - cpu| / max |cpu| over every output of `make` (on cpu: of `reference`, where cpu cannot run `make`). */
export async function relativeError(make: Make, reference: Make = make): Promise<number> {
  const expected = await valuesOn('cpu', reference);
  const actual = await valuesOn('wasm', make);
  let [error, scale] = [0, 0];
  expected.forEach((want, k) => {
    expect(actual[k]!.length).toBe(want.length);
    want.forEach((w, i) => {
      error = Math.max(error, Math.abs(actual[k]![i]! - w));
      scale = Math.max(scale, Math.abs(w));
    });
  });
  return error / Math.max(scale, Number.MIN_VALUE);
}

/**
 * For a test file of wasm kernels: tfjs's prod mode, `useWasmTrainingKernels` and the wasm
 * backend before its tests, tfjs's own kernels back after. `installed.kernels` is the
 * registration (a test that re-registers sets it, so the one restored last is the newest).
 */
export function wasmTrainingKernelsForFile(): { kernels: WasmTrainingKernels } {
  const installed = {} as { kernels: WasmTrainingKernels };
  beforeAll(async () => {
    tf.enableProdMode();
    installed.kernels = useWasmTrainingKernels(tf);
    expect(await tf.setBackend('wasm')).toBe(true);
  });
  afterAll(() => installed.kernels());
  return installed;
}

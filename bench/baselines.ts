/**
 * What the optimizer is measured against, in the same run: the update a user would write by
 * hand (one thread, Keras's float32 arithmetic, so the same numbers as ours), and
 * @tensorflow/tfjs-core's rmsprop on its cpu and wasm backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { tfjsRmsprop, type TfjsRmsprop } from '../src/cli/tfjs-baseline.js';

const R = Math.fround;
const lr = R(0.001),
  rho = R(0.9),
  oneMinusRho = R(0.1),
  eps = R(1e-7);

export interface NaiveState {
  value: Float32Array;
  grad: Float32Array;
  velocity: Float32Array;
  momentum: Float32Array;
  averageGradient: Float32Array;
  average: Float32Array;
}

export function naiveState(size: number, full: boolean): NaiveState {
  const slot = (fill: number) => new Float32Array(full || fill !== 0 ? size : 0).fill(fill);
  return {
    value: new Float32Array(size).fill(0.1),
    grad: new Float32Array(size).fill(0.01),
    velocity: new Float32Array(size),
    momentum: slot(0),
    averageGradient: slot(0),
    average: slot(0),
  };
}

/** Keras's basic RMSprop, element by element. */
export function naiveBasic({ value: p, grad: g, velocity: v }: NaiveState): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const vi = R(R(rho * v[i]!) + R(oneMinusRho * R(gi * gi)));
    v[i] = vi;
    p[i] = R(p[i]! - R(R(lr * gi) / R(Math.sqrt(R(vi + eps)))));
  }
}

/** The `full` variant (global norm clipping, centred, momentum, EMA) as two plain loops. */
export function naiveFull({
  value: p,
  grad: g,
  velocity: v,
  momentum: m,
  averageGradient: mg,
  average: a,
}: NaiveState): void {
  const clip = R(1),
    momentum = R(0.9),
    ema = R(0.99),
    emaOneMinus = R(1 - 0.99);
  let squares = 0;
  for (let i = 0; i < g.length; i++) squares += R(g[i]! * g[i]!);
  const norm = R(Math.sqrt(R(squares)));
  const scale = R(clip * Math.min(R(1 / norm), R(1 / clip)));
  for (let i = 0; i < p.length; i++) {
    const gi = R(g[i]! * scale);
    const vi = R(R(rho * v[i]!) + R(oneMinusRho * R(gi * gi)));
    v[i] = vi;
    const mgi = R(R(rho * mg[i]!) + R(oneMinusRho * gi));
    mg[i] = mgi;
    const increment = R(R(lr * gi) / R(Math.sqrt(R(R(vi - R(mgi * mgi)) + eps))));
    const mi = R(R(momentum * m[i]!) + increment);
    m[i] = mi;
    const pi = R(p[i]! - mi);
    p[i] = pi;
    a[i] = R(R(ema * a[i]!) + R(emaOneMinus * pi));
  }
}

export type TfjsBackend = 'cpu' | 'wasm';

/** Largest model each tfjs backend is run on: cpu takes ~2 s a step at 1e7, wasm runs out of its 4 GiB heap at 1e8. */
export const TFJS_MAX_SIZE: Record<TfjsBackend, number> = { cpu: 1e6, wasm: 5e7 };

/** tfjs-core's rmsprop on `size` parameters, on `backend`. */
export async function tfjsStep(backend: TfjsBackend, size: number): Promise<TfjsRmsprop> {
  tf.enableProdMode();
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' failed to start`);
  await tf.ready();
  return tfjsRmsprop(tf, [[size]]);
}

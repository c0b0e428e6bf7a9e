/**
 * GFLOP/s of the products one micro-batch of the synthetic MLP makes (its widest layer), plain
 * and transposed, with tfjs-wasm's own kernels and with `useWasmTrainingKernels`: what the
 * training kernels change, on the calling thread, in this one run.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { median } from '../src/cli/figures.js';
import { useWasmTrainingKernels } from '../src/tfjs/wasm/index.js';

export interface ProductRow {
  readonly product: string;
  readonly shapes: string;
  /** GFLOP/s with tfjs-wasm's kernels, then with ours. */
  readonly tfjs: number;
  readonly fast: number;
}

/** One product kind: a x b with the given transposes, as the MLP's backward pass makes it. */
interface Kind {
  readonly product: string;
  readonly a: [number, number];
  readonly b: [number, number];
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

/** The three products of a 64 x 2048 -> 1024 dense layer: forward, the kernel's gradient, the input's gradient. */
const KINDS: readonly Kind[] = [
  { product: 'x W (forward: plain)', a: [64, 2048], b: [2048, 1024], transposeA: false, transposeB: false },
  { product: "x^T dy (the kernel's gradient)", a: [64, 2048], b: [64, 1024], transposeA: true, transposeB: false },
  { product: "dy W^T (the input's gradient)", a: [64, 1024], b: [2048, 1024], transposeA: false, transposeB: true },
];

/** Median seconds of `repeats` runs of one product (tfjs-wasm runs a kernel synchronously: it is done when matMul returns). */
function timeProduct(tf: typeof TF, kind: Kind, repeats: number): number {
  const a = tf.randomUniform(kind.a, -1, 1, 'float32', 1);
  const b = tf.randomUniform(kind.b, -1, 1, 'float32', 2);
  const times: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    const started = performance.now();
    tf.tidy(() => void tf.matMul(a, b, kind.transposeA, kind.transposeB));
    if (r > 0) times.push((performance.now() - started) / 1000);
  }
  tf.dispose([a, b]);
  return median(times);
}

/** GFLOP/s of each product kind, tfjs's kernels then ours, on the current (wasm) backend of `tf`. */
export function productRows(tf: typeof TF, quick: boolean): ProductRow[] {
  const flops = (k: Kind) =>
    2 * (k.transposeA ? k.a[1] : k.a[0]) * (k.transposeA ? k.a[0] : k.a[1]) * (k.transposeB ? k.b[0] : k.b[1]);
  const tfjs = KINDS.map((k) => flops(k) / timeProduct(tf, k, quick ? 2 : 8) / 1e9);
  const restore = useWasmTrainingKernels(tf);
  try {
    const fast = KINDS.map((k) => flops(k) / timeProduct(tf, k, quick ? 3 : 20) / 1e9);
    return KINDS.map((k, i) => ({
      product: k.product,
      shapes: `${k.a.join('x')}${k.transposeA ? '^T' : ''} . ${k.b.join('x')}${k.transposeB ? '^T' : ''}`,
      tfjs: tfjs[i]!,
      fast: fast[i]!,
    }));
  } finally {
    restore();
  }
}

export function productLines(rows: readonly ProductRow[]): string[] {
  const plain = rows[0]!;
  return [
    '| product | shapes | tfjs-wasm GFLOP/s | with useWasmTrainingKernels | vs plain (tfjs) | vs plain (ours) |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.product} | ${r.shapes} | ${r.tfjs.toFixed(1)} | ${r.fast.toFixed(1)} | ` +
        `${(r.tfjs / plain.tfjs).toFixed(2)}x | ${(r.fast / plain.fast).toFixed(2)}x |`,
    ),
  ];
}

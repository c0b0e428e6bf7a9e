/**
 * The examples' model in plain JS: dense layers with ReLU between them and softmax
 * cross-entropy on top, forward and backward over views of shared memory, the gradients written
 * straight into the arrays given (a variable's `.grad`, or a replica's shard). Also the spiral
 * data set the examples classify.
 */
import type { FloatArray } from 'rmsprop-pool';

export const CLASSES = 3;

/** A seeded generator on [0, 1) (mulberry32), so every run of the examples is the same. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One dense layer: views of its kernel (inputs x outputs, row-major) and bias. */
export interface Layer {
  readonly kernel: FloatArray;
  readonly bias: FloatArray;
  readonly inputs: number;
  readonly outputs: number;
}

/** Where a layer's gradients go. */
export interface LayerGradients {
  readonly kernel: FloatArray;
  readonly bias: FloatArray;
}

/** 2-D points on the three interleaved arms of a spiral, class = arm. */
export function spiral(perClass: number, seed: number): { x: Float32Array; y: Int32Array } {
  const random = seeded(seed);
  const x = new Float32Array(perClass * CLASSES * 2);
  const y = new Int32Array(perClass * CLASSES);
  for (let c = 0; c < CLASSES; c++) {
    for (let i = 0; i < perClass; i++) {
      const r = i / perClass;
      const t = c * 4 + 4 * r + (random() - 0.5) * 0.4;
      const n = c * perClass + i;
      x[2 * n] = r * Math.sin(t);
      x[2 * n + 1] = r * Math.cos(t);
      y[n] = c;
    }
  }
  return { x, y };
}

/** He-normal kernel values for a layer of `inputs` x `outputs`, seeded. */
export function heNormal(inputs: number, outputs: number, seed: number): Float32Array {
  const random = seeded(seed);
  const scale = Math.sqrt(2 / inputs);
  // Box-Muller; 1 - random() is in (0, 1], so the log is finite
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Float32Array.from({ length: inputs * outputs }, () => normal() * scale);
}

/** out[n, o] = act(in[n, :] . kernel[:, o] + bias[o]) for `rows` rows. */
function forward(layer: Layer, input: Float32Array, out: Float32Array, rows: number, relu: boolean): void {
  const { inputs, outputs, kernel: w, bias: b } = layer;
  for (let n = 0; n < rows; n++) {
    const row = n * outputs;
    for (let o = 0; o < outputs; o++) out[row + o] = b[o]!;
    for (let i = 0; i < inputs; i++) {
      const a = input[n * inputs + i]!;
      if (a === 0) continue;
      const wr = i * outputs;
      for (let o = 0; o < outputs; o++) out[row + o]! += a * w[wr + o]!;
    }
    if (relu) for (let o = 0; o < outputs; o++) if (out[row + o]! < 0) out[row + o] = 0;
  }
}

/** Writes dL/dkernel and dL/dbias into `grads`; dL/dinput into `dInput` when given. */
function backward(
  layer: Layer,
  grads: LayerGradients,
  input: Float32Array,
  dOut: Float32Array,
  dInput: Float32Array | null,
  rows: number,
): void {
  const { inputs, outputs, kernel: w } = layer;
  const { kernel: gw, bias: gb } = grads;
  gw.fill(0);
  gb.fill(0);
  if (dInput) dInput.fill(0);
  for (let n = 0; n < rows; n++) {
    const row = n * outputs;
    for (let o = 0; o < outputs; o++) gb[o]! += dOut[row + o]!;
    for (let i = 0; i < inputs; i++) {
      const a = input[n * inputs + i]!;
      const wr = i * outputs;
      let back = 0;
      for (let o = 0; o < outputs; o++) {
        const d = dOut[row + o]!;
        gw[wr + o]! += a * d;
        back += w[wr + o]! * d;
      }
      if (dInput) dInput[n * inputs + i] = back;
    }
  }
}

/** The activations and deltas of one pass, sized once for a number of rows. */
export class Scratch {
  readonly activations: Float32Array[];
  readonly deltas: Float32Array[];
  constructor(
    readonly layers: readonly Layer[],
    readonly rows: number,
  ) {
    this.activations = [
      new Float32Array(rows * layers[0]!.inputs),
      ...layers.map((l) => new Float32Array(rows * l.outputs)),
    ];
    this.deltas = layers.map((l) => new Float32Array(rows * l.outputs));
  }
}

/**
 * Forward and backward over `rows` rows of `x` (labels `y`, class indices as numbers): the
 * gradients of the mean softmax cross-entropy into `grads`; returns the loss and the rows
 * classified right.
 */
export function lossAndGradients(
  scratch: Scratch,
  grads: readonly LayerGradients[],
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): { loss: number; correct: number } {
  const { layers, rows, activations, deltas } = scratch;
  activations[0]!.set(x);
  layers.forEach((l, i) => forward(l, activations[i]!, activations[i + 1]!, rows, i < layers.length - 1));
  const logits = activations[layers.length]!;
  const dLogits = deltas[layers.length - 1]!;
  let loss = 0;
  let correct = 0;
  for (let n = 0; n < rows; n++) {
    const row = logits.subarray(n * CLASSES, (n + 1) * CLASSES);
    const label = y[n]!;
    const max = Math.max(...row);
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += Math.exp(row[c]! - max);
    let best = 0;
    for (let c = 0; c < CLASSES; c++) {
      const p = Math.exp(row[c]! - max) / sum;
      dLogits[n * CLASSES + c] = (p - (c === label ? 1 : 0)) / rows;
      if (row[c]! > row[best]!) best = c;
    }
    loss -= Math.log(Math.exp(row[label]! - max) / sum) / rows;
    if (best === label) correct++;
  }
  for (let i = layers.length - 1; i >= 0; i--) {
    backward(layers[i]!, grads[i]!, activations[i]!, deltas[i]!, i > 0 ? deltas[i - 1]! : null, rows);
    if (i > 0) {
      const a = activations[i]!;
      const d = deltas[i - 1]!;
      for (let j = 0; j < d.length; j++) if (a[j]! <= 0) d[j] = 0; // relu'
    }
  }
  return { loss, correct };
}

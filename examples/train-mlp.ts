/**
 * `npm run example`: trains a 2-512-512-3 MLP classifying the three
 * interleaved arms of a spiral — with the pool through the zero-copy path (the backward pass
 * writes straight into each variable's shared `.grad`, then `step()`), printing the falling
 * loss; then times the optimizer step of a 10M-parameter model for workers 0 and 'auto'.
 */
import { shuffle, uniform } from '../src/cli/random.js';
import { RMSprop, Variable } from '../src/index.js';

const CLASSES = 3;
const HIDDEN = 512;
const BATCH = 96;
const STEPS = 150;

function spiral(perClass: number, seed: number): { x: Float32Array; y: Int32Array } {
  const random = uniform(seed);
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

// ---- model ---------------------------------------------------------------------------------
interface Dense {
  kernel: Variable;
  bias: Variable;
  inputs: number;
  outputs: number;
}

function dense(name: string, inputs: number, outputs: number, seed: number): Dense {
  const random = uniform(seed);
  const scale = Math.sqrt(2 / inputs);
  // Box-Muller; 1 - random() is in (0, 1], so the log is finite
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const init = Float32Array.from({ length: inputs * outputs }, () => normal() * scale);
  return {
    kernel: new Variable(init, { shape: [inputs, outputs], name: `${name}_kernel` }),
    bias: new Variable(new Float32Array(outputs), { shape: [outputs], name: `${name}_bias` }),
    inputs,
    outputs,
  };
}

/** out[b, o] = act(in[b, :] . kernel[:, o] + bias[o]) */
function forward(layer: Dense, input: Float32Array, out: Float32Array, relu: boolean): void {
  const { inputs, outputs } = layer;
  const w = layer.kernel.value;
  const b = layer.bias.value;
  for (let n = 0; n < BATCH; n++) {
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

/** Writes dL/dkernel and dL/dbias into the variables' shared .grad; returns dL/dinput in `dInput`. */
function backward(layer: Dense, input: Float32Array, dOut: Float32Array, dInput: Float32Array | null): void {
  const { inputs, outputs } = layer;
  const w = layer.kernel.value;
  const gw = layer.kernel.grad;
  const gb = layer.bias.grad;
  gw.fill(0);
  gb.fill(0);
  if (dInput) dInput.fill(0);
  for (let n = 0; n < BATCH; n++) {
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

async function train(): Promise<void> {
  const data = spiral(400, 7);
  const layers = [
    dense('dense', 2, HIDDEN, 1),
    dense('dense_1', HIDDEN, HIDDEN, 2),
    dense('dense_2', HIDDEN, CLASSES, 3),
  ];
  const variables = layers.flatMap((l) => [l.kernel, l.bias]);
  const parameters = variables.reduce((n, v) => n + v.size, 0);
  const optimizer = new RMSprop({ learningRate: 0.001, momentum: 0.5, workers: 'auto' });
  optimizer.build(variables);
  const model = `${parameters.toLocaleString()} parameters, ${data.y.length} points`;
  console.log(`spiral MLP: ${model}, optimizer workers: ${optimizer.workers}`);

  const activations = [new Float32Array(BATCH * 2), ...layers.map((l) => new Float32Array(BATCH * l.outputs))];
  const deltas = layers.map((l) => new Float32Array(BATCH * l.outputs));
  const order = Int32Array.from({ length: data.y.length }, (_, i) => i);
  let cursor = order.length;
  const shuffleRandom = uniform(11);
  let optimizerMs = 0;
  let window = 0;
  let correct = 0;
  const started = performance.now();
  for (let step = 1; step <= STEPS; step++) {
    const input = activations[0]!;
    const labels = new Int32Array(BATCH);
    for (let n = 0; n < BATCH; n++) {
      if (cursor === order.length) {
        shuffle(order, shuffleRandom);
        cursor = 0;
      }
      const k = order[cursor++]!;
      input[2 * n] = data.x[2 * k]!;
      input[2 * n + 1] = data.x[2 * k + 1]!;
      labels[n] = data.y[k]!;
    }
    layers.forEach((l, i) => forward(l, activations[i]!, activations[i + 1]!, i < layers.length - 1));
    // softmax cross-entropy
    const logits = activations[layers.length]!;
    const dLogits = deltas[layers.length - 1]!;
    let loss = 0;
    for (let n = 0; n < BATCH; n++) {
      const row = logits.subarray(n * CLASSES, (n + 1) * CLASSES);
      const max = Math.max(...row);
      let sum = 0;
      for (let c = 0; c < CLASSES; c++) sum += Math.exp(row[c]! - max);
      let best = 0;
      for (let c = 0; c < CLASSES; c++) {
        const p = Math.exp(row[c]! - max) / sum;
        dLogits[n * CLASSES + c] = (p - (c === labels[n] ? 1 : 0)) / BATCH;
        if (row[c]! > row[best]!) best = c;
      }
      loss -= Math.log(Math.exp(row[labels[n]!]! - max) / sum) / BATCH;
      if (best === labels[n]) correct++;
    }
    for (let i = layers.length - 1; i >= 0; i--) {
      if (i > 0) {
        backward(layers[i]!, activations[i]!, deltas[i]!, deltas[i - 1]!);
        const a = activations[i]!;
        const d = deltas[i - 1]!;
        for (let j = 0; j < d.length; j++) if (a[j]! <= 0) d[j] = 0; // relu'
      } else {
        backward(layers[i]!, activations[i]!, deltas[i]!, null);
      }
    }
    const t = performance.now();
    await optimizer.step(); // gradients are already in shared memory: nothing is copied
    optimizerMs += performance.now() - t;
    window += loss;
    if (step % 15 === 0) {
      const accuracy = ((100 * correct) / (15 * BATCH)).toFixed(1);
      console.log(`step ${String(step).padStart(3)}  loss ${(window / 15).toFixed(4)}  batch accuracy ${accuracy}%`);
      window = 0;
      correct = 0;
    }
  }
  const total = performance.now() - started;
  console.log(
    `trained ${STEPS} steps in ${(total / 1000).toFixed(1)} s; optimizer ${optimizerMs.toFixed(0)} ms ` +
      `(${((100 * optimizerMs) / total).toFixed(1)}%), the rest is forward/backward in plain JS`,
  );
  await optimizer.close();
}

/** Median time of the zero-copy step on a 10M-parameter model, for each workers setting. */
async function stepTimes(): Promise<void> {
  const size = 10_000_000;
  const results: string[] = [];
  for (const workers of [0, 'auto'] as const) {
    const w = new Variable(new Float32Array(size).fill(0.1), { name: 'big', shape: [size] });
    const optimizer = new RMSprop({ workers });
    optimizer.build([w]);
    w.grad.fill(0.01);
    const times: number[] = [];
    for (let i = 0; i < 13; i++) {
      const t = performance.now();
      await optimizer.step();
      if (i >= 3) times.push(performance.now() - t); // the first steps warm up the JIT and the threads
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1]!;
    const rate = `${(size / median / 1e6).toFixed(3)} Gparam/s`;
    results.push(`workers=${workers} (${optimizer.workers} threads): median ${median.toFixed(1)} ms/step, ${rate}`);
    await optimizer.close();
  }
  console.log(`10M-parameter step (defaults, float32, zero-copy step()):\n  ${results.join('\n  ')}`);
}

await train();
await stepTimes();

/**
 * `npm run example`: trains a 2-512-512-3 MLP classifying the three
 * interleaved arms of a spiral — with the pool through the zero-copy path (the backward pass
 * writes straight into each variable's shared `.grad`, then `step()`), printing the falling
 * loss; then times the optimizer step of a 10M-parameter model for workers 0 and 'auto'.
 */
import { RMSprop, Variable } from 'rmsprop-pool';
import { CLASSES, heNormal, lossAndGradients, Scratch, seeded, spiral, type Layer } from './mlp.js';

const HIDDEN = 512;
const BATCH = 96;
const STEPS = 150;

/** A dense layer's variables, and the layer as the model sees it (views of their values). */
function dense(name: string, inputs: number, outputs: number, seed: number) {
  const kernel = new Variable(heNormal(inputs, outputs, seed), { shape: [inputs, outputs], name: `${name}_kernel` });
  const bias = new Variable(new Float32Array(outputs), { shape: [outputs], name: `${name}_bias` });
  return { kernel, bias, layer: (): Layer => ({ kernel: kernel.value, bias: bias.value, inputs, outputs }) };
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

  // after build: the values and gradients are views of the optimizer's shared memory
  const scratch = new Scratch(
    layers.map((l) => l.layer()),
    BATCH,
  );
  const grads = layers.map((l) => ({ kernel: l.kernel.grad, bias: l.bias.grad }));
  const x = new Float32Array(BATCH * 2);
  const labels = new Int32Array(BATCH);
  const order = Int32Array.from({ length: data.y.length }, (_, i) => i);
  let cursor = order.length;
  const shuffleRandom = seeded(11);
  let optimizerMs = 0;
  let window = 0;
  let correct = 0;
  const started = performance.now();
  for (let step = 1; step <= STEPS; step++) {
    for (let n = 0; n < BATCH; n++) {
      if (cursor === order.length) {
        // a new seeded order each pass over the data (Fisher-Yates)
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(shuffleRandom() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        cursor = 0;
      }
      const k = order[cursor++]!;
      x[2 * n] = data.x[2 * k]!;
      x[2 * n + 1] = data.x[2 * k + 1]!;
      labels[n] = data.y[k]!;
    }
    // the backward pass writes straight into each variable's shared .grad
    const pass = lossAndGradients(scratch, grads, x, labels);
    const loss = pass.loss;
    correct += pass.correct;
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

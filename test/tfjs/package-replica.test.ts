/**
 * The tfjs replica from the packed package, installed into an empty app, as a tfjs user writes
 * it: their model's module passed as a URL, their loss, their inputs. Each model trains on 1 and
 * 2 replicas (on the default backend, wasm, with the training kernels) to the same bytes, and the
 * first step's loss is trainOnBatch's on the same batch from the same weights.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackedApp, linkTfjs } from '../helpers/packed-app.js';

let app = '';
beforeAll(() => {
  app = installPackedApp();
  linkTfjs(app);
}, 120_000);
afterAll(() => rmSync(app, { recursive: true, force: true }));

interface Outcome {
  readonly backend: string;
  readonly trainOnBatch: number;
  readonly firstLoss: number[];
  readonly sameBytes: boolean;
  readonly sameLosses: boolean;
}

/**
 * Writes the model's module and a training script into the app and runs it: trainOnBatch's loss
 * on the first batch (an SGD of rate 0 leaves the weights as they were), then 3 steps on 1 and on
 * 2 replicas from those weights.
 */
function train(name: string, model: string, batch: string, options: string, compile: string): Outcome {
  writeFileSync(join(app, `${name}.mjs`), model);
  writeFileSync(
    join(app, `train-${name}.mjs`),
    `import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { DataParallelTrainer, RMSprop } from 'rmsprop-pool';
import { modelVariables, tfjsReplica, useWasmTrainingKernels } from 'rmsprop-pool/tfjs';
import { createModel } from './${name}.mjs';

await tf.setBackend('wasm');
useWasmTrainingKernels(tf); // this thread's gradients as the replicas' (tfjs-wasm lacks some training kernels)
${batch}
const model = createModel();
model.compile({ optimizer: tf.train.sgd(0), loss: ${compile} });
const trainOnBatch = await model.trainOnBatch(x, y);
const runs = [];
for (const replicas of [1, 2]) {
  const variables = modelVariables(model);
  const optimizer = new RMSprop({ learningRate: 0.01, microBatches: 2 });
  const trainer = new DataParallelTrainer({
    optimizer, variables, replica: tfjsReplica, replicas,
    replicaOptions: { factory: new URL('./${name}.mjs', import.meta.url), ${options} },
  });
  const losses = [];
  for (let step = 0; step < 3; step++) losses.push(await trainer.step(batch));
  const hash = createHash('sha256');
  for (const v of variables) hash.update(new Uint8Array(v.value.buffer, v.value.byteOffset, v.value.byteLength));
  runs.push({ losses, bytes: hash.digest('hex'), backend: trainer.replicaOptions.backend });
  await trainer.close();
  await optimizer.close();
}
console.log(JSON.stringify({
  backend: runs[0].backend,
  trainOnBatch,
  firstLoss: runs.map((r) => r.losses[0]),
  sameBytes: runs[0].bytes === runs[1].bytes,
  sameLosses: runs[0].losses.join() === runs[1].losses.join(),
}));
`,
  );
  const out = execFileSync(process.execPath, [`train-${name}.mjs`], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Outcome;
}

/** What every scenario must show. */
function expectTrained(outcome: Outcome): void {
  expect(outcome.backend).toBe('wasm');
  expect(outcome.sameBytes).toBe(true);
  expect(outcome.sameLosses).toBe(true);
  for (const loss of outcome.firstLoss) {
    expect(Math.abs(loss - outcome.trainOnBatch)).toBeLessThanOrEqual(1e-5 * Math.abs(outcome.trainOnBatch));
  }
}

/** 16 rows of seeded values. */
const ROWS = `const rows = 16;
let seed = 7;
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
`;

describe('tfjsReplica from the packed package, in an empty app', () => {
  it('a softmax classifier with categoricalCrossentropy', () => {
    const model = `import * as tfl from '@tensorflow/tfjs-layers';
export function createModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [6], units: 8, activation: 'relu' }));
  model.add(tfl.layers.dense({ units: 3, activation: 'softmax' }));
  return model;
}
`;
    const batch = `${ROWS}const inputs = Float32Array.from({ length: rows * 6 }, random);
const targets = Float32Array.from({ length: rows * 3 }, (_, k) => (k % 3 === Math.floor(k / 3) % 3 ? 1 : 0));
const batch = { inputs, targets, rows };
const [x, y] = [tf.tensor2d(inputs, [rows, 6]), tf.tensor2d(targets, [rows, 3])];`;
    expectTrained(train('classifier', model, batch, "loss: 'categoricalCrossentropy'", "'categoricalCrossentropy'"));
  });

  it('a CNN with a 4-D input ([rows, 8, 8, 1]) and the loss it was compiled with', () => {
    const model = `import * as tfl from '@tensorflow/tfjs-layers';
export function createModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  return model;
}
`;
    const batch = `${ROWS}const inputs = Float32Array.from({ length: rows * 64 }, random);
const targets = Float32Array.from({ length: rows * 3 }, (_, k) => (k % 3 === Math.floor(k / 3) % 3 ? 1 : 0));
const batch = { inputs, targets, rows };
const [x, y] = [tf.tensor4d(inputs, [rows, 8, 8, 1]), tf.tensor2d(targets, [rows, 3])];`;
    expectTrained(train('cnn', model, batch, '', "'categoricalCrossentropy'"));
  });

  it('an Embedding over int32 token ids, with sparse class targets (sparseCategoricalCrossentropy)', () => {
    const model = `import * as tfl from '@tensorflow/tfjs-layers';
export function createModel() {
  const tokens = tfl.input({ shape: [5], dtype: 'int32' });
  const embedded = tfl.layers.embedding({ inputDim: 20, outputDim: 4 }).apply(tokens);
  const flat = tfl.layers.flatten().apply(embedded);
  const classes = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(flat);
  return tfl.model({ inputs: tokens, outputs: classes });
}
`;
    const batch = `${ROWS}const inputs = Int32Array.from({ length: rows * 5 }, () => Math.floor(random() * 20));
const targets = Int32Array.from({ length: rows }, (_, r) => inputs[5 * r] % 3);
const batch = { inputs, targets, rows };
const [x, y] = [tf.tensor2d(inputs, [rows, 5], 'int32'), tf.tensor2d(Float32Array.from(targets), [rows, 1])];`;
    expectTrained(
      train('embedding', model, batch, "loss: 'sparseCategoricalCrossentropy'", "'sparseCategoricalCrossentropy'"),
    );
  });

  it('a relative factory path is refused when the trainer is built, saying what to pass', () => {
    writeFileSync(
      join(app, 'relative.mjs'),
      `import '@tensorflow/tfjs-backend-cpu';
import { DataParallelTrainer, RMSprop, Variable } from 'rmsprop-pool';
import { tfjsReplica } from 'rmsprop-pool/tfjs';
try {
  new DataParallelTrainer({
    optimizer: new RMSprop({ microBatches: 2 }),
    variables: [new Variable('zeros', { name: 'w', shape: [2] })],
    replica: tfjsReplica,
    replicaOptions: { factory: './model.mjs', loss: 'categoricalCrossentropy' },
  });
} catch (error) {
  console.log(error.message);
}
`,
    );
    const out = execFileSync(process.execPath, ['relative.mjs'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(out).toBe(
      'tfjsReplica: `replicaOptions.factory` must be the model module\'s URL or absolute path, got "./model.mjs" (string): ' +
        "a relative path would be resolved from this library's folder, not yours; pass new URL('./model.js', import.meta.url)\n",
    );
  });
});

/**
 * The tfjs replica as a tfjs user meets it: its options checked when the trainer is built (a bad
 * one refused, named, nothing changed), the backend chosen and shown, the factory as a URL, a
 * file: URL string or an absolute path, the loss by name, the model's own or a function of the
 * user's, each computed as tfjs-layers' trainOnBatch computes it; a batch's rows checked against
 * the model before any micro-batch runs; no tfjs banner from the replica threads.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataParallelTrainer, RMSprop } from '../../dist/src/index.js';
import { chooseLoss, totalLoss, TFJS_LOSSES } from '../../dist/src/tfjs/losses.js';
import { modelVariables, tfjsReplica } from '../../dist/src/tfjs.js';
import { classifier, squaredError } from '../modules/tfjs-classifier.mjs';
import { randomValues } from '../helpers/state.js';

/** tfjs-core's losses that tfjs-layers does not name (trainOnBatch cannot compile them). */
const CORE = ['absoluteDifference', 'huberLoss', 'logLoss', 'sigmoidCrossEntropy', 'softmaxCrossEntropy'];
/** A module of test/modules, which replica and pool threads load by URL. */
const helper = (name: string) => new URL(`../modules/${name}`, import.meta.url);
const ROWS = 8;
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** An optimizer that keeps trainOnBatch's gradients, by variable name, instead of applying them. */
class KeepGradients extends tf.Optimizer {
  static className = 'KeepGradients';
  kept = new Map<string, Float32Array>();
  override applyGradients(grads: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>): void {
    const named = Array.isArray(grads) ? grads : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    for (const { name, tensor } of named) this.kept.set(name, tensor.dataSync() as Float32Array);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** A classifier's batch: inputs, one-hot targets (or the class indices for a sparse loss). */
function classes(rows: number, sparse: boolean, seed: number) {
  const inputs = randomValues(rows * 6, seed);
  const labels = Array.from({ length: rows }, (_, i) => (i * 7 + seed) % 3);
  const targets = sparse
    ? Float32Array.from(labels)
    : Float32Array.from({ length: rows * 3 }, (_, k) => (labels[Math.floor(k / 3)] === k % 3 ? 1 : 0));
  return { inputs, targets, rows };
}

/** trainOnBatch's loss and gradients for `model` compiled with `loss` (a name or a function). */
async function trainOnBatch(model: tfl.LayersModel, loss: string | typeof squaredError, sparse: boolean) {
  const keep = new KeepGradients();
  model.compile({ optimizer: keep, loss });
  const { inputs, targets, rows } = classes(ROWS, sparse, 3);
  const [x, y] = [tf.tensor2d(inputs, [rows, 6]), tf.tensor2d(targets, [rows, sparse ? 1 : 3])];
  const value = (await model.trainOnBatch(x, y)) as number;
  tf.dispose([x, y]);
  return { loss: value, grads: model.trainableWeights.map((w) => keep.kept.get((w.read() as tf.Variable).name)!) };
}

const closeTo = (actual: ArrayLike<number>, expected: ArrayLike<number>) => {
  const scale = Math.max(...Array.from(expected, Math.abs));
  return Array.from(actual).every((a, i) => Math.abs(a - expected[i]!) <= 1e-5 * scale);
};

describe('every loss a tfjs replica takes by name, as trainOnBatch computes it', () => {
  it.each(TFJS_LOSSES.map((name) => [name]))('%s: the loss and the gradients of trainOnBatch', async (name) => {
    const sparse = name === 'sparseCategoricalCrossentropy';
    const model = classifier();
    const initial = model.getWeights().map((w) => w.clone());
    // the replica's computation, on this thread
    const chosen = chooseLoss(tf, tfl, model, name, undefined);
    const { inputs, targets, rows } = classes(ROWS, sparse, 3);
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const ours = tf.tidy(() => {
      const [x, y] = [tf.tensor2d(inputs, [rows, 6]), tf.tensor2d(targets, [rows, sparse ? 1 : 3])];
      const forward = () => model.apply(x, { training: true }) as tf.Tensor;
      const { value, grads } = tf.variableGrads(() => totalLoss(tf, model, chosen.fn, y, forward()), weights);
      return { loss: value.dataSync()[0]!, grads: weights.map((w) => grads[w.name]!.dataSync()) };
    });
    model.setWeights(initial);
    tf.dispose(initial);
    expect(chosen.name).toBe(name);
    expect(Number.isFinite(ours.loss)).toBe(true);
    if (CORE.includes(name)) {
      // tfjs-core's own losses, which tfjs-layers does not name: their mean, plus the regularizer's loss
      const expected = tf.tidy(() => {
        const [x, y] = [tf.tensor2d(inputs, [rows, 6]), tf.tensor2d(targets, [rows, 3])];
        const core = tf.losses[name as 'softmaxCrossEntropy'] as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
        const total = tf.add(core(y, model.apply(x, { training: true }) as tf.Tensor), model.calculateLosses()[0]!);
        return total.dataSync()[0]!;
      });
      expect(ours.loss).toBe(expected);
      return;
    }
    const theirs = await trainOnBatch(model, name, sparse);
    expect(Math.abs(ours.loss - theirs.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(theirs.loss));
    ours.grads.forEach((g, k) => expect(closeTo(g, theirs.grads[k]!), `gradient ${k}`).toBe(true));
  });

  it('the model is not touched: its compiled loss and optimizer stay the user’s', () => {
    const model = classifier();
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    chooseLoss(tf, tfl, model, 'categoricalCrossentropy', undefined);
    expect(model.loss).toBe('meanSquaredError');
    expect(model.optimizer.getClassName()).toBe('Adam');
  });
});

/** A trainer of the classifier on the cpu backend, one replica unless said. */
function classifierTrainer(replicaOptions: Record<string, unknown>, replicas = 1) {
  const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
  const variables = modelVariables(classifier());
  const trainer = new DataParallelTrainer({ optimizer, variables, replica: tfjsReplica, replicaOptions, replicas });
  open.push(trainer, optimizer);
  return { trainer, optimizer, variables };
}

describe('a trainer of tfjsReplica checks its options when it is built', () => {
  const factory = helper('tfjs-classifier.mjs');
  const refusals: Array<[string, unknown, RegExp]> = [
    [
      'options that are no object',
      'model.mjs',
      /`replicaOptions` must be an object \{ factory or topology, loss\?, metrics\?, backend\?, kernels\? \}, got "model.mjs" \(string\)/,
    ],
    [
      'an unknown option',
      { factory, losss: 'hinge' },
      /unknown `replicaOptions` 'losss'; it takes factory, topology, loss, metrics, backend, kernels/,
    ],
    [
      'a relative factory',
      { factory: './model.mjs' },
      /`replicaOptions.factory` must be the model module's URL or absolute path, got ".\/model.mjs" \(string\): a relative path would be resolved from this library's folder, not yours; pass new URL\('.\/model.js', import.meta.url\)/,
    ],
    [
      'no factory',
      {},
      /`replicaOptions.factory` must be the model module's URL or absolute path, got undefined \(undefined\)/,
    ],
    [
      'an unknown loss',
      { factory, loss: 'crossEntropy' },
      /`replicaOptions.loss` must be one of 'meanSquaredError', .*'categoricalCrossentropy', .*'softmaxCrossEntropy', got "crossEntropy" \(string\)/,
    ],
    [
      "Keras's snake_case name for a loss",
      { factory, loss: 'categorical_crossentropy' },
      /must be one of .*\(Keras's 'categorical_crossentropy' is tfjs's 'categoricalCrossentropy'\), got "categorical_crossentropy" \(string\)/,
    ],
    [
      'a loss function',
      { factory, loss: squaredError },
      /`replicaOptions.loss` must be a name \(a function cannot reach the replica threads: export it from the factory module as `loss`\), got \[function squaredError\] \(function\)/,
    ],
    [
      'an unknown backend',
      { factory, backend: 'webgl' },
      /`replicaOptions.backend` must be 'cpu' or 'wasm', got "webgl" \(string\)/,
    ],
    [
      'unknown kernels',
      { factory, kernels: 'fst' },
      /`replicaOptions.kernels` must be 'fast' or 'tfjs', got "fst" \(string\)/,
    ],
  ];
  it.each(refusals)('refuses %s, naming it; nothing is built', (_, replicaOptions, message) => {
    const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
    const variables = modelVariables(classifier());
    const before = variables.map((v) => v.value.slice());
    expect(() => new DataParallelTrainer({ optimizer, variables, replica: tfjsReplica, replicaOptions })).toThrow(
      message,
    );
    expect(optimizer.workers).toBeNull(); // not built over the variables
    variables.forEach((v, k) => expect(v.value).toEqual(before[k]));
  });

  it('shows what its threads receive: the factory as a URL string, the backend chosen (wasm, installed here), the training kernels on', () => {
    const { trainer } = classifierTrainer({ factory, loss: 'categoricalCrossentropy' });
    expect(trainer.replicaOptions).toEqual({
      factory: factory.href,
      topology: null, // the model is the factory's
      loss: 'categoricalCrossentropy',
      metrics: null, // those the factory's model was compiled with
      backend: 'wasm',
      kernels: 'fast',
    });
  });
});

describe('a tfjs replica trains the user’s model with its loss', () => {
  /** The first step's loss on the cpu backend, and trainOnBatch's on the same batch from the same weights. */
  async function firstLoss(replicaOptions: Record<string, unknown>, compiledWith: string | typeof squaredError) {
    const { trainer, variables } = classifierTrainer({ backend: 'cpu', ...replicaOptions });
    const model = classifier();
    model.setWeights(variables.map((v) => tf.tensor(v.value, [...v.shape])));
    const expected = await trainOnBatch(model, compiledWith, false);
    return { ours: await trainer.step(classes(ROWS, false, 3)), theirs: expected.loss };
  }

  it('from a URL, with a loss by name (categoricalCrossentropy on a softmax output)', async () => {
    const { ours, theirs } = await firstLoss(
      { factory: helper('tfjs-classifier.mjs'), loss: 'categoricalCrossentropy' },
      'categoricalCrossentropy',
    );
    expect(Math.abs(ours - theirs)).toBeLessThanOrEqual(1e-5 * theirs);
  });

  it('from a file: URL string, with the loss the model was compiled with', async () => {
    const { ours, theirs } = await firstLoss({ factory: helper('tfjs-compiled.mjs').href }, 'categoricalCrossentropy');
    expect(Math.abs(ours - theirs)).toBeLessThanOrEqual(1e-5 * theirs);
  });

  it('from an absolute path, with a loss function the factory module exports', async () => {
    const { ours, theirs } = await firstLoss({ factory: fileURLToPath(helper('tfjs-own-loss.mjs')) }, squaredError);
    expect(Math.abs(ours - theirs)).toBeLessThanOrEqual(1e-5 * theirs);
  });

  it('variables from modelVariables: a batch that does not fit is refused before any thread starts', async () => {
    // the factory does not exist: had a thread started, the step would fail on that instead
    const { trainer } = classifierTrainer({
      factory: helper('no-such-model.mjs'),
      loss: 'sparseCategoricalCrossentropy',
    });
    const wide = { inputs: randomValues(ROWS * 5, 1), targets: randomValues(ROWS, 2), rows: ROWS };
    await expect(trainer.step(wide)).rejects.toThrow(
      "holds 5 input values; the replicas' model takes inputs of shape [6]",
    );
    const oneHot = { inputs: randomValues(ROWS * 6, 1), targets: randomValues(ROWS * 3, 2), rows: ROWS };
    await expect(trainer.step(oneHot)).rejects.toThrow(
      "holds 3 target values; the replicas' model takes targets of shape [1], 1 values a row",
    );
    await expect(trainer.step(classes(ROWS, true, 1))).rejects.toThrow(/replica 0 did not start/); // a fitting batch starts them
  });

  it('a batch whose rows do not fit the model is refused naming both shapes, before any micro-batch runs; nothing changes', async () => {
    const { trainer, optimizer, variables } = classifierTrainer({
      factory: helper('tfjs-classifier.mjs'),
      loss: 'hinge',
      backend: 'cpu',
    });
    const before = variables.map((v) => v.value.slice());
    const wide = { inputs: randomValues(ROWS * 5, 1), targets: randomValues(ROWS * 3, 2), rows: ROWS };
    await expect(trainer.step(wide)).rejects.toThrow(
      "DataParallelTrainer.step: each of the batch's 8 rows holds 5 input values; the replicas' model takes inputs of shape [6], 6 values a row",
    );
    const sparse = { inputs: randomValues(ROWS * 6, 1), targets: randomValues(ROWS, 2), rows: ROWS };
    await expect(trainer.step(sparse)).rejects.toThrow(
      "holds 1 target values; the replicas' model takes targets of shape [3], 3 values a row",
    );
    expect(optimizer.iterations).toBe(0);
    variables.forEach((v, k) => expect(v.value).toEqual(before[k]));
    expect(await trainer.step(classes(ROWS, false, 1))).toBeGreaterThan(0); // and the next good batch trains
  });

  it('a factory module without createModel fails the first step naming it', async () => {
    const { trainer } = classifierTrainer({ factory: helper('not-a-replica.mjs'), loss: 'hinge', backend: 'cpu' });
    await expect(trainer.step(classes(ROWS, false, 1))).rejects.toThrow(/does not export createModel\(\)/);
  });

  it('a model with no loss anywhere fails the first step saying where a loss may come from', async () => {
    const { trainer } = classifierTrainer({ factory: helper('tfjs-classifier.mjs'), backend: 'cpu' });
    await expect(trainer.step(classes(ROWS, false, 1))).rejects.toThrow(
      /no loss: name one in `replicaOptions.loss`, compile the factory's model with one, or export a function `loss\(yTrue, yPred\)`/,
    );
  });
});

describe('the replica threads print no tfjs banner', () => {
  it("two replica threads on the cpu backend: the banner is the calling thread's alone", () => {
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { DataParallelTrainer, RMSprop } from ${JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href)};
import { modelVariables, tfjsReplica } from ${JSON.stringify(new URL('../../dist/src/tfjs.js', import.meta.url).href)};
import { classifier } from ${JSON.stringify(helper('tfjs-classifier.mjs').href)};
await tf.setBackend('cpu');
const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
const replicaOptions = { factory: ${JSON.stringify(helper('tfjs-classifier.mjs').href)}, loss: 'meanSquaredError', backend: 'cpu' };
const trainer = new DataParallelTrainer({ optimizer, variables: modelVariables(classifier()), replica: tfjsReplica, replicaOptions, replicas: 2 });
const loss = await trainer.step({ inputs: new Float32Array(24), targets: new Float32Array(12), rows: 4 });
console.log('loss', loss > 0);
await trainer.close();
await optimizer.close();`,
      ],
      { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) },
    );
    expect(run.stdout).toContain('loss true');
    expect(run.stderr.match(/Hi, looks like you are running TensorFlow\.js in Node\.js/g)).toHaveLength(1);
  });
});

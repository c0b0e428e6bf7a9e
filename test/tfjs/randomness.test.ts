/**
 * Randomness in training does not depend on the replica count: tfjs-examples' mnist-node CNN,
 * with its two Dropout layers, trained through tfjsReplica gives the same bytes on 1, 2 and 4
 * replicas and run to run; the trainer's `seed` changes the masks; the random streams are
 * functions of (seed, call, micro-batch) alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataParallelTrainer, RMSprop, Variable } from '../../dist/src/index.js';
import { modelVariables, tfjsReplica } from '../../dist/src/tfjs.js';
import { microBatchSeed, seededRandom } from '../../dist/src/training/randomness.js';
import { fixedSeedLayers, withRandom } from '../../dist/src/tfjs/random-ops.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { spawnSync } from 'node:child_process';
import { createModel } from '../../dist/examples/models/mnist-node-cnn.js';
import { randomValues } from '../helpers/state.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});
beforeAll(async () => {
  await tf.setBackend('cpu');
});

const FACTORY = new URL('../../dist/examples/models/mnist-node-cnn.js', import.meta.url);
const ROWS = 8;
const PIXELS = 28 * 28;

function batch(step: number) {
  const targets = new Float32Array(ROWS * 10);
  for (let r = 0; r < ROWS; r++) targets[r * 10 + ((r * 3 + step) % 10)] = 1;
  return { inputs: randomValues(ROWS * PIXELS, 100 + step), targets, rows: ROWS };
}

const start = modelVariables(createModel());

/** What to train: a factory, its loss and backend, the start, the batch of each step, the micro-batches. */
interface Run {
  readonly factory: URL;
  readonly loss: 'categoricalCrossentropy' | 'meanSquaredError';
  readonly backend: 'cpu' | 'wasm';
  readonly start: ReturnType<typeof modelVariables>;
  readonly batch: (step: number) => { inputs: Float32Array; targets: Float32Array; rows: number };
  readonly microBatches: number;
}

const mnistNode: Run = {
  factory: FACTORY,
  loss: 'categoricalCrossentropy',
  backend: 'wasm',
  start,
  batch,
  microBatches: 4,
};

/** The hash of the weights after `steps` steps of `run` on `replicas` replicas, and the losses. */
async function train(
  replicas: number,
  seed?: number,
  steps = 2,
  run: Run = mnistNode,
): Promise<{ hash: string; losses: number[] }> {
  const variables = run.start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
  const optimizer = new RMSprop({ microBatches: run.microBatches, workers: 0 });
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: tfjsReplica,
    replicaOptions: { factory: run.factory, loss: run.loss, backend: run.backend },
    replicas,
    ...(seed !== undefined && { seed }),
  });
  open.push(trainer, optimizer);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(await trainer.step(run.batch(s)));
  const hash = createHash('sha256');
  for (const v of variables) hash.update(new Uint8Array(v.value.buffer, v.value.byteOffset, v.value.byteLength));
  return { hash: hash.digest('hex'), losses };
}

describe("Dropout through tfjsReplica: the mnist-node CNN's two Dropout layers", () => {
  it('the same bytes and losses on 1, 2 and 4 replicas, and run to run; another seed, other masks', async () => {
    const one = await train(1);
    const two = await train(2);
    const four = await train(4);
    const again = await train(2);
    expect(two).toEqual(one);
    expect(four).toEqual(one);
    expect(again).toEqual(one);
    const reseeded = await train(2, 7);
    expect(reseeded.losses[0]).not.toBe(one.losses[0]); // the first step's masks differ
    expect(reseeded.hash).not.toBe(one.hash);
  }, 120_000);

  it('a seed outside [0, 2^32) is refused, quoted, before anything is built', () => {
    const variables = start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
    const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
    for (const seed of [-1, 2 ** 32, 1.5, '3']) {
      expect(
        () =>
          new DataParallelTrainer({
            optimizer,
            variables,
            replica: tfjsReplica,
            replicaOptions: { factory: FACTORY },
            seed: seed as number,
          }),
      ).toThrow(/DataParallelTrainer: `seed` must be an integer from 0 to 4294967295, got /);
    }
    expect(optimizer.memoryBytes).toBe(0); // not built
  });
});

describe("tfjs-layers' other random layers, and a layer with its own seed", () => {
  const NOISE = new URL('../modules/tfjs-noise.mjs', import.meta.url);
  const noiseBatch = { inputs: randomValues(8 * 24, 41), targets: randomValues(8 * 2, 42), rows: 8 };

  async function noiseRun(): Promise<Run> {
    const { createModel: noiseModel } = (await import(NOISE.href)) as { createModel: () => tfl.LayersModel };
    // one start for every run: the initializers draw unseeded
    const start = modelVariables(noiseModel());
    return {
      factory: NOISE,
      loss: 'meanSquaredError',
      backend: 'cpu',
      start,
      batch: () => noiseBatch,
      microBatches: 2,
    };
  }

  it('SpatialDropout1D, GaussianNoise, GaussianDropout and AlphaDropout: the same bytes on 1 and 2 replicas', async () => {
    const run = await noiseRun();
    const one = await train(1, undefined, 2, run);
    expect(await train(2, undefined, 2, run)).toEqual(one);
    expect(one.losses[0]).not.toBe(one.losses[1]); // the step trained
  }, 60_000);

  it('fixedSeedLayers names a layer with a seed of its own, nested ones too, and nothing else', () => {
    const seeded = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 2, inputShape: [3] }),
        tfl.layers.dropout({ rate: 0.5, seed: 3, name: 'own' }),
      ],
    });
    const outer = tfl.sequential({ layers: [seeded, tfl.layers.dropout({ rate: 0.1 })] });
    expect(fixedSeedLayers(outer.layers as never)).toEqual([
      "Dropout layer 'own' has its own seed (3): tfjs draws the same mask at every step and micro-batch, and the trainer's `seed` does not reach it",
    ]);
    expect(fixedSeedLayers(createModel().layers as never)).toEqual([]);
  });

  it('a replica warns of it once, naming the layer, when its threads start', () => {
    const script = `
      import '@tensorflow/tfjs-backend-cpu';
      import { DataParallelTrainer, RMSprop } from '${new URL('../../dist/src/index.js', import.meta.url).href}';
      import { modelVariables, tfjsReplica } from '${new URL('../../dist/src/tfjs.js', import.meta.url).href}';
      import { createModel } from '${new URL('../modules/tfjs-seeded-dropout.mjs', import.meta.url).href}';
      const variables = modelVariables(createModel());
      const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
      const factory = new URL('${new URL('../modules/tfjs-seeded-dropout.mjs', import.meta.url).href}');
      const trainer = new DataParallelTrainer({ optimizer, variables, replica: tfjsReplica, replicas: 2,
        replicaOptions: { factory, loss: 'meanSquaredError', backend: 'cpu' } });
      await trainer.step({ inputs: new Float32Array(12), targets: new Float32Array(4), rows: 4 });
      await trainer.close();
      await optimizer.close();`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const warnings = run.stderr.split('\n').filter((line) => line.includes('RandomnessWarning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("Dropout layer 'fixed_mask' has its own seed (3)");
  }, 60_000);
});

describe('the streams', () => {
  it('a micro-batch seed depends on the seed, the call and the index, each', () => {
    const seeds = new Set<number>();
    for (const seed of [0, 1, 2 ** 32 - 1])
      for (const call of [0, 1, 2 ** 32, 2 ** 40])
        for (const index of [0, 1, 7]) seeds.add(microBatchSeed(seed, call, index));
    expect(seeds.size).toBe(3 * 4 * 3);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });

  it('seededRandom: the same seed the same stream, in [0, 1), roughly uniform', () => {
    const draw = (seed: number) => Array.from({ length: 10_000 }, seededRandom(seed));
    const a = draw(5);
    expect(draw(5)).toEqual(a);
    expect(draw(6)).not.toEqual(a);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
  });

  it("withRandom: tfjs's unseeded random ops repeat under the same stream, and Math.random is put back", () => {
    const own = Math.random;
    const masks = () =>
      withRandom(seededRandom(9), () =>
        tf.tidy(() => [...tf.dropout(tf.ones([64]), 0.5).dataSync(), ...tf.randomNormal([4]).dataSync()]),
      );
    expect(masks()).toEqual(masks());
    expect(Math.random).toBe(own);
    expect(() =>
      withRandom(seededRandom(1), () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(Math.random).toBe(own);
  });
});

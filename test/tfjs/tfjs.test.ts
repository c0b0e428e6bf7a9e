/**
 * rmsprop-pool/tfjs: a tfjs-layers model trained through the adapter ends with the weights the
 * same model gets from our optimizer applied directly, and follows tf.train.rmsprop's trajectory
 * where the formulas coincide.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { RMSprop, schedules, Variable, type RMSpropOptions } from '../../dist/src/index.js';
import { tfjsOptimizer, TfjsRMSprop } from '../../dist/src/tfjs.js';
import { bytesOf } from '../helpers/compare.js';
import { randomValues } from '../helpers/state.js';

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const SAMPLES = 48;
const x = () => tf.tensor2d(randomValues(SAMPLES * 4, 1), [SAMPLES, 4]);
const y = () => tf.tensor2d(randomValues(SAMPLES * 2, 2), [SAMPLES, 2]);

/** The same small regression model every time: fixed initial weights. */
function makeModel(): tfl.Sequential {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [4], units: 8, activation: 'tanh' }), tfl.layers.dense({ units: 2 })],
  });
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(randomValues(w.size, 100 + i), w.shape)));
  return model;
}

const weightsOf = (model: tfl.LayersModel): Float32Array[] =>
  model.getWeights().map((w) => w.dataSync() as Float32Array);

async function fitWith(optimizer: tf.Optimizer, epochs = 3): Promise<Float32Array[]> {
  const model = makeModel();
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x(), y(), { epochs, batchSize: 16, shuffle: false, verbose: 0 });
  return weightsOf(model);
}

/** `fitWith`'s training by hand: tfjs computes each batch's gradients, our optimizer applies them. */
async function trainByHand(options: RMSpropOptions, epochs = 3, finalize = false): Promise<Float32Array[]> {
  const model = makeModel();
  const direct = new RMSprop({ ...options, learningRate: 0.01, workers: 0 });
  const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const [xs, ys] = [x(), y()];
  let mirrors: Variable[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let start = 0; start < SAMPLES; start += 16) {
      const [bx, by] = [tf.slice(xs, [start, 0], [16, -1]), tf.slice(ys, [start, 0], [16, -1])];
      const { grads } = tf.variableGrads(
        () => tf.mean<tf.Scalar>(tfl.metrics.meanSquaredError(by, model.apply(bx) as tf.Tensor)),
        weights,
      );
      if (epoch === 0 && start === 0) {
        // our variables mirror the tfjs ones
        mirrors = weights.map((w) => new Variable(w.dataSync() as Float32Array, { name: w.name, shape: w.shape }));
        direct.build(mirrors);
      }
      await direct.apply(
        weights.map((w) => grads[w.name]!.dataSync() as Float32Array),
        mirrors,
      );
      weights.forEach((w, i) => w.assign(tf.tensor(mirrors[i]!.value.slice(), w.shape)));
    }
  }
  if (finalize) {
    direct.finalizeVariableValues(mirrors);
    weights.forEach((w, i) => w.assign(tf.tensor(mirrors[i]!.value.slice(), w.shape)));
  }
  return weightsOf(model);
}

const sameBytes = (a: readonly Float32Array[], b: readonly Float32Array[]): void => {
  expect(a.length).toBe(b.length);
  a.forEach((w, i) => expect(bytesOf([w]).equals(bytesOf([b[i]!])), `weight ${i}`).toBe(true));
};

describe('tfjsOptimizer', () => {
  it.each<[string, RMSpropOptions]>([
    ['defaults', {}],
    [
      'centered, momentum, weight decay, global clipnorm',
      { centered: true, momentum: 0.9, weightDecay: 0.01, globalClipnorm: 1 },
    ],
  ])('model.fit through it equals our optimizer applied to the same gradients (%s)', async (_label, options) => {
    const viaFit = await fitWith(tfjsOptimizer(new RMSprop({ ...options, learningRate: 0.01, workers: 0 })));

    const viaDirect = await trainByHand(options);
    sameBytes(viaFit, viaDirect);
  });

  it('gives the same weights with the worker pool (synchronous steps on the lanes once they are up)', async () => {
    const single = await fitWith(tfjsOptimizer(new RMSprop({ learningRate: 0.01, centered: true, workers: 0 })), 8);
    const pooled = new RMSprop({ learningRate: 0.01, centered: true, workers: 2 });
    const parallel = await fitWith(tfjsOptimizer(pooled), 8);
    parallel.forEach((w, i) => expect(bytesOf([w]).equals(bytesOf([single[i]!])), `weight ${i}`).toBe(true));
    await pooled.close();
  });

  it("takes weights changed in tfjs between steps (setWeights): the model's values are the truth", async () => {
    const adapter = tfjsOptimizer(new RMSprop({ learningRate: 0.01, workers: 0 }));
    const model = makeModel();
    model.compile({ optimizer: adapter, loss: 'meanSquaredError' });
    await model.fit(x(), y(), { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
    const replaced = model.getWeights().map((w, i) => tf.tensor(randomValues(w.size, 500 + i), w.shape));
    model.setWeights(replaced);
    // zero gradients: RMSprop leaves the weights as they are, so they must be the replaced ones
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    adapter.applyGradients(weights.map((w) => ({ name: w.name, tensor: tf.zerosLike(w) })));
    weightsOf(model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(replaced[i]!.dataSync())));
    const before = weightsOf(model);
    adapter.applyGradients(weights.map((w) => ({ name: w.name, tensor: tf.onesLike(w) })));
    // a real step, from them
    weightsOf(model).forEach((w, i) => expect(w.every((v, k) => v < before[i]![k]!)).toBe(true));
  });

  it('tracks tf.train.rmsprop where the formulas coincide (rho, momentum, epsilon)', async () => {
    const ours = await fitWith(
      tfjsOptimizer(new RMSprop({ learningRate: 0.01, rho: 0.8, momentum: 0.5, epsilon: 1e-6, workers: 0 })),
      5,
    );
    const theirs = await fitWith(tf.train.rmsprop(0.01, 0.8, 0.5, 1e-6, false), 5);
    const start = weightsOf(makeModel());
    ours.forEach((w, i) => {
      for (let k = 0; k < w.length; k++) {
        expect(Math.abs(w[k]! - theirs[i]![k]!)).toBeLessThan(1e-5 + 1e-4 * Math.abs(theirs[i]![k]!));
      }
      expect(w.some((v, k) => v !== start[i]![k])).toBe(true); // both trained
    });
  });

  it('serializes as a Keras config and counts iterations; getWeights/setWeights carry the state', async () => {
    const adapter = tfjsOptimizer(new RMSprop({ learningRate: 0.02, momentum: 0.5, workers: 0 }));
    await fitWith(adapter, 1);
    expect(adapter.iterations).toBe(3);
    expect(adapter.getConfig()).toMatchObject({ learning_rate: Math.fround(0.02), momentum: 0.5, rho: 0.9 });
    const copy = TfjsRMSprop.fromConfig(TfjsRMSprop, adapter.getConfig()) as TfjsRMSprop;
    expect(copy.optimizer.getConfig()).toEqual(adapter.optimizer.getConfig());
    const weights = await adapter.getWeights();
    expect(weights.map((w) => w.name)).toEqual(['iter', ...adapter.optimizer.variables.slice(1).map((v) => v.name)]);
    const second = tfjsOptimizer(new RMSprop({ learningRate: 0.02, momentum: 0.5, workers: 0 }));
    await fitWith(second, 1);
    await second.setWeights([{ name: 'iter', tensor: tf.scalar(7, 'int32') }, ...weights.slice(1)]);
    expect(second.optimizer.iterations).toBe(7);
    second.optimizer.variables
      .slice(1)
      .forEach((v, i) => expect(Array.from(v.value)).toEqual(Array.from(adapter.optimizer.variables[i + 1]!.value)));
  });

  it("finalizeOnTrainEnd(): after fit the model holds the moving averages, as after Keras's fit", async () => {
    const options: RMSpropOptions = { useEma: true, emaMomentum: 0.9, momentum: 0.5 };
    const adapter = tfjsOptimizer(new RMSprop({ ...options, learningRate: 0.01, workers: 0 }));
    const model = makeModel();
    model.compile({ optimizer: adapter, loss: 'meanSquaredError' });
    await model.fit(x(), y(), {
      epochs: 3,
      batchSize: 16,
      shuffle: false,
      verbose: 0,
      callbacks: [adapter.finalizeOnTrainEnd()],
    });
    const finalized = weightsOf(model);
    sameBytes(finalized, await trainByHand(options, 3, true));
    // and they are not the trained values themselves
    const trained = await trainByHand(options, 3, false);
    expect(finalized.some((w, i) => !bytesOf([w]).equals(bytesOf([trained[i]!])))).toBe(true);
  });

  it('finalizing the wrapped optimizer itself touches only the staging copies: the next step starts from the model', async () => {
    const adapter = tfjsOptimizer(new RMSprop({ learningRate: 0.01, useEma: true, emaMomentum: 0.9, workers: 0 }));
    const model = makeModel();
    model.compile({ optimizer: adapter, loss: 'meanSquaredError' });
    await model.fit(x(), y(), { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
    const before = weightsOf(model);
    adapter.optimizer.finalizeVariableValues();
    // a zero gradient moves nothing: the model must keep its own (trained, not averaged) values
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    adapter.applyGradients(weights.map((w) => ({ name: w.name, tensor: tf.zerosLike(w) })));
    sameBytes(weightsOf(model), before);
  });

  it.each<[string, RMSpropOptions]>([
    ['centered, momentum, a constant learning rate', { centered: true, momentum: 0.9 }],
    ['EMA overwriting every 4 steps, weight decay', { useEma: true, emaOverwriteFrequency: 4, weightDecay: 0.05 }],
    [
      // tfjs hands the loaded config over camelCased, the schedule's keys too
      'an ExponentialDecay schedule, gradients accumulated over 4 calls',
      {
        learningRate: new schedules.ExponentialDecay({ initialLearningRate: 0.02, decaySteps: 2, decayRate: 0.5 }),
        gradientAccumulationSteps: 4,
      },
    ],
  ])(
    'model.save({ includeOptimizer }) then tf.loadLayersModel and fit again equals never stopping, bit for bit (%s)',
    async (_label, options) => {
      const make = () => tfjsOptimizer(new RMSprop({ learningRate: 0.01, ...options, workers: 0 }));
      const model = makeModel();
      model.compile({ optimizer: make(), loss: 'meanSquaredError' });
      const fit = (m: tfl.LayersModel, epochs: number) =>
        m.fit(x(), y(), { epochs, batchSize: 16, shuffle: false, verbose: 0 });
      await fit(model, 2);
      let saved: tf.io.ModelArtifacts | undefined;
      await model.save(
        tf.io.withSaveHandler((artifacts) => {
          saved = artifacts;
          return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
        }),
        { includeOptimizer: true },
      );
      await fit(model, 2);
      const uninterrupted = weightsOf(model);

      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
      const restored = loaded.optimizer as TfjsRMSprop;
      expect(restored).toBeInstanceOf(TfjsRMSprop);
      expect(restored.iterations).toBe(6);
      expect(restored.getConfig()).toEqual((model.optimizer as TfjsRMSprop).getConfig());
      // held until the first step: getWeights gives back what was loaded
      const held = await restored.getWeights();
      expect(held.map((w) => w.name)).toEqual(
        saved!.weightSpecs!.filter((s) => s.group === 'optimizer').map((s) => s.name),
      );
      expect(() => restored.finalizeVariableValues()).toThrow(/before the first step of a loaded model/);
      await fit(loaded, 2);
      sameBytes(weightsOf(loaded), uninterrupted);
      // tfjs's count of calls and Keras's of updates, both as if never stopped
      const original = model.optimizer as TfjsRMSprop;
      expect([restored.iterations, restored.optimizer.iterations]).toEqual([12, original.optimizer.iterations]);
      expect(original.iterations).toBe(12);
      await restored.optimizer.close();
    },
  );

  it('optimizer weights that do not fit the model: the first step refuses, and so does every later one', async () => {
    const adapter = tfjsOptimizer(new RMSprop({ learningRate: 0.01, workers: 0 }));
    await adapter.setWeights([
      { name: 'iter', tensor: tf.scalar(3, 'int32') },
      { name: 'learning_rate', tensor: tf.scalar(0.01) },
      { name: 'w_velocity', tensor: tf.zeros([5]) },
    ]);
    expect(adapter.iterations).toBe(3);
    const model = makeModel();
    model.compile({ optimizer: adapter, loss: 'meanSquaredError' });
    const before = weightsOf(model);
    const fit = () => model.fit(x(), y(), { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
    await expect(fit()).rejects.toThrow(
      /setWeights do not fit the model's variables: loadOwnVariables: the store holds 3 arrays/,
    );
    await expect(fit()).rejects.toThrow(/setWeights do not fit/);
    sameBytes(weightsOf(model), before);
  });

  it('setWeights refuses a negative iteration count or a non-tensor, naming it', async () => {
    const adapter = tfjsOptimizer(new RMSprop({ workers: 0 }));
    await expect(adapter.setWeights([{ name: 'iter', tensor: tf.scalar(-1, 'int32') }])).rejects.toThrow(
      'setWeights: the first weight must be the iteration count, got [-1] (array)',
    );
    await expect(adapter.setWeights([])).rejects.toThrow('`weightValues` must be a non-empty array');
    expect(adapter.iterations).toBe(0);
  });
});

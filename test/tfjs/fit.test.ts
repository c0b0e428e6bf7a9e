/**
 * fitDataParallel and fitDatasetDataParallel against tfjs-layers' own model.fit and
 * model.fitDataset: the same logs (loss, the compiled metrics, val_*) with the same optimizer,
 * the same History keys, early stopping at the same epoch, callbacks on this thread with tfjs's
 * logs; the same bytes on 1 and 2 replicas, Dropout included; every refusal named, before
 * anything changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localWorld, RMSprop } from '../../dist/src/index.js';

type Logs = tfl.Logs;
import {
  fitDataParallel,
  fitDatasetDataParallel,
  tfjsOptimizer,
  type FitDataParallelArgs,
  type FitModel,
} from '../../dist/src/tfjs.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A seeded classifier of 5 inputs into 3 classes, with Dropout when asked. */
function classifier(dropout = 0): tfl.LayersModel {
  const model = tfl.sequential();
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  model.add(tfl.layers.dense({ inputShape: [5], units: 12, activation: 'relu', kernelInitializer: init(1) }));
  if (dropout > 0) model.add(tfl.layers.dropout({ rate: dropout }));
  model.add(tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(2) }));
  return model;
}

/** 90 seeded rows, their class a function of the inputs: x [90, 5], one-hot y [90, 3], and the labels. */
function rows(count = 90) {
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const x = Float32Array.from({ length: count * 5 }, random);
  const labels = Int32Array.from(
    { length: count },
    (_, r) => (x[r * 5]! + x[r * 5 + 1]! > 1 ? 1 : 0) + (x[r * 5 + 2]! > 0.6 ? 1 : 0),
  );
  const y = Float32Array.from({ length: count * 3 }, (_, i) => (labels[Math.floor(i / 3)] === i % 3 ? 1 : 0));
  return { x: tf.tensor2d(x, [count, 5]), y: tf.tensor2d(y, [count, 3]), xs: x, ys: y, labels };
}

const compiled = (model: tfl.LayersModel, optimizer: tf.Optimizer | string = 'sgd') => {
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model as unknown as FitModel & tfl.LayersModel;
};

/** model.fit on this thread with rmsprop-pool's RMSprop through the tfjs adapter. */
async function tfjsFit(args: tfl.ModelFitArgs, rmsprop = { learningRate: 0.01 }) {
  const data = rows();
  const optimizer = new RMSprop({ ...rmsprop, workers: 0 });
  open.push(optimizer);
  const model = compiled(classifier(), tfjsOptimizer(optimizer));
  const history = await model.fit(data.x, data.y, { verbose: 0, ...args });
  return { history, model };
}

/** fitDataParallel on `replicas` replicas, the same optimizer's options. */
async function ourFit(args: FitDataParallelArgs, dropout = 0) {
  const data = rows();
  const model = compiled(classifier(dropout));
  const history = await fitDataParallel(model, data.x, data.y, {
    verbose: 0,
    optimizer: { learningRate: 0.01 },
    backend: 'cpu',
    ...args,
  });
  return { history, model };
}

const weightsOf = (model: tfl.LayersModel) =>
  Buffer.concat(model.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer.slice(0))));

/** Each log's values within 1e-5 of the larger magnitude. */
function expectClose(ours: Record<string, number[]>, theirs: Record<string, number[]>): void {
  expect(Object.keys(ours)).toEqual(Object.keys(theirs)); // the same keys, in tfjs's order
  for (const [key, values] of Object.entries(theirs)) {
    values.forEach((v, e) => {
      const scale = Math.max(1, Math.abs(v));
      expect(Math.abs(ours[key]![e]! - v), `${key}[${e}]: ${ours[key]![e]} vs ${v}`).toBeLessThanOrEqual(1e-5 * scale);
    });
  }
}

describe('fitDataParallel', () => {
  it("every epoch's loss, accuracy and val_ values are model.fit's, with the same optimizer (2 replicas, uneven last batch)", async () => {
    const args = { epochs: 3, batchSize: 16, shuffle: false, validationSplit: 0.2 };
    const theirs = await tfjsFit(args);
    const ours = await ourFit({ ...args, replicas: 2, microBatches: 2 });
    expect(Object.keys(theirs.history.history)).toEqual(['val_loss', 'val_acc', 'loss', 'acc']);
    expectClose(ours.history.history, theirs.history.history as never);
    expect(ours.history.epoch).toEqual(theirs.history.epoch);
    expect(ours.history.params).toMatchObject({ epochs: 3, samples: 72, batchSize: 16, doValidation: true });
    expect(ours.model.history).toBe(ours.history);
    // the trained weights are in the model, as model.fit leaves them
    const [a, b] = [ours.model.getWeights(), theirs.model.getWeights()].map((ws) => ws.map((w) => [...w.dataSync()]));
    a!.flat().forEach((v, i) => expect(Math.abs(v - b!.flat()[i]!)).toBeLessThan(1e-5));
  });

  it("validationData, classWeight: model.fit's logs; typed arrays as well as tensors", async () => {
    const data = rows(40);
    const args = {
      epochs: 2,
      batchSize: 8,
      shuffle: false,
      validationData: [data.x, data.y] as [tf.Tensor, tf.Tensor],
      classWeight: { 0: 1, 1: 2.5, 2: 0.5 },
    };
    const theirs = await tfjsFit(args);
    const ours = await ourFit({ ...args, validationData: [data.xs, data.ys], microBatches: 4 });
    expectClose(ours.history.history, theirs.history.history as never);
  });

  it('early stopping stops at the epoch model.fit stops at; a callback sets model.stopTraining mid-epoch', async () => {
    const stopping = () => tfl.callbacks.earlyStopping({ monitor: 'val_loss', minDelta: 10, patience: 1 });
    const args = { epochs: 10, batchSize: 16, shuffle: false, validationSplit: 0.2 };
    const theirs = await tfjsFit({ ...args, callbacks: [stopping()] });
    const ours = await ourFit({ ...args, callbacks: [stopping()] });
    expect(theirs.history.epoch).toEqual([0, 1]);
    expect(ours.history.epoch).toEqual([0, 1]);
    // a plain object's methods, with tfjs's logs; stopping after the third batch of the first epoch
    const seen: string[] = [];
    const data = rows();
    const model = compiled(classifier());
    const keys = (logs?: Logs) => Object.keys(logs ?? {}).join(',');
    const history = await fitDataParallel(model, data.x, data.y, {
      epochs: 3,
      batchSize: 16,
      verbose: 0,
      optimizer: { learningRate: 0.01 },
      backend: 'cpu',
      callbacks: {
        onTrainBegin: () => void seen.push('train'),
        onBatchEnd: (batch: number, logs?: Logs) => {
          seen.push(`batch ${batch} ${keys(logs)}`);
          if (batch === 2) model.stopTraining = true;
        },
        onEpochEnd: (epoch: number, logs?: Logs) => void seen.push(`epoch ${epoch} ${keys(logs)}`),
        onTrainEnd: () => void seen.push('end'),
      },
    });
    expect(seen).toEqual([
      'train',
      'batch 0 batch,size,loss,acc',
      'batch 1 batch,size,loss,acc',
      'batch 2 batch,size,loss,acc',
      'epoch 0 loss,acc',
      'end',
    ]);
    expect(history.epoch).toEqual([0]);
  });

  it('the same bytes and logs on 1 and 2 replicas, shuffled and with Dropout, on wasm with the training kernels', async () => {
    const runs = [];
    for (const replicas of [1, 2]) {
      const { history, model } = await ourFit(
        { epochs: 2, batchSize: 20, seed: 5, replicas, microBatches: 4, backend: undefined, validationSplit: 0.25 },
        0.3,
      );
      runs.push({ history: history.history, weights: weightsOf(model) });
    }
    expect(runs[1]!.weights.equals(runs[0]!.weights)).toBe(true);
    expect(runs[1]!.history).toEqual(runs[0]!.history);
    // another seed: other shuffles and masks
    const other = await ourFit({ epochs: 2, batchSize: 20, seed: 6, microBatches: 4, validationSplit: 0.25 }, 0.3);
    expect(weightsOf(other.model).equals(runs[0]!.weights)).toBe(false);
  });

  it('an RMSprop given goes on where the last fit left it: two fits of one epoch are one fit of two', async () => {
    const data = rows();
    const fitTwice = async (epochs: number[]) => {
      const model = compiled(classifier());
      const optimizer = new RMSprop({ learningRate: 0.01, microBatches: 2 });
      open.push(optimizer);
      const losses: number[] = [];
      for (const e of epochs) {
        const history = await fitDataParallel(model, data.x, data.y, {
          epochs: e,
          batchSize: 16,
          shuffle: false,
          verbose: 0,
          optimizer,
          backend: 'cpu',
        });
        losses.push(...history.history.loss!);
      }
      expect(optimizer.iterations).toBe(12);
      return { weights: weightsOf(model), losses };
    };
    const [once, twice] = [await fitTwice([2]), await fitTwice([1, 1])];
    expect(twice.weights.equals(once.weights)).toBe(true);
    expect(twice.losses).toEqual(once.losses);
  });

  it('refuses what it does not take, by name, before anything changes', async () => {
    const data = rows(20);
    const model = compiled(classifier());
    const before = weightsOf(model);
    const fit = (args: Record<string, unknown>, m: FitModel = model, x: unknown = data.x) =>
      fitDataParallel(m, x as tf.Tensor, data.y, {
        verbose: 0,
        optimizer: {},
        backend: 'cpu',
        ...args,
      });
    await expect(fit({ validationSteps: 2 })).rejects.toThrow("unknown or unsupported `args` 'validationSteps'");
    await expect(fit({ bachSize: 2 })).rejects.toThrow("unknown or unsupported `args` 'bachSize'");
    await expect(fit({ batchSize: 0 })).rejects.toThrow('`args.batchSize` must be an integer >= 1, got 0 (number)');
    await expect(fit({ validationSplit: 1 })).rejects.toThrow('`args.validationSplit` must be a number from 0');
    await expect(fit({ validationData: [data.x, data.y, data.y] })).rejects.toThrow(
      '`args.validationData` must be [x, y]',
    );
    await expect(fit({ verbose: 3 })).rejects.toThrow('`args.verbose` must be 0, 1 or 2, got 3 (number)');
    await expect(fit({ classWeight: [{ 0: 1 }] })).rejects.toThrow('`args.classWeight` must be an object');
    await expect(fit({ classWeight: { 0: 1, 1: 1 } })).rejects.toThrow('class 2 is in the data but not in classWeight');
    await expect(fit({ sampleWeight: new Float32Array(3) })).rejects.toThrow(
      '`args.sampleWeight` has 3 weights for 20 rows',
    );
    await expect(fit({ stepsPerEpoch: 5, batchSize: 8 })).rejects.toThrow("at most the data's 3 batches of 8");
    await expect(fit({ optimizer: new RMSprop({ microBatches: 2 }), microBatches: 4 })).rejects.toThrow(
      "`args.microBatches` must be the optimizer's own (2), or left out",
    );
    const [world] = localWorld(1);
    await expect(fit({ optimizer: { useEma: true, world } })).rejects.toThrow(
      '`args.optimizer` is one rank of a world with useEma: a fit ends by writing the moving averages into the model',
    );
    await expect(fit({ optimizer: new RMSprop({ useEma: true, world }) })).rejects.toThrow(
      'one rank of a world with useEma',
    );
    await expect(fit({}, model, new Float32Array(7))).rejects.toThrow(
      "holds 7 values: not whole rows of the model's 5",
    );
    await expect(fit({}, compiled(classifier()), tf.zeros([19, 5]))).rejects.toThrow('x has 19 rows, y has 20');
    await expect(fit({ optimizer: undefined })).rejects.toThrow(
      "the model was compiled with SGD; a fit on the replicas trains with rmsprop-pool's RMSprop",
    );
    await expect(fit({}, classifier() as unknown as FitModel)).rejects.toThrow('the model is not compiled');
    const ownLoss = classifier();
    ownLoss.compile({ optimizer: 'sgd', loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.meanSquaredError(a, b) });
    await expect(fit({}, ownLoss as unknown as FitModel)).rejects.toThrow(
      'the model was compiled with a loss function, which cannot reach the replica threads',
    );
    expect(weightsOf(model).equals(before)).toBe(true);
    expect((model as unknown as { isTraining: boolean }).isTraining).toBe(false);
  });
});

describe('fitDatasetDataParallel', () => {
  /** A dataset as tf.data's is read: batches of { xs, ys } tensors, anew at each iterator(). */
  const dataset = (batchRows: number, count = 90) => ({
    iterator() {
      const data = rows(count);
      let from = 0;
      return Promise.resolve({
        next() {
          if (from >= count) return Promise.resolve({ value: undefined, done: true });
          const rowsOf = Math.min(batchRows, count - from);
          const value = { xs: tf.slice(data.x, [from, 0], [rowsOf, 5]), ys: tf.slice(data.y, [from, 0], [rowsOf, 3]) };
          from += rowsOf;
          return Promise.resolve({ value, done: false });
        },
      });
    },
  });

  it("model.fitDataset's logs: a dataset read on this thread, validated on a dataset", async () => {
    const optimizer = new RMSprop({ learningRate: 0.01, workers: 0 });
    open.push(optimizer);
    const theirs = compiled(classifier(), tfjsOptimizer(optimizer));
    const args = { epochs: 2, verbose: 0 as const, validationData: dataset(25, 50) };
    const expected = await theirs.fitDataset(dataset(16) as never, args as never);
    const ours = await fitDatasetDataParallel(compiled(classifier()), dataset(16), {
      ...args,
      optimizer: { learningRate: 0.01 },
      backend: 'cpu',
      replicas: 2,
      microBatches: 2,
    });
    expectClose(ours.history, expected.history as never);
  });

  it('batchesPerEpoch reads on across epochs; a dataset that runs out stops training with a warning', async () => {
    const warnings: string[] = [];
    const warn = (w: Error) => warnings.push(w.message);
    process.on('warning', warn);
    try {
      const history = await fitDatasetDataParallel(compiled(classifier()), dataset(30), {
        epochs: 5,
        batchesPerEpoch: 2,
        verbose: 0,
        optimizer: {},
        backend: 'cpu',
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(history.epoch).toEqual([0, 1]); // 3 batches: the second epoch ran out after one
      expect(warnings.join()).toContain("the dataset ran out after 1 batches of an epoch's batchesPerEpoch (2)");
    } finally {
      process.off('warning', warn);
    }
    await expect(fitDatasetDataParallel(compiled(classifier()), dataset(30), { verbose: 0 } as never)).rejects.toThrow(
      '`args.epochs` must be a positive integer (tfjs requires it)',
    );
  });
});

/**
 * The models `npm run bench -- --train` trains whole (model-bench.ts): the small CNN of earlier
 * rounds, the mnist job's CNN on real digits, and tfjs-examples' models at the sizes users train:
 * the mnist-node CNN (with its two Dropout layers), the sentiment CNN, the jena-weather GRU and the
 * lstm-text-generation LSTM, on seeded random batches of their real shapes.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadDigits } from '../src/cli/mnist-job.js';
import * as mnistModel from '../src/cli/mnist-model.js';
import { uniform } from '../src/cli/random.js';
import type { Batch } from '../src/index.js';
import type { TfjsLoss } from '../src/tfjs.js';
import * as benchModel from './cnn-model.js';
import * as gruModel from '../examples/models/jena-gru.js';
import * as mnistNodeModel from '../examples/models/mnist-node-cnn.js';
import * as sentimentModel from '../examples/models/sentiment-cnn.js';
import * as lstmModel from '../examples/models/text-lstm.js';
import type { TorchTimes } from './torch.js';

/** A model to measure: its factory module and model, its rows, its losses, its batches. */
export interface ModelSetup {
  /** Its key in SETUPS (a worker thread builds it again from that). */
  readonly name: SetupName;
  /** The report's heading. */
  readonly title: string;
  readonly factory: URL;
  readonly createModel: () => LayersModel;
  /** One row's input shape. */
  readonly inputShape: readonly number[];
  /** Targets per row. */
  readonly classes: number;
  /** The loss as trainOnBatch is compiled with it, and as the replicas take it. */
  readonly compileLoss: string | ((y: TF.Tensor, p: TF.Tensor) => TF.Tensor);
  readonly replicaLoss: TfjsLoss;
  /** The batches: the first for trainOnBatch, all of them in turn for the replicas. */
  readonly batches: readonly Batch[];
  /** The same model's step in bench/torch-yardstick.py, where it has one. */
  readonly torch: keyof TorchTimes | null;
  /** Random layers (Dropout): the bench also hashes the bytes after the same steps on 1, 2 and 4 replicas. */
  readonly random: boolean;
}

/** Five seeded batches of `rows`: inputs and targets drawn by `fill` from one generator each. */
function randomBatches(
  rows: number,
  inputs: number,
  classes: number,
  fill: (random: () => number, input: Float32Array, target: Float32Array) => void,
): Batch[] {
  return [11, 20, 21, 22, 23].map((seed) => {
    const random = uniform(seed);
    const batch = { inputs: new Float32Array(rows * inputs), targets: new Float32Array(rows * classes), rows };
    for (let r = 0; r < rows; r++) {
      fill(
        random,
        batch.inputs.subarray(r * inputs, (r + 1) * inputs),
        batch.targets.subarray(r * classes, (r + 1) * classes),
      );
    }
    return batch;
  });
}

const uniformInputs = (random: () => number, input: Float32Array) => input.forEach((_, i) => (input[i] = random()));
const oneHot = (random: () => number, target: Float32Array) => (target[Math.floor(random() * target.length)] = 1);
const factory = (path: string) => new URL(path, import.meta.url);

/** The small CNN (Conv2D 8 3x3, MaxPool 2, Dense 10 logits) on random 28x28 images, batch 64, under softmaxCrossEntropy. */
function smallCnn(tf: typeof TF): ModelSetup {
  const pixels = benchModel.IMAGE[0] * benchModel.IMAGE[1] * benchModel.IMAGE[2];
  return {
    name: 'smallCnn',
    title: 'A small CNN: Conv2D 8 filters 3x3 (relu), MaxPool 2x2, Dense 10 on 28x28x1 images, batch 64',
    factory: factory('./cnn-model.js'),
    createModel: benchModel.createModel,
    inputShape: [pixels],
    classes: benchModel.CLASSES,
    compileLoss: (y, p) => tf.losses.softmaxCrossEntropy(y, p),
    replicaLoss: 'softmaxCrossEntropy',
    batches: randomBatches(64, pixels, benchModel.CLASSES, (random, input, target) => {
      oneHot(random, target);
      uniformInputs(random, input);
    }),
    torch: 'cnnMs',
    random: false,
  };
}

/** The mnist job's CNN on the package's digits, batch 128 (the job's), under categoricalCrossentropy. */
async function mnistJobCnn(): Promise<ModelSetup> {
  const { train } = await loadDigits(1, 10_000);
  const rows = 128;
  const pixels = mnistModel.SIDE * mnistModel.SIDE;
  const batchAt = (b: number): Batch => {
    const targets = new Float32Array(rows * mnistModel.CLASSES);
    for (let r = 0; r < rows; r++) targets[r * mnistModel.CLASSES + train.labels[b * rows + r]!] = 1;
    return { inputs: train.pixels.slice(b * rows * pixels, (b + 1) * rows * pixels), targets, rows };
  };
  return {
    name: 'mnistJobCnn',
    title:
      "The mnist job's CNN on real digits (`rmsprop-pool train --job mnist`): Conv2D 8 3x3, MaxPool, Conv2D 16 3x3, MaxPool, Dense 10 softmax, batch 128",
    factory: factory('../src/cli/mnist-model.js'),
    createModel: () => mnistModel.createModel(1),
    inputShape: [mnistModel.SIDE, mnistModel.SIDE, 1],
    classes: mnistModel.CLASSES,
    compileLoss: 'categoricalCrossentropy',
    replicaLoss: 'categoricalCrossentropy',
    batches: [0, 1, 2, 3, 4].map(batchAt),
    torch: null,
    random: false,
  };
}

/** tfjs-examples' mnist-node CNN, Dropout on, batch 64 of random 28x28x1 images. */
function mnistNodeCnn(): ModelSetup {
  const [h, w, c] = mnistNodeModel.IMAGE;
  return {
    name: 'mnistNodeCnn',
    title:
      "tfjs-examples' mnist-node CNN: Conv2D 32, 32, MaxPool, Conv2D 64, 64, MaxPool (3x3, relu), Dropout 0.25, Dense 512, Dropout 0.5, Dense 10 softmax; batch 64",
    factory: factory('../examples/models/mnist-node-cnn.js'),
    createModel: mnistNodeModel.createModel,
    inputShape: [h, w, c],
    classes: mnistNodeModel.CLASSES,
    compileLoss: 'categoricalCrossentropy',
    replicaLoss: 'categoricalCrossentropy',
    batches: randomBatches(64, h * w * c, mnistNodeModel.CLASSES, (random, input, target) => {
      oneHot(random, target);
      uniformInputs(random, input);
    }),
    torch: 'mnistNodeMs',
    random: true,
  };
}

/** tfjs-examples' sentiment CNN, Dropout on, batch 64 of random 100-word reviews with random labels. */
function sentimentCnn(): ModelSetup {
  return {
    name: 'sentimentCnn',
    title:
      "tfjs-examples' sentiment CNN: Embedding 10,000 x 128 of 100 words, Dropout 0.5, Conv1D 250 x 5 (relu), global max-pool, Dense 250, Dense 1 sigmoid; batch 64",
    factory: factory('../examples/models/sentiment-cnn.js'),
    createModel: sentimentModel.createModel,
    inputShape: [sentimentModel.WORDS],
    classes: 1,
    compileLoss: 'binaryCrossentropy',
    replicaLoss: 'binaryCrossentropy',
    batches: randomBatches(64, sentimentModel.WORDS, 1, (random, input, target) => {
      target[0] = random() < 0.5 ? 0 : 1;
      input.forEach((_, i) => (input[i] = Math.floor(random() * sentimentModel.VOCABULARY)));
    }),
    torch: 'sentimentMs',
    random: true,
  };
}

/** tfjs-examples' jena-weather GRU, batch 128 of random sequences and targets. */
function jenaGru(): ModelSetup {
  return {
    name: 'jenaGru',
    title: `tfjs-examples' jena-weather GRU: 32 units over ${gruModel.STEPS} steps of ${gruModel.FEATURES} features, Dense 1, mean absolute error; batch 128`,
    factory: factory('../examples/models/jena-gru.js'),
    createModel: gruModel.createModel,
    inputShape: [gruModel.STEPS, gruModel.FEATURES],
    classes: 1,
    compileLoss: 'meanAbsoluteError',
    replicaLoss: 'meanAbsoluteError',
    batches: randomBatches(128, gruModel.STEPS * gruModel.FEATURES, 1, (random, input, target) => {
      target[0] = random();
      uniformInputs(random, input);
    }),
    torch: 'gruMs',
    random: false,
  };
}

/** tfjs-examples' lstm-text-generation LSTM, batch 128 of random one-hot characters. */
function textLstm(): ModelSetup {
  const [steps, characters] = [lstmModel.SAMPLE, lstmModel.CHARACTERS];
  return {
    name: 'textLstm',
    title: `tfjs-examples' lstm-text-generation LSTM: 128 units over ${steps} one-hot characters of ${characters}, Dense ${characters} softmax; batch 128`,
    factory: factory('../examples/models/text-lstm.js'),
    createModel: lstmModel.createModel,
    inputShape: [steps, characters],
    classes: characters,
    compileLoss: 'categoricalCrossentropy',
    replicaLoss: 'categoricalCrossentropy',
    batches: randomBatches(128, steps * characters, characters, (random, input, target) => {
      oneHot(random, target);
      for (let t = 0; t < steps; t++) oneHot(random, input.subarray(t * characters, (t + 1) * characters));
    }),
    torch: 'lstmMs',
    random: false,
  };
}

/** Every model the bench trains, in the report's order. */
export const SETUPS = {
  smallCnn,
  mnistJobCnn,
  mnistNodeCnn,
  sentimentCnn,
  jenaGru,
  textLstm,
} satisfies Record<string, (tf: typeof TF) => ModelSetup | Promise<ModelSetup>>;

export type SetupName = keyof typeof SETUPS;

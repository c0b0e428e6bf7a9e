/**
 * tfjs-examples' sentiment CNN (sentiment/train.js, model type 'cnn') as a `tfjsReplica` factory:
 * word ids of 100-word reviews into an Embedding of 10,000 x 128, Dropout 0.5, Conv1D of 250
 * filters of width 5, global max-pool, Dense 250, Dense 1 sigmoid, under binary cross-entropy.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export const WORDS = 100;
export const VOCABULARY = 10_000;

export function createModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.embedding({ inputDim: VOCABULARY, outputDim: 128, inputLength: WORDS }));
  model.add(tfl.layers.dropout({ rate: 0.5 }));
  model.add(tfl.layers.conv1d({ filters: 250, kernelSize: 5, strides: 1, padding: 'valid', activation: 'relu' }));
  model.add(tfl.layers.globalMaxPool1d({}));
  model.add(tfl.layers.dense({ units: 250, activation: 'relu' }));
  model.add(tfl.layers.dense({ units: 1, activation: 'sigmoid' }));
  model.compile({ optimizer: 'rmsprop', loss: 'binaryCrossentropy' });
  return model;
}

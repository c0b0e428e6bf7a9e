/**
 * tfjs-examples' lstm-text-generation model (lstm-text-generation/model.js) as a `tfjsReplica`
 * factory: 40 characters, one-hot over 70, into an LSTM of 128 units, then Dense 70 softmax,
 * under categorical cross-entropy. Its recurrent kernel starts orthogonal, tfjs-layers' default.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export const SAMPLE = 40;
export const CHARACTERS = 70;

export function createModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.lstm({ units: 128, inputShape: [SAMPLE, CHARACTERS] }));
  model.add(tfl.layers.dense({ units: CHARACTERS, activation: 'softmax' }));
  model.compile({ optimizer: 'rmsprop', loss: 'categoricalCrossentropy' });
  return model;
}

/**
 * A recurrent factory for the tfjs replica's tests, as tfjs-examples writes them (default
 * initializers, so the orthogonal recurrent one): an LSTM returning its sequence into a GRU, then
 * Dense, over 6 steps of 3 features, with recurrent dropout.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export function createModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.lstm({ units: 5, inputShape: [6, 3], returnSequences: true, recurrentDropout: 0.2 }));
  model.add(tfl.layers.gru({ units: 4, dropout: 0.2 }));
  model.add(tfl.layers.dense({ units: 2 }));
  return model;
}

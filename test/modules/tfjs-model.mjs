/** A tfjs-layers model factory for the tfjs replica's tests: 6 inputs, a hidden layer of 8, 3 outputs. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export function createModel() {
  tf.util.assert(true, () => ''); // tfjs-core and -layers share this thread's engine
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [6], units: 8, activation: 'tanh' }));
  model.add(tfl.layers.dense({ units: 3 }));
  return model;
}

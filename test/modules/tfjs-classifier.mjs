/**
 * A softmax classifier factory for the tfjs replica's tests: 6 inputs, a hidden layer of 8 with
 * an L2 regularizer (trainOnBatch adds its loss), 3 classes. `compiled` compiles it with
 * categoricalCrossentropy, as a tfjs user's model comes; `loss` is a loss of the user's own.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export function classifier() {
  const model = tfl.sequential();
  model.add(
    tfl.layers.dense({
      inputShape: [6],
      units: 8,
      activation: 'tanh',
      kernelRegularizer: tfl.regularizers.l2({ l2: 0.01 }),
    }),
  );
  model.add(tfl.layers.dense({ units: 3, activation: 'softmax' }));
  return model;
}

export function createModel() {
  return classifier();
}

/**
 * A squared error of the user's, per example.
 * @param {tf.Tensor} yTrue
 * @param {tf.Tensor} yPred
 */
export function squaredError(yTrue, yPred) {
  return tf.sum(tf.square(tf.sub(yTrue, yPred)), -1);
}

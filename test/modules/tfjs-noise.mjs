/**
 * A factory with every random layer tfjs-layers has besides Dropout: SpatialDropout1D,
 * GaussianNoise, GaussianDropout and AlphaDropout, over 6 steps of 4 features, then Dense.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export function createModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.spatialDropout1d({ rate: 0.3, inputShape: [6, 4] }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.gaussianNoise({ stddev: 0.5 }));
  model.add(tfl.layers.dense({ units: 8, activation: 'selu' }));
  model.add(tfl.layers.gaussianDropout({ rate: 0.3 }));
  model.add(tfl.layers.alphaDropout({ rate: 0.2 }));
  model.add(tfl.layers.dense({ units: 2 }));
  return model;
}

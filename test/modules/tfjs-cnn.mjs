/** A small CNN factory for the tfjs replica's tests: 64 inputs seen as an 8x8 image, Conv2D, DepthwiseConv2D, MaxPool, Dense. */
import * as tfl from '@tensorflow/tfjs-layers';

export function createModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.reshape({ inputShape: [64], targetShape: [8, 8, 1] }));
  model.add(tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 3 }));
  return model;
}

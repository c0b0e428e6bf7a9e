/**
 * tfjs-examples' mnist-node CNN as a `tfjsReplica` factory: four 3x3 convolutions of 32, 32, 64
 * and 64 filters on 28x28x1 with two max-pools, Dropout 0.25, Dense 512, Dropout 0.5, Dense 10
 * softmax. The model tfjs users train in Node (mnist-node/model.js).
 */
import * as tfl from '@tensorflow/tfjs-layers';

export const IMAGE = [28, 28, 1] as const;
export const CLASSES = 10;

export function createModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [...IMAGE], filters: 32, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: [2, 2] }));
  model.add(tfl.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: [2, 2] }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dropout({ rate: 0.25 }));
  model.add(tfl.layers.dense({ units: 512, activation: 'relu' }));
  model.add(tfl.layers.dropout({ rate: 0.5 }));
  model.add(tfl.layers.dense({ units: CLASSES, activation: 'softmax' }));
  return model;
}

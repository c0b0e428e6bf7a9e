/**
 * The benchmark's CNN as a `tfjsReplica` factory: 784 inputs seen as a 28x28x1 image, Conv2D
 * (8 filters 3x3, relu), MaxPool 2x2, Dense 10 (logits). The same architecture every call.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export const IMAGE = [28, 28, 1] as const;
export const CLASSES = 10;

export function createModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.reshape({ inputShape: [IMAGE[0] * IMAGE[1] * IMAGE[2]], targetShape: [...IMAGE] }));
  model.add(tfl.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: CLASSES }));
  return model;
}

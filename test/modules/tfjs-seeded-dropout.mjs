/** A factory whose Dropout has a seed of its own (so the same mask every call): the replica warns, naming it. */
import * as tfl from '@tensorflow/tfjs-layers';

export function createModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ units: 4, inputShape: [3] }));
  model.add(tfl.layers.dropout({ rate: 0.5, seed: 3, name: 'fixed_mask' }));
  model.add(tfl.layers.dense({ units: 1 }));
  return model;
}

/**
 * tfjs-examples' jena-weather GRU (jena-weather/models.js, 'gru') as a `tfjsReplica` factory:
 * 240 time steps of 14 weather features into a GRU of 32 units, then Dense 1, under mean absolute
 * error. Its recurrent kernel starts orthogonal, tfjs-layers' default.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export const STEPS = 240;
export const FEATURES = 14;

export function createModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.gru({ units: 32, inputShape: [STEPS, FEATURES] }));
  model.add(tfl.layers.dense({ units: 1 }));
  model.compile({ optimizer: 'rmsprop', loss: 'meanAbsoluteError' });
  return model;
}

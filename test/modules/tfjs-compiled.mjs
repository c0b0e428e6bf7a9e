/** The classifier, compiled with categoricalCrossentropy: a replica takes the model's own loss. */
import { classifier } from './tfjs-classifier.mjs';

export function createModel() {
  const model = classifier();
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  return model;
}

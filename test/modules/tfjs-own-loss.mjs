/** The classifier, and a loss function of the user's exported beside it: a replica takes it. */
export { createModel, squaredError as loss } from './tfjs-classifier.mjs';

/**
 * Data-parallel training of a tfjs-layers model: the replica module to give
 * `DataParallelTrainer`, and the copies of the model's weights it trains.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Variable } from '../optimizer/variable.js';
import { registerReplicaOptionsCheck } from '../training/replica-options.js';
import { useChainedOps } from './chained-ops.js';
import { checkTfjsReplicaOptions } from './replica-options.js';
import { checkSameWeights, modelRow, rowShapeOf, type ModelRow, type TrainableModel } from './replica.js';

/**
 * The replica module for `DataParallelTrainer` that trains a tfjs-layers model: pass it
 * as `replica`, with {@link TfjsReplicaOptions} as `replicaOptions`.
 *
 * @example
 * ```ts
 * // model.js exports createModel(): the same architecture on every thread
 * const model = await createModel();
 * const variables = modelVariables(model);
 * const optimizer = new RMSprop({ microBatches: 4 });
 * const trainer = new DataParallelTrainer({
 *   optimizer, variables, replica: tfjsReplica,
 *   replicaOptions: { factory: new URL('./model.js', import.meta.url), loss: 'categoricalCrossentropy' },
 * });
 * const loss = await trainer.step({ inputs, targets, rows: 128 });
 * assignToModel(model, variables); // the trained weights, back in the model
 * ```
 */
export const tfjsReplica: URL = new URL('./replica.js', import.meta.url);
/** The input and output of the model each list of `modelVariables` came from, by its first variable. */
const modelRows = new WeakMap<Variable, ModelRow>();

// an LSTM or GRU (tfjs-layers' orthogonal initializer) builds with tfjs-core's Node bundle, which lacks tensor methods
useChainedOps(tf);

registerReplicaOptionsCheck(tfjsReplica, (options, variables) => {
  const checked = checkTfjsReplicaOptions(options);
  const row = variables[0] && modelRows.get(variables[0]);
  // the row's shape is known before any thread starts when the variables are a model's (modelVariables)
  return { options: checked, rowShape: row ? rowShapeOf(row, checked.loss) : null };
});

/** Variables holding a copy of the model's trainable weights, in its order, named as tfjs names them. */
export function modelVariables(model: TrainableModel): Variable[] {
  const variables = model.trainableWeights.map((w) => {
    const tensor = w.read() as tf.Variable;
    return new Variable(tensor.dataSync(), { name: w.name, shape: tensor.shape });
  });
  try {
    if (variables[0]) modelRows.set(variables[0], modelRow(model));
  } catch {
    // several inputs or an unknown size: the replica threads refuse the model, saying why
  }
  return variables;
}

/** Writes the variables' values into the model's trainable weights (in order; the shapes must agree). */
export function assignToModel(model: TrainableModel, variables: readonly Variable[]): void {
  checkSameWeights(model, variables);
  model.trainableWeights.forEach((w, k) => {
    const v = variables[k]!;
    tf.tidy(() => void w.write(tf.tensor(v.value, [...v.shape], 'float32') as never));
  });
}

/**
 * The ready replica for a TensorFlow.js layers model (`tfjsReplica` in `rmsprop-pool/tfjs`):
 * each replica thread builds the model from the user's factory module, and per micro-batch
 * computes the gradients of the loss with respect to its trainable weights with tfjs's autodiff,
 * writing them into the shard views. The model's weights are set from the optimizer's shared
 * values once per step (tfjs owns its tensors' memory, so that is one copy per step).
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { CreateReplica, ReplicaVariable } from '../training/replica.js';
import { readInto } from './wasm/backend.js';
import { chooseKernels, type TfjsKernels } from './wasm/index.js';

type Tf = typeof TF;

/** The losses a tfjs replica takes by name: tfjs-core's `tf.losses`, each reduced to the mean. */
export type TfjsLoss =
  'meanSquaredError' | 'absoluteDifference' | 'huberLoss' | 'logLoss' | 'sigmoidCrossEntropy' | 'softmaxCrossEntropy';

/** `replicaOptions` of a trainer running `tfjsReplica`. */
export interface TfjsReplicaOptions {
  /**
   * A module (file URL or absolute path) exporting `createModel()`: returns (or resolves to) the
   * tfjs-layers model, the same architecture as the one whose weights the trainer's variables
   * hold (see `modelVariables`). Called once per replica thread.
   */
  readonly factory: string;
  /** The loss of a micro-batch, as tfjs-core's `tf.losses` computes it (mean over its rows). */
  readonly loss: TfjsLoss;
  /** tfjs backend on the replica threads (its package must be installed). Default 'cpu'. */
  readonly backend?: 'cpu' | 'wasm';
  /**
   * On wasm, which kernels compute the gradients: 'fast' (the default) registers
   * `useWasmTrainingKernels` on the replica threads (every product on XNNPACK, and the kernels a
   * CNN or an Embedding needs); 'tfjs' leaves tfjs-wasm's own.
   */
  readonly kernels?: TfjsKernels;
}

/**
 * What the replica needs of a tfjs-layers model (a `LayersModel`): its trainable weights and a
 * forward pass. Stated structurally (tensors as `object`), so a model typed against another copy
 * of tfjs's declarations fits.
 */
export interface TrainableModel {
  readonly trainableWeights: ReadonlyArray<{
    readonly name: string;
    readonly shape: ReadonlyArray<number | null>;
    read(): object;
    write(value: never): unknown;
  }>;
  apply(inputs: never, kwargs?: { training?: boolean }): unknown;
  readonly inputs: ReadonlyArray<{ readonly shape: ReadonlyArray<number | null> }>;
}

/** Throws unless the model's trainable weights are the variables, in order and shape. */
export function checkSameWeights(model: TrainableModel, variables: readonly ReplicaVariable[]): void {
  const shapes = model.trainableWeights.map((w) => JSON.stringify(w.shape));
  const expected = variables.map((v) => JSON.stringify(v.shape));
  if (shapes.join() !== expected.join()) {
    throw new Error(
      `the factory's model has trainable weights of shapes ${shapes.join(', ')}; ` +
        `the trainer's variables have ${expected.join(', ')}: make both from the same architecture`,
    );
  }
}

export const createReplica: CreateReplica = async ({ variables, options }) => {
  const { factory, loss, backend = 'cpu', kernels = 'fast' } = options as TfjsReplicaOptions;
  const tf: Tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-layers'); // registers the gradients
  await import(`@tensorflow/tfjs-backend-${backend}`);
  chooseKernels(tf, backend, kernels);
  if (!(await tf.setBackend(backend))) throw new Error(`the tfjs ${backend} backend did not start`);
  const made = (await import(factory)) as { createModel?: () => TrainableModel | Promise<TrainableModel> };
  if (typeof made.createModel !== 'function') {
    throw new TypeError(`tfjs replica: the factory module ${factory} does not export createModel()`);
  }
  const model = await made.createModel();
  checkSameWeights(model, variables);
  const weights = model.trainableWeights.map((w) => w.read() as TF.Variable);
  const write = (k: number, value: TF.Tensor) => model.trainableWeights[k]!.write(value as never);
  const forward = (x: TF.Tensor) => model.apply(x as never, { training: true }) as TF.Tensor;
  const inputWidth = model.inputs[0]!.shape[1] ?? 1;
  let weightsStep = -1;
  return {
    gradients(batch, grads) {
      if (weightsStep !== batch.step) {
        variables.forEach((v, k) => tf.tidy(() => void write(k, tf.tensor(v.value, [...v.shape], 'float32'))));
        weightsStep = batch.step;
      }
      return tf.tidy(() => {
        const x = tf.tensor2d(batch.inputs, [batch.rows, inputWidth]);
        const y = tf.tensor2d(batch.targets, [batch.rows, batch.targets.length / batch.rows]);
        const { value, grads: byName } = tf.variableGrads(
          () => tf.losses[loss]<TF.Tensor, TF.Scalar>(y, forward(x)),
          weights,
        );
        weights.forEach((w, k) => readInto(tf, byName[w.name]!, grads[k]!));
        return value.dataSync()[0]!;
      });
    },
  };
};

/**
 * The replica module of `rmsprop-pool train`'s data-parallel jobs: a dense MLP (the jobs'
 * [kernel, bias] pairs) whose micro-batch gradients TensorFlow.js computes on this thread's own
 * backend, written into the shard views. The weights are copied into tensors once per step.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { readInto } from '../tfjs/wasm/backend.js';
import { chooseKernels, type TfjsKernels } from '../tfjs/wasm/index.js';
import type { CreateReplica, ReplicaVariable } from '../training/replica.js';
import { optional } from './optional.js';

type Tf = typeof TF;

export interface MlpReplicaOptions {
  readonly backend: 'cpu' | 'wasm';
  readonly activation: 'relu' | 'tanh';
  readonly loss: 'meanSquaredError' | 'softmaxCrossEntropy';
  /** On wasm: this library's training kernels ('fast', the default) or tfjs's own. */
  readonly kernels?: TfjsKernels;
}

/** The MLP's output: dense layers as [kernel, bias] pairs, `activation` between them. */
export function mlpForward(
  tf: Tf,
  weights: readonly TF.Tensor[],
  x: TF.Tensor,
  activation: 'relu' | 'tanh',
): TF.Tensor {
  let h = x;
  for (let i = 0; i < weights.length; i += 2) {
    h = tf.add(tf.matMul(h as TF.Tensor2D, weights[i] as TF.Tensor2D), weights[i + 1]!);
    if (i + 2 < weights.length) h = activation === 'relu' ? tf.relu(h) : tf.tanh(h);
  }
  return h;
}

/** tfjs on this thread, with gradients, the backend started, and (on wasm) the training kernels chosen. */
export async function startTfjs(backend: 'cpu' | 'wasm', purpose: string, kernels: TfjsKernels = 'fast'): Promise<Tf> {
  const tf = await optional<Tf>('@tensorflow/tfjs-core', purpose);
  // tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers all of them
  await optional('@tensorflow/tfjs-layers', "tfjs's gradients");
  await optional(`@tensorflow/tfjs-backend-${backend}`, `the ${backend} backend`);
  tf.enableProdMode();
  chooseKernels(tf, backend, kernels);
  if (!(await tf.setBackend(backend))) throw new Error(`the tfjs ${backend} backend did not start`);
  await tf.ready();
  return tf;
}

export const createReplica: CreateReplica = async ({ variables, options }) => {
  const { backend, activation, loss, kernels } = options as MlpReplicaOptions;
  const tf = await startTfjs(backend, 'the MLP replica', kernels);
  let weights: TF.Tensor[] = [];
  let weightsStep = -1;
  const inputWidth = variables[0]!.shape[0]!;
  const outputWidth = variables[variables.length - 1]!.shape[0]!;
  const tensorOf = (v: ReplicaVariable) => tf.tensor(v.value, [...v.shape], 'float32');
  return {
    gradients(batch, grads) {
      if (weightsStep !== batch.step) {
        tf.dispose(weights);
        weights = variables.map(tensorOf);
        weightsStep = batch.step;
      }
      return tf.tidy(() => {
        const x = tf.tensor2d(batch.inputs, [batch.rows, inputWidth]);
        const y = tf.tensor2d(batch.targets, [batch.rows, outputWidth]);
        const lossOf = (...w: TF.Tensor[]) =>
          tf.losses[loss]<TF.Tensor, TF.Scalar>(y, mlpForward(tf, w, x, activation));
        const { value, grads: g } = tf.valueAndGrads(lossOf)(weights);
        g.forEach((gradient, k) => readInto(tf, gradient, grads[k] as Float32Array)); // float32 variables
        return value.dataSync()[0]!;
      });
    },
    close() {
      tf.dispose(weights);
    },
  };
};

/**
 * The synthetic job of `rmsprop-pool train`: a student MLP of millions of parameters trained
 * data-parallel, replicas on worker threads (`mlp-replica.ts`) computing its micro-batches'
 * gradients into the arena's shards, the pool applying their mean.
 */
import type { Batch } from '../training/trainer.js';
import type { JobResult } from './figures.js';
import { mlpForward as forward, type MlpReplicaOptions } from './mlp-replica.js';
import { uniform } from './random.js';
import {
  batchSizeOf,
  mlpVariables,
  oneReplicaStep,
  Run,
  type JobSettings,
  type MakeOptimizer,
  type Tf,
} from './run.js';

/** The CLI's MLP replica module. */
const MLP_REPLICA = new URL('./mlp-replica.js', import.meta.url);

/**
 * A student MLP with millions of parameters fitting a fixed random teacher on fresh random
 * inputs, trained data-parallel on the replicas; with more than one replica, a few more steps
 * on one replica (from where training ended) say how much faster the replicas made a step.
 */
export async function syntheticJob(tf: Tf, makeOptimizer: MakeOptimizer, s: JobSettings): Promise<JobResult> {
  const random = uniform(s.seed + 1);
  const [inputs, outputs] = [256, 16];
  const teacher = mlpVariables('teacher', [inputs, 64, outputs], random).map((v) => tf.tensor(v.value, [...v.shape]));
  const student = mlpVariables('student', [inputs, ...s.hidden, outputs], random);
  const batch = (): Batch => {
    const rows = batchSizeOf(s, 'synthetic');
    const x = Float32Array.from({ length: rows * inputs }, () => 2 * random() - 1);
    const y = tf.tidy(() => forward(tf, teacher, tf.tensor2d(x, [rows, inputs]), 'tanh').dataSync());
    return { inputs: x, targets: y as Float32Array, rows };
  };
  const options: MlpReplicaOptions = {
    backend: s.backend,
    activation: 'relu',
    loss: 'meanSquaredError',
    kernels: s.kernels,
  };
  const optimizer = makeOptimizer({ microBatches: s.microBatches });
  const replicas = { count: s.replicas, module: MLP_REPLICA, options };
  const run = new Run(tf, 'synthetic', student, optimizer, s.steps, replicas);
  for (let step = 0; step < s.steps; step++) await run.stepOnReplicas(batch());
  const oneReplicaStepMs = await oneReplicaStep(run, makeOptimizer, replicas, batch());
  tf.dispose(teacher);
  return run.finish(null, s.save('synthetic'), oneReplicaStepMs);
}

/**
 * One rank's `fitDataParallel` over a world (or one process's, `world` null): a seeded classifier
 * with Dropout, shuffled batches, a validation split and an uneven last batch, 4 micro-batches;
 * returns the SHA-256 of the model's weights after fitting, and the History's logs. Run under
 * `mpirun` by mpi-world-run.mjs (`fit`) and alone by the test. Plain JavaScript.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { fitDataParallel } from '../../dist/src/tfjs.js';

/**
 * @param {import('../../dist/src/index.js').World | null} world
 * @param {{ replicas: number }} settings
 */
export async function fitRank(world, { replicas }) {
  await tf.setBackend('cpu');
  const init = (/** @type {number} */ seed) => tfl.initializers.glorotUniform({ seed });
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [5], units: 12, activation: 'relu', kernelInitializer: init(1) }));
  model.add(tfl.layers.dropout({ rate: 0.3 }));
  model.add(tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(2) }));
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const rows = 90;
  const x = Float32Array.from({ length: rows * 5 }, random);
  const y = Float32Array.from({ length: rows * 3 }, (_, i) => {
    const r = Math.floor(i / 3);
    const [a = 0, b = 0, c = 0] = x.subarray(r * 5, r * 5 + 3);
    const label = (a + b > 1 ? 1 : 0) + (c > 0.6 ? 1 : 0);
    return label === i % 3 ? 1 : 0;
  });
  const history = await fitDataParallel(
    /** @type {never} */ (model),
    tf.tensor2d(x, [rows, 5]),
    tf.tensor2d(y, [rows, 3]),
    {
      epochs: 3,
      batchSize: 28, // 72 training rows: batches of 28, 28 and 16
      shuffle: true,
      validationSplit: 0.2,
      verbose: 0,
      backend: 'cpu',
      replicas,
      microBatches: 4,
      seed: 11,
      optimizer: { learningRate: 0.01, momentum: 0.5, world },
    },
  );
  const hash = createHash('sha256');
  for (const weight of model.getWeights()) {
    const data = await weight.data();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return { hash: hash.digest('hex'), history: history.history };
}

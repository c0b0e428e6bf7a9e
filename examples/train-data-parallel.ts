/**
 * `npm run example:data-parallel`: the spiral MLP of `npm run example`, trained data-parallel.
 * Replica threads (spiral-replica.ts) compute the gradients of the batch's micro-batches into
 * the optimizer's gradient shards, and each step applies their mean. Trains the same steps with
 * one replica and with one per core: the weights come out byte for byte the same, the step
 * faster.
 */
import { availableParallelism } from 'node:os';
import { DataParallelTrainer, RMSprop, Variable } from 'rmsprop-pool';
import { CLASSES, heNormal, seeded, spiral } from './mlp.js';

const SIZES = [2, 512, 512, CLASSES];
const BATCH = 256;
const MICRO_BATCHES = 4; // fixed: the bytes depend on it, not on the replicas
const STEPS = Number(process.argv[2] ?? 60); // steps per run (`node dist/examples/train-data-parallel.js 10`)

async function train(replicas: number): Promise<{ values: Buffer; msPerStep: number; loss: number }> {
  const variables = SIZES.slice(1).flatMap((outputs, i) => [
    new Variable(heNormal(SIZES[i]!, outputs, i + 1), { shape: [SIZES[i]!, outputs], name: `dense_${i}/kernel` }),
    new Variable('zeros', { shape: [outputs], name: `dense_${i}/bias` }),
  ]);
  const optimizer = new RMSprop({ learningRate: 0.001, momentum: 0.5, microBatches: MICRO_BATCHES });
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: new URL('./spiral-replica.js', import.meta.url),
    replicas,
  });
  const data = spiral(400, 7);
  const random = seeded(11);
  const inputs = new Float32Array(BATCH * 2);
  const targets = new Float32Array(BATCH);
  let loss = NaN;
  const times: number[] = [];
  try {
    for (let step = 0; step < STEPS; step++) {
      for (let n = 0; n < BATCH; n++) {
        const k = Math.floor(random() * data.y.length);
        inputs.set(data.x.subarray(2 * k, 2 * k + 2), 2 * n);
        targets[n] = data.y[k]!;
      }
      const started = performance.now();
      loss = await trainer.step({ inputs, targets, rows: BATCH });
      if (step > 0) times.push(performance.now() - started); // the first step starts the threads
    }
  } finally {
    await trainer.close();
    await optimizer.close();
  }
  times.sort((a, b) => a - b);
  const values = Buffer.concat(
    variables.map((v) => Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength)),
  );
  return { values, msPerStep: times[times.length >> 1]!, loss };
}

const cores = Math.min(availableParallelism(), MICRO_BATCHES);
const one = await train(1);
console.log(`1 replica: loss ${one.loss.toFixed(4)} after ${STEPS} steps, median ${one.msPerStep.toFixed(1)} ms/step`);
const all = await train(cores);
console.log(`${cores} replicas: loss ${all.loss.toFixed(4)}, median ${all.msPerStep.toFixed(1)} ms/step`);
console.log(
  `same weights byte for byte: ${one.values.equals(all.values)}; ` +
    `${(one.msPerStep / all.msPerStep).toFixed(2)}x as fast on ${cores} replicas (${MICRO_BATCHES} micro-batches of ${BATCH / MICRO_BATCHES} rows)`,
);

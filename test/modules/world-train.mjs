/**
 * One rank's part of data-parallel training over a world: a trainer over the linear replica
 * (linear-replica.mjs, with a metric), the same batches on every rank, an uneven last batch;
 * returns the SHA-256 of the values and every slot (gathered whole) and the losses and metrics
 * every step returned. Shared by the in-process world's tests and the MPI runs. Plain JavaScript.
 */
import { createHash } from 'node:crypto';
import { DataParallelTrainer, RMSprop, Variable } from '../../dist/src/index.js';

const REPLICA = new URL('./linear-replica.mjs', import.meta.url);
const [INPUTS, OUTPUTS] = [300, 40];

/**
 * A deterministic value in [-0.5, 0.5) for index i of stream `seed`.
 *
 * @type {(i: number, seed: number) => number}
 */
const valueOf = (i, seed) => (((i * 2654435761 + seed * 40503) % 2 ** 32) / 2 ** 31 - 1) * 0.5;
/** @type {(n: number, seed: number) => Float32Array} */
const values = (n, seed) => Float32Array.from({ length: n }, (_, i) => valueOf(i, seed));

/**
 * Step s's batch: 64 rows, the last step's 61 (micro-batches a row apart).
 *
 * @type {(s: number, last: boolean) => { inputs: Float32Array, targets: Float32Array, rows: number }}
 */
const batchOf = (s, last) => {
  const rows = last ? 61 : 64;
  return { inputs: values(rows * INPUTS, 100 + s), targets: values(rows * OUTPUTS, 200 + s), rows };
};

/**
 * @param {import('../../dist/src/distributed/world.js').World | null} world
 * `fail` makes micro-batch fail[0] - 1 throw; `otherBatch` gives that rank another batch at that
 * step; with `retry`, a failed step is taken again once the fault is cleared (with the step's own
 * batch), and each failure's message is kept. `stepTimeoutMs` bounds the optimizer's and the
 * trainer's waits; `slowMs` makes every micro-batch take at least that long.
 *
 * @param {{ microBatches: number, replicas: number, steps?: number, fail?: Int32Array, retry?: boolean,
 *   otherBatch?: { rank: number, step: number }, stepTimeoutMs?: number, slowMs?: number }} run
 */
export async function trainRank(
  world,
  { microBatches, replicas, steps = 3, fail, retry = false, otherBatch, stepTimeoutMs = 60_000, slowMs },
) {
  const variables = [
    new Variable(values(INPUTS * OUTPUTS, 1), { name: 'w', shape: [INPUTS, OUTPUTS] }),
    new Variable(values(OUTPUTS, 2), { name: 'b', shape: [OUTPUTS] }),
  ];
  const optimizer = new RMSprop({
    learningRate: 0.01,
    momentum: 0.9,
    globalClipnorm: 1,
    microBatches,
    world,
    workers: 1,
    stepTimeoutMs,
  });
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: REPLICA,
    replicas,
    replicaOptions: { metrics: true, fail, slowMs },
    stepTimeoutMs,
  });
  const losses = [];
  /** @type {string[]} */
  const failures = [];
  try {
    for (let s = 0; s < steps; s++) {
      const batch = batchOf(s, s === steps - 1);
      const given = otherBatch?.rank === world?.rank && otherBatch?.step === s ? batchOf(s + 10, false) : batch;
      const loss = await trainer.step(given).catch(async (/** @type {Error} */ error) => {
        if (!retry) throw error;
        failures.push(error.message);
        if (fail) fail[0] = 0;
        return await trainer.step(batch);
      });
      losses.push(loss, ...trainer.metrics);
    }
    const state = await optimizer.gatheredVariables();
    const hash = createHash('sha256');
    for (const { value } of variables) hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    for (const { name, value } of state) {
      hash.update(name);
      hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    }
    return { rank: world?.rank ?? 0, hash: hash.digest('hex'), losses, failures };
  } finally {
    await trainer.close();
    await optimizer.close();
  }
}

/**
 * One rank's `trainer.evaluate` of a 61-row batch in chunks of `chunkRows` (one micro-batch a
 * rank); with `failOn`, the chunk from row `failOn` (a chunk's first row) fails. The chunks'
 * values, or the error.
 *
 * @param {import('../../dist/src/distributed/world.js').World | null} world
 * @param {{ replicas: number, chunkRows: number, failOn?: number }} run
 */
export async function evaluateRank(world, { replicas, chunkRows, failOn }) {
  const microBatches = world?.size ?? 1;
  const variables = [
    new Variable(values(INPUTS * OUTPUTS, 1), { name: 'w', shape: [INPUTS, OUTPUTS] }),
    new Variable(values(OUTPUTS, 2), { name: 'b', shape: [OUTPUTS] }),
  ];
  const optimizer = new RMSprop({ learningRate: 0.01, microBatches, world, workers: 1 });
  const SENTINEL = 12345;
  const trainer = new DataParallelTrainer({
    optimizer,
    variables,
    replica: REPLICA,
    replicas,
    replicaOptions: { metrics: true, failEvaluateOn: SENTINEL },
  });
  try {
    const batch = batchOf(1, true);
    if (failOn !== undefined) batch.inputs[failOn * INPUTS] = SENTINEL;
    return await trainer.evaluate(batch, chunkRows);
  } finally {
    await trainer.close();
    await optimizer.close();
  }
}

/**
 * One rank's part of a sharded training run, returning the SHA-256 of every value and every slot
 * (gathered whole) after it: shared by the in-process world's tests and the MPI runs, so both
 * are held to one process's bytes. Plain JavaScript: mpirun starts it in plain Node.
 */
import { createHash } from 'node:crypto';
import { LossScaleOptimizer, RMSprop, toHalfBits, Variable } from '../../dist/src/index.js';

/**
 * Settings that reach every exchange: norms per variable and global, loss scaling (a skipped step
 * whose one non-finite gradient lies in the last rank's slice), accumulation, EMA, half precision.
 */
/** @type {Record<'clipnorm' | 'global' | 'accumulate' | 'half', { dtype: import('../../dist/src/memory/dtype.js').DType, options: import('../../dist/src/index.js').RMSpropOptions, lossScale?: boolean }>} */
export const SETTINGS = {
  clipnorm: { dtype: 'float32', options: { learningRate: 0.01, momentum: 0.9, centered: true, clipnorm: 0.5 } },
  global: {
    dtype: 'float32',
    options: { globalClipnorm: 1, useEma: true, emaOverwriteFrequency: 2, weightDecay: 0.01 },
  },
  accumulate: { dtype: 'float64', options: { gradientAccumulationSteps: 2, lossScaleFactor: 128, clipvalue: 0.3 } },
  half: { dtype: 'float16', options: { learningRate: 0.01, momentum: 0.5 }, lossScale: true },
};

/** One element, a numpy buffer and one more, many buffers, a few: slices cut inside variables, and some ranks own none of some. */
export const SIZES = [1, 8193, 100_003, 300];

/**
 * Micro-batch k's gradient of element i of variable v at step s (a double, cast by the array).
 *
 * @type {(v: number, k: number, s: number, i: number) => number}
 */
const gradientOf = (v, k, s, i) => Math.sin(1 + v * 7.1 + k * 3.3 + s * 0.7 + i * 0.37) * (k + 1) * 2 ** (v - 2);

/** A run whose shards take a few milliseconds to write (7.5 MB a rank of 4): saved after steps 1 and 2 of 3. */
export const RESAVE = {
  setting: /** @type {const} */ ('global'),
  steps: 3,
  workers: 1,
  sizes: [1_500_000, 1_000_000],
  at: 1,
  saveAgainAt: 2,
};

/**
 * @param {import('../../dist/src/distributed/world.js').World | null} world
 * `saveTo`: a sharded checkpoint (with the values) written there after step `at`, and again after
 * step `saveAgainAt` when given; `loadFrom`: the run starts from one, at step `at` (the values and
 * the state from it).
 *
 * @param {{ setting: keyof typeof SETTINGS, microBatches: number, kernels?: string, workers?: number, steps?: number,
 *   sizes?: number[], saveTo?: string, loadFrom?: string, at?: number, saveAgainAt?: number,
 *   dieAt?: { rank: number, step: number } }} run
 */
export async function runRank(
  world,
  {
    setting,
    microBatches,
    kernels = 'wasm',
    workers = 0,
    steps = 4,
    sizes = SIZES,
    saveTo,
    loadFrom,
    at = 0,
    saveAgainAt,
    dieAt,
  },
) {
  const { dtype, options, lossScale } = SETTINGS[setting];
  const variables = sizes.map(
    (n, v) =>
      new Variable(
        Array.from({ length: n }, (_, i) => Math.cos(i * 0.01 + v)),
        { name: `v${v}`, dtype },
      ),
  );
  const runtime = { microBatches, world, kernels, workers };
  /** @type {LossScaleOptimizer | RMSprop} */
  let optimizer;
  if (loadFrom !== undefined)
    optimizer = await (lossScale ? LossScaleOptimizer : RMSprop).load(loadFrom, variables, runtime);
  else {
    const made = new RMSprop({ ...options, ...runtime });
    optimizer = lossScale ? new LossScaleOptimizer(made, { initialScale: 2 ** 10, dynamicGrowthSteps: 2 }) : made;
    optimizer.build(variables);
  }
  const inner = optimizer instanceof LossScaleOptimizer ? optimizer.innerOptimizer : optimizer;
  const ranks = world?.size ?? 1;
  const block = microBatches / ranks;
  const rank = world?.rank ?? 0;
  for (let s = loadFrom === undefined ? 0 : at; s < steps; s++) {
    variables.forEach((variable, v) =>
      variable.gradShards.forEach((shard, j) => {
        const k = rank * block + j;
        const values = shard instanceof Uint16Array ? new Float64Array(shard.length) : shard;
        for (let i = 0; i < values.length; i++) values[i] = gradientOf(v, k, s, i);
        // step 1's last micro-batch: one gradient not finite, at the end of the largest variable
        if (lossScale && s === 1 && k === microBatches - 1 && v === 2) values[values.length - 1] = Infinity;
        if (shard instanceof Uint16Array) toHalfBits(values, /** @type {'float16' | 'bfloat16'} */ (dtype), shard);
      }),
    );
    // a real fault: this process killed mid-step, its gradients written, the other ranks inside theirs
    if (dieAt?.rank === rank && dieAt.step === s) process.kill(process.pid, 'SIGKILL');
    await optimizer.step();
    if (saveTo !== undefined && (s + 1 === at || s + 1 === saveAgainAt))
      await optimizer.save(saveTo, { variables: true });
  }
  const state = await inner.gatheredVariables();
  const hash = createHash('sha256');
  for (const { value } of variables) hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  for (const { name, value } of state) {
    hash.update(name);
    hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  }
  await optimizer.close();
  return { rank, hash: hash.digest('hex'), iterations: inner.iterations };
}

/**
 * One rank of the `--world` bench's update (world.ts starts it under `mpirun`, or alone for one
 * process without MPI): the large-parameter batch update, plain RMSprop with a world, each rank
 * writing its own gradient (one micro-batch per rank, so `microBatches` is the world's size).
 * Prints one JSON line: the median step, the bytes and collectives per step, the slot memory and the SHA-256
 * of the values and every slot after the last step.
 *
 *   mpirun -np 4 node dist/bench/world-rank.js PARAMETERS STEPS [MICRO_BATCHES]
 */
import { createHash } from 'node:crypto';
import { launchedByMpirun } from '../src/cli/world-train.js';
import { median } from '../src/cli/figures.js';
import { mpiWorld, RMSprop, Variable, type World } from '../src/index.js';

const [parameters, steps, alone] = process.argv.slice(2).map(Number) as [number, number, number | undefined];
const world: World | null = launchedByMpirun() ? await mpiWorld() : null;
const ranks = world?.size ?? 1;
const rank = world?.rank ?? 0;
const microBatches = alone ?? ranks; // one process standing in for `alone` ranks holds their gradients as shards
const LAYER = 1_000_000;
const variables = Array.from(
  { length: Math.ceil(parameters / LAYER) },
  (_, i) =>
    new Variable(
      Float32Array.from({ length: Math.min(LAYER, parameters - i * LAYER) }, (_, k) => Math.sin(i + k)),
      {
        name: `layer${i}`,
      },
    ),
);
const optimizer = new RMSprop({ momentum: 0.9, globalClipnorm: 1, microBatches, world, workers: 'auto' });
optimizer.build(variables);
// micro-batch k's gradient: rank r holds micro-batches r·b ... (one each at one per rank)
const block = microBatches / ranks;
for (const v of variables)
  v.gradShards.forEach((shard, j) => {
    const k = rank * block + j;
    for (let i = 0; i < shard.length; i++) shard[i] = Math.cos(k * 7 + i) * 1e-3;
  });
const times: number[] = [];
await optimizer.step(); // commits the arena, agrees on the build
const sentBefore = world?.sent ?? 0;
const callsBefore = world?.calls ?? 0;
for (let s = 0; s < steps; s++) {
  const started = performance.now();
  await optimizer.step();
  times.push(performance.now() - started);
}
const sentPerStep = ((world?.sent ?? 0) - sentBefore) / steps;
const collectivesPerStep = ((world?.calls ?? 0) - callsBefore) / steps;
const hash = createHash('sha256');
for (const { value } of variables) hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
for (const { name, value } of await optimizer.gatheredVariables()) {
  hash.update(name);
  hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
}
console.log(
  JSON.stringify({
    rank,
    ranks,
    microBatches,
    msPerStep: median(times),
    sentPerStep,
    collectivesPerStep,
    slotBytes: optimizer.slotBytes,
    gradientBytes: 4 * parameters,
    workers: optimizer.workers,
    hash: hash.digest('hex'),
  }),
);
await optimizer.close();
await world?.close();

/**
 * Run by test/distributed/mpi-world.test.ts under `mpirun`: this process is one rank of the MPI
 * world. One JSON line per rank.
 *
 *   mpirun -np 4 node mpi-world-run.mjs update 4 clipnorm half   (world-run.mjs's runs: hashes by setting)
 *   mpirun -np 2 node mpi-world-run.mjs train 4 2                (world-train.mjs: 4 micro-batches, 2 replicas)
 *   mpirun -np 2 node mpi-world-run.mjs fit 4 1                  (world-fit.mjs: fitDataParallel, 1 replica a rank)
 *   mpirun -np 3 node mpi-world-run.mjs disagree 3               (the last rank's variable is larger: its refusal)
 *   mpirun -np 4 node mpi-world-run.mjs save 4 DIR               (5 steps, a sharded checkpoint after step 3)
 *   mpirun -np 2 node mpi-world-run.mjs load 4 DIR               (from it, steps 4 and 5)
 *   mpirun -np 4 node mpi-world-run.mjs die 4 DIR                (a checkpoint after step 2; rank 1 SIGKILLed in step 3)
 *   mpirun -np 4 node mpi-world-run.mjs resave 4 DIR             (saves after steps 1 and 2 of 3, of 2.5e6 parameters;
 *                                                                each rank's pid first, for the test to kill one mid-save)
 */
import { RMSprop, Variable } from '../../dist/src/index.js';
import { mpiWorld } from '../../dist/src/distributed/world.js';
import { RESAVE, runRank } from './world-run.mjs';
import { trainRank } from './world-train.mjs';
import { fitRank } from './world-fit.mjs';

const [mode, microBatches, ...rest] = process.argv.slice(2);
const world = await mpiWorld();
if (mode === 'disagree') {
  const optimizer = new RMSprop({ world, microBatches: Number(microBatches), workers: 0 });
  const size = world.rank === world.size - 1 ? 12 : 10;
  optimizer.build([new Variable(new Float32Array(size), { name: 'v' })]);
  const refused = await optimizer.step().then(
    () => null,
    (/** @type {Error} */ error) => error.message,
  );
  console.log(JSON.stringify({ rank: world.rank, refused }));
} else if (mode === 'resave') {
  console.log(JSON.stringify({ rank: world.rank, pid: process.pid }));
  const { hash } = await runRank(world, {
    ...RESAVE,
    microBatches: Number(microBatches),
    saveTo: /** @type {string} */ (rest[0]),
  });
  console.log(JSON.stringify({ rank: world.rank, hash }));
} else if (mode === 'save' || mode === 'load' || mode === 'die') {
  const [directory] = /** @type {[string]} */ (rest);
  const run = { setting: /** @type {const} */ ('global'), microBatches: Number(microBatches), steps: 5, workers: 1 };
  const { hash } = await runRank(
    world,
    mode === 'load'
      ? { ...run, loadFrom: directory, at: 3 }
      : mode === 'save'
        ? { ...run, saveTo: directory, at: 3 }
        : { ...run, saveTo: directory, at: 2, dieAt: { rank: 1, step: 3 } },
  );
  console.log(JSON.stringify({ rank: world.rank, hash }));
} else if (mode === 'fit') {
  const { hash, history } = await fitRank(world, { replicas: Number(rest[0]) });
  console.log(JSON.stringify({ rank: world.rank, hash, history }));
} else if (mode === 'train') {
  const { hash, losses } = await trainRank(world, { microBatches: Number(microBatches), replicas: Number(rest[0]) });
  console.log(JSON.stringify({ rank: world.rank, hash, losses }));
} else {
  /** @type {Record<string, string>} */
  const hashes = {};
  for (const setting of /** @type {Array<keyof typeof import('./world-run.mjs').SETTINGS>} */ (rest)) {
    const { hash, iterations } = await runRank(world, { setting, microBatches: Number(microBatches), workers: 1 });
    hashes[setting] = `${hash} after ${iterations} iterations`;
  }
  console.log(JSON.stringify({ rank: world.rank, hashes }));
}
await world.close();

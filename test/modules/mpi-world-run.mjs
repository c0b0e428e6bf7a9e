/**
 * Run by test/distributed/mpi-world.test.ts under `mpirun`: this process is one rank of the MPI
 * world, and runs world-run.mjs's sharded run for each setting named on the command line, with
 * the micro-batches given first; one JSON line per rank with every setting's hash.
 *
 *   mpirun -np 4 node mpi-world-run.mjs 4 clipnorm half
 */
import { mpiWorld } from '../../dist/src/distributed/world.js';
import { runRank } from './world-run.mjs';

const [microBatches, ...settings] = /** @type {[string, ...Array<keyof typeof import('./world-run.mjs').SETTINGS>]} */ (
  process.argv.slice(2)
);
const world = await mpiWorld();
/** @type {Record<string, string>} */
const hashes = {};
for (const setting of settings) {
  const { hash, iterations } = await runRank(world, { setting, microBatches: Number(microBatches), workers: 1 });
  hashes[setting] = `${hash} after ${iterations} iterations`;
}
await world.close();
console.log(JSON.stringify({ rank: world.rank, hashes }));

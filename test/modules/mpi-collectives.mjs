/**
 * Run by test/distributed/mpi-binding.test.ts under `mpirun`: the world checks every
 * collective once (world-checks.mjs) over MPI, then a wasm access out of bounds, which must
 * still trap under mpirun (Node's trap handler and MPI's signals), and a call after close() rejects;
 * one JSON line per rank.
 */
import { mpiWorld } from '../../dist/src/distributed/world.js';
import { exercise } from './world-checks.mjs';

const world = await mpiWorld();
const seen = await exercise(world);

let trap = null;
try {
  const bytes = [
    0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 102, 0, 0, 10, 9,
    1, 7, 0, 32, 0, 40, 2, 0, 11,
  ];
  const { f } = /** @type {{ f: (at: number) => number }} */ (
    new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes))).exports
  );
  f(1 << 20);
} catch (error) {
  trap = String(error);
}
await world.close();
// a closed world's calls reject (the binding refuses them before MPI)
const closed = await world.barrier().then(
  () => null,
  (/** @type {Error} */ error) => error.message,
);
console.log(JSON.stringify({ ...seen, trap, closed }));

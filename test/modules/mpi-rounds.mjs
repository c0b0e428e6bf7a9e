/**
 * Run under `mpirun` by test/distributed/mpi-binding.test.ts: a broadcast larger than one MPI
 * call moves goes in rounds (here a call's limit lowered to 1,000 bytes), and the binding
 * refuses a view of 2^31 bytes rather than truncate its count. One JSON line per rank.
 */
import { mpiBinding } from '../../dist/src/distributed/mpi.js';
import { mpiWorld } from '../../dist/src/distributed/world.js';

const binding = mpiBinding();
let calls = 0; // the binding's broadcasts, counted
const counting = {
  ...binding,
  bcast: (/** @type {ArrayBufferView} */ view, /** @type {number} */ root) => (calls++, binding.bcast(view, root)),
};
const world = await mpiWorld(counting, { maxBytes: 1000 });
const data = new Uint8Array(4500);
if (world.rank === 1) data.forEach((_, i) => (data[i] = (i * 7) % 251));
await world.bcast(data, 1);
const same = data.every((x, i) => x === (i * 7) % 251);

let refused = null;
try {
  await binding.bcast(new Uint8Array(2 ** 31), 0);
} catch (error) {
  refused = `${/** @type {Error} */ (error).name}: ${/** @type {Error} */ (error).message}`;
}
/** The error a call throws before anything is queued. */
const thrown = (/** @type {() => unknown} */ call) => {
  try {
    call();
    return null;
  } catch (error) {
    return `${/** @type {Error} */ (error).name}: ${/** @type {Error} */ (error).message}`;
  }
};
const two = new Int32Array(2);
const wrongArguments = [
  thrown(() =>
    binding.allgatherv(new Uint8Array(4), new Uint8Array(8), /** @type {never} */ (new Float32Array(2)), two),
  ),
  thrown(() => binding.alltoallv(new Uint8Array(8), two, two, new Uint8Array(8), new Int32Array(3), two)),
  thrown(() => binding.bcast(/** @type {never} */ ([1, 2]), 0)),
];
await world.barrier(); // the world still works after them
await world.close();
console.log(JSON.stringify({ rank: world.rank, same, calls, refused, wrongArguments }));

/**
 * Run by test/distributed/mpi-binding.test.ts under `mpirun`: every collective of the MPI binding
 * once, on each rank, printing one JSON line of what it saw. Plain JavaScript: mpirun starts it
 * in plain Node.
 */
import { IntReduction, mpiBinding } from '../../dist/src/distributed/mpi.js';

const mpi = mpiBinding();
const { rank, size, threadLevel } = await mpi.open();

// the event loop runs while this rank waits in a barrier for rank 0, which sleeps first
let ticks = 0;
const timer = setInterval(() => ticks++, 5);
if (rank === 0) await new Promise((resolve) => setTimeout(resolve, 200));
await mpi.barrier();
clearInterval(timer);

// allgatherv of uneven parts into shared memory: rank r sends r + 1 float32s
const counts = Int32Array.from({ length: size }, (_, r) => (r + 1) * 4);
const displacements = Int32Array.from({ length: size }, (_, r) => ((r * (r + 1)) / 2) * 4);
const gathered = new Float32Array(new SharedArrayBuffer(((size * (size + 1)) / 2) * 4));
await mpi.allgatherv(
  Float32Array.from({ length: rank + 1 }, (_, i) => rank * 10 + i),
  gathered,
  counts,
  displacements,
);

// alltoallv: rank r sends [r, s] to rank s, one float64 pair each
const send = Float64Array.from({ length: 2 * size }, (_, i) => (i % 2 === 0 ? rank : Math.floor(i / 2)));
const pairs = Int32Array.from({ length: size }, () => 16);
const at = Int32Array.from({ length: size }, (_, r) => 16 * r);
const exchanged = new Float64Array(2 * size);
await mpi.alltoallv(send, pairs, at, exchanged, pairs, at);

const broadcast = new Float64Array(3);
if (rank === 0) broadcast.set([1.5, 2.5, 3.5]);
await mpi.bcast(broadcast, 0);

const sum = BigInt64Array.of(BigInt(rank + 1), -BigInt(rank));
await mpi.allreduceInt(sum, IntReduction.Sum);
const max = BigInt64Array.of(BigInt(rank));
await mpi.allreduceInt(max, IntReduction.Max);

let refused = null;
try {
  await mpi.bcast(broadcast, size + 5);
} catch (error) {
  refused = /** @type {Error} */ (error).message;
}

// a wasm access out of bounds still traps under mpirun (Node's trap handler and MPI's signals)
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

await mpi.close();
console.log(
  JSON.stringify({
    rank,
    size,
    threadLevel,
    ticks,
    gathered: Array.from(gathered),
    exchanged: Array.from(exchanged),
    broadcast: Array.from(broadcast),
    sum: Array.from(sum, String),
    max: Array.from(max, String),
    refused,
    trap,
  }),
);

/**
 * Every collective of a World once, from one rank, returning what that rank saw: shared by
 * the in-process world's test and the MPI run (mpi-collectives.mjs), so both are held to the
 * same bytes. Plain JavaScript: mpirun starts it in plain Node.
 */
import { IntReduction } from '../../dist/src/distributed/world.js';

/** @param {import('../../dist/src/distributed/world.js').World} world */
export async function exercise(world) {
  const { rank, size } = world;

  // the event loop runs while this rank waits in a barrier for rank 0, which sleeps first
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  if (rank === 0) await new Promise((resolve) => setTimeout(resolve, 200));
  await world.barrier();
  clearInterval(timer);

  // allgatherv of uneven parts into shared memory: rank r sends r + 1 float32s
  const counts = Int32Array.from({ length: size }, (_, r) => (r + 1) * 4);
  const displacements = Int32Array.from({ length: size }, (_, r) => ((r * (r + 1)) / 2) * 4);
  const gathered = new Float32Array(new SharedArrayBuffer(((size * (size + 1)) / 2) * 4));
  await world.allgatherv(
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
  await world.alltoallv(send, pairs, at, exchanged, pairs, at);

  // in place, counted in units of 8 bytes: rank r's two float64s are at its place already
  const inPlace = new Float64Array(new SharedArrayBuffer(16 * size));
  inPlace.set([rank + 0.5, -rank - 1], 2 * rank);
  const twos = Int32Array.from({ length: size }, () => 2);
  const places = Int32Array.from({ length: size }, (_, r) => 2 * r);
  await world.allgatherv(null, inPlace, twos, places, 8);
  // a part reaching past the receive view is refused on every rank, before anything moves
  // (as a rejection: a refusal thrown where the call is made would escape these handlers)
  const outside = await world
    .allgatherv(
      null,
      inPlace,
      twos,
      Int32Array.from({ length: size }, (_, r) => 2 * r + 1),
      8,
    )
    .then(
      () => null,
      (/** @type {Error} */ error) => error.name,
    );

  const broadcast = new Float64Array(3);
  if (rank === 0) broadcast.set([1.5, 2.5, 3.5]);
  await world.bcast(broadcast, 0);

  const sum = BigInt64Array.of(BigInt(rank + 1), -BigInt(rank));
  await world.allreduceInt(sum, IntReduction.Sum);
  const max = BigInt64Array.of(BigInt(rank));
  await world.allreduceInt(max, IntReduction.Max);

  const refused = await world.bcast(broadcast, size + 5).then(
    () => null,
    (/** @type {Error} */ error) => error.message,
  );
  return {
    rank,
    size,
    ticks,
    gathered: Array.from(gathered),
    exchanged: Array.from(exchanged),
    inPlace: Array.from(inPlace),
    outside,
    broadcast: Array.from(broadcast),
    sum: Array.from(sum, String),
    max: Array.from(max, String),
    refused,
  };
}

/**
 * What `exercise` must see on `rank` of `size`; the refusal of a bad root is each world's own text.
 *
 * @param {number} rank
 * @param {number} size
 */
export function expectedOf(rank, size) {
  return {
    rank,
    size,
    gathered: Array.from({ length: size }, (_, r) => Array.from({ length: r + 1 }, (_, i) => r * 10 + i)).flat(),
    exchanged: Array.from({ length: size }, (_, r) => [r, rank]).flat(),
    inPlace: Array.from({ length: size }, (_, r) => [r + 0.5, -r - 1]).flat(),
    outside: 'RangeError',
    broadcast: [1.5, 2.5, 3.5],
    sum: [String((size * (size + 1)) / 2), String(-((size * (size - 1)) / 2))],
    max: [String(size - 1)],
  };
}

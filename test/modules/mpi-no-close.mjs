/** Run under `mpirun` by test/distributed/mpi-binding.test.ts: a rank that never closes its world. */
import { mpiBinding } from '../../dist/src/distributed/mpi.js';

const mpi = mpiBinding();
const { rank } = await mpi.open();
await mpi.barrier();
console.log(`rank ${rank}: done, without close()`);

/** Run under `mpirun` by test/distributed/mpi-binding.test.ts: nothing, to see that Open MPI starts ranks here. */

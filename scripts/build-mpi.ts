/**
 * `npm run build` step: compiles the MPI binding (native/mpi/mpi-binding.c, Node-API) with the
 * system's `mpicc` against Node's own headers into dist/native/mpi.node, when both are there. It
 * is optional: without Open MPI, or when the compiler fails, the package builds, installs and
 * runs, and only asking for MPI fails (src/distributed/mpi.ts). `--required` makes either an error.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MPI_INSTALL_HINT } from '../src/distributed/mpi.js';

const source = fileURLToPath(new URL('../../native/mpi/mpi-binding.c', import.meta.url));
const target = fileURLToPath(new URL('../native/mpi.node', import.meta.url));
const headers = join(dirname(dirname(process.execPath)), 'include', 'node');
const compiler = process.env.MPICC ?? 'mpicc';
const required = process.argv.includes('--required');

const missing = spawnSync(compiler, ['--showme:version'], { stdio: 'ignore' }).error
  ? `no MPI compiler (${compiler}): ${MPI_INSTALL_HINT}`
  : !existsSync(join(headers, 'node_api.h'))
    ? `no Node-API headers at ${headers}`
    : null;
if (missing !== null) {
  console.log(`mpi binding: skipped, ${missing}`);
  if (required) process.exit(1);
} else {
  mkdirSync(dirname(target), { recursive: true });
  rmSync(target, { force: true }); // never a binding from an earlier build
  // prettier-ignore
  const compiled = spawnSync(compiler, ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-DNAPI_VERSION=8', `-I${headers}`, source, '-o', target, '-lpthread'], { stdio: 'inherit' });
  if (compiled.status === 0) console.log(`mpi binding: ${target}`);
  else {
    // optional: the package builds and runs without it, and asking for MPI says why
    console.log(`mpi binding: skipped, ${compiler} failed (status ${String(compiled.status)})`);
    if (required) process.exit(1);
  }
}

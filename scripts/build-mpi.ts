/**
 * `npm run build` step: compiles the MPI binding (native/mpi/mpi-binding.c, Node-API) with the
 * system's `mpicc` against Node's own headers into dist/native/mpi.node, when both are there. It
 * is optional: without Open MPI the package builds, installs and runs, and only asking for MPI
 * fails (src/distributed/mpi.ts). `--required` makes a missing compiler an error.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
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
  // prettier-ignore
  execFileSync(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-DNAPI_VERSION=8', `-I${headers}`, source, '-o', target, '-lpthread'], { stdio: 'inherit' });
  console.log(`mpi binding: ${target}`);
}

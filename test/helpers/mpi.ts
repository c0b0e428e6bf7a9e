/**
 * Launching test modules under real `mpirun`: oversubscribed, `--bind-to none` (a rank pinned to
 * one core starves its threads), as root too, each run bounded. Without Open MPI or the binding,
 * `mpiAvailable` is false and the suites say once that they were skipped and how to install it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MPI_BINDING_PATH } from '../../dist/src/distributed/mpi.js';

export const mpiAvailable =
  spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).error === undefined && existsSync(MPI_BINDING_PATH);

/** Byte transfer layers to run over: shared memory, and TCP on loopback. */
export const MPI_TRANSPORTS = [
  ['shared memory', ['--mca', 'btl', 'self,vader']],
  ['TCP on loopback', ['--mca', 'btl', 'self,tcp', '--mca', 'btl_tcp_if_include', 'lo']],
] as const;

/** `mpirun`'s arguments and options for test module `module` (a path) on `ranks` ranks, with `args` after it. */
function mpirunCommand(module: string, ranks: number, transport: readonly string[], args: readonly string[]) {
  return [
    ['-np', String(ranks), '--oversubscribe', '--bind-to', 'none', ...transport, process.execPath, module, ...args],
    { env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } },
  ] as const;
}

/** `mpirun` of test module `module` (a path) on `ranks` ranks, with `args` after it. */
export function mpirunOf(
  module: string,
  ranks: number,
  transport: readonly string[] = [],
  args: readonly string[] = [],
  timeout = 60_000,
) {
  const [all, options] = mpirunCommand(module, ranks, transport, args);
  return spawnSync('mpirun', all, { ...options, encoding: 'utf8', timeout });
}

/** The same, started: the caller watches it (and bounds it). */
export function mpirunStarted(module: string, ranks: number, transport: readonly string[], args: readonly string[]) {
  const [all, options] = mpirunCommand(module, ranks, transport, args);
  return spawn('mpirun', all, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether Open MPI itself starts 2 ranks over `transport` here (without the binding): a machine that cannot is said, not failed. */
export function mpiRuns(label: string, transport: readonly string[]): boolean {
  if (!mpiAvailable) return false;
  const probe = mpirunOf(fileURLToPath(new URL('../modules/mpi-probe.mjs', import.meta.url)), 2, transport);
  if (probe.status === 0) return true;
  console.log(`MPI over ${label} skipped: Open MPI cannot start 2 ranks here (${probe.stderr.trim().split('\n')[0]})`);
  return false;
}

/** The JSON lines a run's ranks printed, by rank. */
export function jsonLines<T extends { rank: number }>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as T)
    .sort((a, b) => a.rank - b.rank);
}

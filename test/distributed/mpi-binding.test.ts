/**
 * The MPI binding, under real `mpirun` (2 and 3 ranks, oversubscribed, `--bind-to none`) over
 * shared memory and over TCP on loopback: every collective moves the bytes it should, into
 * shared memory too; a rank's event loop runs while it waits; MPI's failure reaches JavaScript
 * as a rejection with MPI's text; a wasm access out of bounds still traps. Without Open MPI the
 * suite says it was skipped and how to install it; asking for MPI then fails by name.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mpiBinding } from '../../dist/src/distributed/mpi.js';
import { jsonLines, mpiAvailable, mpirunOf, mpiRuns, MPI_TRANSPORTS } from '../helpers/mpi.js';
import { expectedOf } from '../modules/world-checks.mjs';

const script = fileURLToPath(new URL('../modules/mpi-collectives.mjs', import.meta.url));
if (!mpiAvailable) {
  console.log(
    'MPI suite skipped: no mpirun or no MPI binding (apt-get install openmpi-bin libopenmpi-dev, then npm run build)',
  );
}

interface Seen extends ReturnType<typeof expectedOf> {
  ticks: number;
  refused: string | null;
  trap: string | null;
  closed: string | null;
}

function launch(ranks: number, transport: readonly string[]): Seen[] {
  const run = mpirunOf(script, ranks, transport);
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  return jsonLines<Seen>(run.stdout);
}

describe('the MPI binding', () => {
  it('asking for a binding that was not built fails by name, saying how to get MPI', () => {
    expect(() => mpiBinding('/nonexistent/mpi.node')).toThrow(
      /MPI is not available: .*apt-get install openmpi-bin libopenmpi-dev/,
    );
  });

  it.skipIf(!mpiRuns('its default transports', []))(
    'a rank that never closes its world does not keep its process alive: mpirun ends, non-zero',
    () => {
      const run = mpirunOf(fileURLToPath(new URL('../modules/mpi-no-close.mjs', import.meta.url)), 2);
      expect(run.error, 'no timeout').toBeUndefined();
      expect(run.stdout).toContain('rank 0: done, without close()');
      expect(run.stdout).toContain('rank 1: done, without close()');
      expect(run.status).not.toBe(0); // MPI was not finalized: mpirun says so
    },
  );

  it.skipIf(!mpiRuns('its default transports', []))(
    'a broadcast past one call’s limit goes in rounds; a view of 2^31 bytes is refused, not truncated; wrong arguments are refused by name',
    () => {
      const run = mpirunOf(fileURLToPath(new URL('../modules/mpi-rounds.mjs', import.meta.url)), 2);
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      const seen = run.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map(
          (line) =>
            JSON.parse(line) as {
              rank: number;
              same: boolean;
              calls: number;
              refused: string | null;
              wrongArguments: string[];
            },
        );
      expect(seen).toHaveLength(2);
      for (const s of seen) {
        expect(s.same, `rank ${s.rank}`).toBe(true);
        expect(s.calls, '4,500 bytes in rounds of 1,000').toBe(5);
        expect(s.wrongArguments).toEqual([
          expect.stringMatching(/^TypeError: allgatherv\(send or null, receive, counts, displacements, unit\?\)/),
          expect.stringMatching(/^TypeError: alltoallv\(send, sendCounts/),
          expect.stringMatching(/^TypeError: bcast\(view, root\): a typed array and a rank/),
        ]);
        expect(s.refused).toMatch(/^RangeError: bcast: 2147483648 bytes, more than one MPI call moves \(2147483647\)/);
      }
    },
  );

  for (const [label, transport] of MPI_TRANSPORTS) {
    const works = mpiRuns(label, transport);
    for (const ranks of [2, 3]) {
      it.skipIf(!works)(`${ranks} ranks over ${label}: every collective, on the MPI thread`, () => {
        const seen = launch(ranks, transport);
        expect(seen.map((s) => s.rank)).toEqual(Array.from({ length: ranks }, (_, r) => r));
        for (const s of seen) {
          const { ticks, refused: _refused, trap: _trap, closed: _closed, ...moved } = s;
          expect(moved).toEqual(expectedOf(s.rank, ranks));
          if (s.rank !== 0) expect(ticks, 'timers ran while waiting in the barrier').toBeGreaterThan(5);
          expect(s.refused).toMatch(/MPI_ERR_ROOT/);
          expect(s.trap).toMatch(/RuntimeError: memory access out of bounds/);
          expect(s.closed).toBe('the MPI world is closed');
        }
      });
    }
  }
});

/**
 * PyTorch as a yardstick, when the machine has it (Debian: apt-get install python3-torch
 * libopenblas0-pthread): the same training steps as the bench's models on a set number of
 * threads, timed by bench/torch-yardstick.py in this same run. Never a dependency: absent, the
 * rows are left out.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The yardstick's medians, ms a step, by model (bench/torch-yardstick.py names them). */
export interface TorchTimes {
  readonly torch: string;
  readonly threads: number;
  readonly mlpMs: number;
  readonly cnnMs: number;
  readonly mnistNodeMs: number;
  readonly sentimentMs: number;
  readonly gruMs: number;
  readonly lstmMs: number;
}

const SCRIPT = fileURLToPath(new URL('../../bench/torch-yardstick.py', import.meta.url));

/** The yardstick's medians on `threads` threads, or null (with why) where no python3 on this machine imports torch. */
export function torchTimes(steps: number, threads = 1): { times: TorchTimes | null; why: string } {
  let why = 'no python3 with torch found';
  const pinned = String(threads);
  for (const python of ['python3', '/usr/bin/python3']) {
    const run = spawnSync(python, [SCRIPT, String(steps), pinned], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: pinned, OMP_NUM_THREADS: pinned },
      timeout: 600_000,
    });
    if (run.status === 0) return { times: JSON.parse(run.stdout.trim().split('\n').at(-1)!) as TorchTimes, why: '' };
    why = `${python}: ${(run.stderr || run.error?.message || '').trim().split('\n').at(-1)}`;
  }
  return { times: null, why };
}

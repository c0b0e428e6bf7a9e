/**
 * PyTorch as a yardstick, when the machine has it (Debian: apt-get install python3-torch
 * libopenblas0-pthread): the same MLP and CNN training steps on one thread, timed by
 * bench/torch-yardstick.py in this same run. Never a dependency: absent, the rows are left out.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface TorchTimes {
  readonly torch: string;
  readonly mlpMs: number;
  readonly cnnMs: number;
}

const SCRIPT = fileURLToPath(new URL('../../bench/torch-yardstick.py', import.meta.url));

/** The yardstick's medians, or null (with why) where no python3 on this machine imports torch. */
export function torchTimes(steps: number): { times: TorchTimes | null; why: string } {
  let why = 'no python3 with torch found';
  for (const python of ['python3', '/usr/bin/python3']) {
    const run = spawnSync(python, [SCRIPT, String(steps)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
      timeout: 300_000,
    });
    if (run.status === 0) return { times: JSON.parse(run.stdout.trim().split('\n').at(-1)!) as TorchTimes, why: '' };
    why = `${python}: ${(run.stderr || run.error?.message || '').trim().split('\n').at(-1)}`;
  }
  return { times: null, why };
}

/**
 * The memory roofline of this machine, measured in the same run as the optimizer: parallel
 * TypedArray copies over shared memory on the same number of threads, reported as GB/s of
 * bytes read plus written (what an optimizer step moves).
 */
import { Piscina } from 'piscina';

const COPY_WORKER = new URL('./copy-worker.js', import.meta.url).href;

/** Median GB/s of `threads` threads each copying its share of `bytes` (read + write counted). */
export async function copyBandwidth(threads: number, bytes: number, samples: number): Promise<number> {
  const pool = new Piscina({ filename: COPY_WORKER, minThreads: threads, maxThreads: threads, idleTimeout: 1000 });
  const n = Math.floor(bytes / 4 / threads / 16) * 16;
  const src = new Float32Array(new SharedArrayBuffer(n * threads * 4)).fill(1);
  const dst = new Float32Array(new SharedArrayBuffer(n * threads * 4));
  const run = () =>
    Promise.all(
      Array.from({ length: threads }, (_, t) =>
        pool.run({ src: src.subarray(t * n, (t + 1) * n), dst: dst.subarray(t * n, (t + 1) * n), repeats: 1 }),
      ),
    );
  try {
    await run(); // start the threads, touch the pages
    const times: number[] = [];
    for (let s = 0; s < samples; s++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return (2 * n * threads * 4) / (times[times.length >> 1]! * 1e6);
  } finally {
    await pool.destroy();
  }
}

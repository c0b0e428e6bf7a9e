/**
 * The memory roofline of this machine, measured in the same run as the optimizer: parallel
 * TypedArray copies over shared memory on the same number of threads, reported as GB/s of
 * bytes read plus written (what an optimizer step moves); and how fast the kernel hands out
 * fresh pages (what committing a new arena costs, whoever does it).
 */
import { Piscina } from 'piscina';

const COPY_WORKER = new URL('./copy-worker.js', import.meta.url).href;
const TOUCH_WORKER = new URL('./touch-worker.js', import.meta.url).href;

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

/**
 * GiB/s at which `threads` threads commit fresh shared wasm memory of `bytes` in all (one write
 * per 4 KiB page, each thread its own contiguous share of each segment; segments of at most
 * 4 GiB, as an arena's): the page-fault bound on an arena's first touch, with no optimizer code
 * involved.
 */
export async function pageCommitRate(threads: number, bytes: number): Promise<number> {
  const pool = new Piscina({ filename: TOUCH_WORKER, minThreads: threads, maxThreads: threads, idleTimeout: 1000 });
  try {
    const warmUp = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    await Promise.all(Array.from({ length: threads }, () => pool.run({ memory: warmUp, start: 0, end: 0 })));
    const totalPages = Math.ceil(bytes / 65536);
    const segments = Array.from({ length: Math.ceil(totalPages / 65536) }, (_, i) => {
      const pages = Math.min(65536, totalPages - i * 65536);
      return { pages, memory: new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }) };
    });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: threads }, async (_, t) => {
        for (const { pages, memory } of segments) {
          const share = Math.ceil(pages / threads) * 65536;
          await pool.run({ memory, start: t * share, end: Math.min((t + 1) * share, pages * 65536) });
        }
      }),
    );
    const pages = totalPages;
    return (pages * 65536) / 2 ** 30 / ((performance.now() - t0) / 1000);
  } finally {
    await pool.destroy();
  }
}

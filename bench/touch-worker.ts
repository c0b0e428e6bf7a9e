/** Commit-rate worker: writes one byte in every 4 KiB page of its share of a fresh wasm memory. */
export default function touchPages({
  memory,
  start,
  end,
}: {
  memory: WebAssembly.Memory;
  start: number;
  end: number;
}): number {
  const bytes = new Uint8Array(memory.buffer);
  const t0 = performance.now();
  for (let i = start; i < end; i += 4096) bytes[i] = 0;
  return performance.now() - t0;
}

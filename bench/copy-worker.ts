/** Roofline worker: copies its slice of one shared buffer into another, `repeats` times. */
export default function copySlice({
  src,
  dst,
  repeats,
}: {
  src: Float32Array;
  dst: Float32Array;
  repeats: number;
}): void {
  for (let r = 0; r < repeats; r++) dst.set(src);
}

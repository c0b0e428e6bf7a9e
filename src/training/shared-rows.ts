/**
 * A batch's rows in shared memory, cut into parts (a step's micro-batches, an evaluation's
 * chunks): copied in once per call, read by the replica threads through views. The buffers grow
 * only when a larger batch comes, and the views are remade only when the batch's shape changes,
 * so a run of equal batches allocates nothing.
 */
import { quote } from '../common/quote.js';
import type { RowShape } from './replica.js';

/** What a batch's rows may be: integers (token ids, class indices) reach the replicas as float32, exact up to 2^24. */
export type BatchArray = Float32Array | Int32Array;

/** One batch: `rows` rows, row-major, and optionally one weight per row for its loss. */
export interface Batch<Inputs extends BatchArray = Float32Array, Targets extends BatchArray = Float32Array> {
  readonly inputs: Inputs;
  readonly targets: Targets;
  readonly rows: number;
  /** One weight per row, multiplying the row's loss (Keras's `sample_weight`). Default: every row 1. */
  readonly sampleWeights?: Float32Array;
}

/** One part of the staged rows: views of the shared buffers. */
export interface RowPart {
  readonly rows: number;
  readonly inputs: Float32Array;
  readonly targets: Float32Array;
  readonly sampleWeights: Float32Array | null;
}

/** The largest integer magnitude a float32 holds exactly. */
const EXACT_INTEGER = 2 ** 24;

const shared = (length: number) => new Float32Array(new SharedArrayBuffer(4 * Math.max(1, length)));

export class SharedRows {
  #inputs = shared(1);
  #targets = shared(1);
  #weights = shared(1);
  #parts: RowPart[] = [];
  /** The shape the parts were cut for: rows, values per input and target row, weighted or not. */
  #cut = [0, 0, 0, 0];
  /** The staged values' bits, for `digest`: views remade only when the shape changes. */
  #words: Uint32Array[] = [];

  /**
   * Copies the batch into the shared buffers and returns its parts: part k holds `sizes(rows)[k]`
   * rows, in order (`sizes` is called only when the batch's shape changed).
   */
  stage(batch: Batch<BatchArray, BatchArray>, sizes: (rows: number) => readonly number[]): readonly RowPart[] {
    const { inputs, targets, rows, sampleWeights } = batch;
    const [inputWidth, targetWidth, weighted] = [inputs.length / rows, targets.length / rows, sampleWeights ? 1 : 0];
    const cut = this.#cut;
    if (cut[0] !== rows || cut[1] !== inputWidth || cut[2] !== targetWidth || cut[3] !== weighted) {
      if (this.#inputs.length < inputs.length) this.#inputs = shared(inputs.length);
      if (this.#targets.length < targets.length) this.#targets = shared(targets.length);
      if (sampleWeights && this.#weights.length < rows) this.#weights = shared(rows);
      let from = 0;
      this.#parts = sizes(rows).map((count) => {
        const part = {
          rows: count,
          inputs: this.#inputs.subarray(from * inputWidth, (from + count) * inputWidth),
          targets: this.#targets.subarray(from * targetWidth, (from + count) * targetWidth),
          sampleWeights: sampleWeights ? this.#weights.subarray(from, from + count) : null,
        };
        from += count;
        return part;
      });
      this.#cut = [rows, inputWidth, targetWidth, weighted];
      const bits = (view: Float32Array, length: number) => new Uint32Array(view.buffer, view.byteOffset, length);
      this.#words = [
        bits(this.#inputs, inputs.length),
        bits(this.#targets, targets.length),
        ...(sampleWeights ? [bits(this.#weights, rows)] : []),
      ];
    }
    this.#inputs.set(inputs);
    this.#targets.set(targets);
    if (sampleWeights) this.#weights.set(sampleWeights);
    return this.#parts;
  }

  /**
   * A 64-bit digest of the staged batch (its shape and every value's bits), as two int32 halves
   * into `into[at]` (low) and `into[at + 1]`: ranks compare theirs to find one given other rows.
   */
  digest(into: Int32Array, at: number): void {
    let [low, high] = [0x811c9dc5 ^ this.#cut[0]!, 0x2545f491 ^ this.#words.length];
    for (const words of this.#words) {
      for (let i = 0; i < words.length; i++) {
        const w = words[i]!;
        low = Math.imul(low ^ w, 0x01000193);
        high = Math.imul(high ^ w, 0x5bd1e995) ^ (high >>> 15);
      }
      low = Math.imul(low ^ words.length, 0x01000193);
    }
    into[at] = low;
    into[at + 1] = high;
  }
}

/** Throws, naming both shapes, unless the batch's rows are what the replicas' model takes (`rowShape`, where known). */
export function checkRowShape(
  { inputs, targets, rows }: Batch<BatchArray, BatchArray>,
  rowShape: RowShape | null,
): void {
  if (rowShape === null) return;
  const parts = [
    ['input', inputs.length / rows, rowShape.inputs],
    ['target', targets.length / rows, rowShape.targets],
  ] as const;
  for (const [what, width, shape] of parts) {
    if (shape === undefined) continue;
    const expected = shape.reduce((n, d) => n * d, 1);
    if (width !== expected) {
      throw new RangeError(
        `DataParallelTrainer.step: each of the batch's ${rows} rows holds ${width} ${what} values; ` +
          `the replicas' model takes ${what}s of shape [${shape.join(', ')}], ${expected} values a row`,
      );
    }
  }
}

/**
 * Throws unless the batch's arrays, rows and lengths make whole rows of exact values. `call`
 * names the method in the message.
 */
export function checkBatch(batch: Batch<BatchArray, BatchArray>, call: string): void {
  const { inputs, targets, rows, sampleWeights } = batch;
  const isRows = (a: unknown) => a instanceof Float32Array || a instanceof Int32Array;
  if (!isRows(inputs) || !isRows(targets)) {
    throw new TypeError(
      `${call}: \`inputs\` and \`targets\` must be Float32Arrays or Int32Arrays, got ${quote(inputs)} and ${quote(targets)}`,
    );
  }
  if (!Number.isInteger(rows) || rows <= 0) {
    throw new RangeError(`${call}: \`rows\` must be a positive integer, got ${quote(rows)}`);
  }
  if (inputs.length % rows !== 0 || targets.length % rows !== 0 || inputs.length === 0) {
    throw new RangeError(
      `${call}: inputs (${inputs.length}) and targets (${targets.length}) must be whole rows of ${rows}`,
    );
  }
  if (sampleWeights !== undefined && (!(sampleWeights instanceof Float32Array) || sampleWeights.length !== rows)) {
    throw new RangeError(
      `${call}: \`sampleWeights\` must be a Float32Array of one weight per row (${rows}), got ${quote(sampleWeights)}`,
    );
  }
  if (inputs instanceof Int32Array) checkExact(inputs, 'inputs', call);
  if (targets instanceof Int32Array) checkExact(targets, 'targets', call);
}

/** Throws unless every integer reaches the replicas unchanged as float32 (a plain loop: nothing allocated per step). */
function checkExact(array: Int32Array, what: string, call: string): void {
  for (let i = 0; i < array.length; i++) {
    if (Math.abs(array[i]!) > EXACT_INTEGER) {
      throw new RangeError(
        `${call}: \`${what}\`[${i}] is ${array[i]}: integers reach the replicas as float32, exact up to 2^24`,
      );
    }
  }
}

/**
 * The rows of each of a step's `parts` micro-batches: as equal as can be, the first ones a row
 * larger when `rows` does not divide evenly (a batch smaller than `parts` leaves some empty).
 */
export function evenParts(rows: number, parts: number): number[] {
  const base = Math.floor(rows / parts);
  return Array.from({ length: parts }, (_, j) => base + (j < rows % parts ? 1 : 0));
}

/** Chunks of `size` rows, the last one smaller when `size` does not divide `rows` (tfjs's `makeBatches`). */
export function chunksOf(rows: number, size: number): number[] {
  return Array.from({ length: Math.ceil(rows / size) }, (_, k) => Math.min(size, rows - k * size));
}

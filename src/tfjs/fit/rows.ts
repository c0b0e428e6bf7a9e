/**
 * The fit functions' data as the trainer takes it: rows of typed arrays. A tensor is read once;
 * a typed array is used as it is. An epoch's batches are gathered row by row into two buffers
 * sized once, in the epoch's (seeded) order.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { quote } from '../../common/quote.js';
import { seededRandom } from '../../training/randomness.js';
import type { Batch, BatchArray } from '../../training/trainer.js';
import type { ClassWeight, FitRows } from './fit-args.js';

/** Rows of one array: `count` rows of `width` values. */
export interface Rows {
  readonly values: BatchArray;
  readonly count: number;
  readonly width: number;
}

/** Training or validation data: inputs, targets and (training only) each row's weight. */
export interface Data {
  readonly x: Rows;
  readonly y: Rows;
  readonly weights: Float32Array | null;
}

const isTensor = (value: unknown): value is TF.Tensor =>
  value !== null && typeof value === 'object' && 'dataSync' in value && 'shape' in value;

/** A tensor's or a typed array's rows of `width` values (a tensor's first axis is its rows). `what` names it in errors. */
export function rowsOf(value: unknown, width: number, what: string): Rows {
  if (isTensor(value)) {
    if (value.dtype !== 'float32' && value.dtype !== 'int32') {
      throw new TypeError(`${what} must be a float32 or int32 tensor, got a ${value.dtype} one`);
    }
    const count = value.shape[0] ?? 0;
    const values = value.dataSync() as BatchArray;
    if (value.rank === 0 || values.length !== count * width) {
      throw new RangeError(`${what} has shape [${value.shape.join(', ')}]: the model takes rows of ${width} values`);
    }
    return { values, count, width };
  }
  if (value instanceof Float32Array || value instanceof Int32Array) {
    if (value.length % width !== 0 || value.length === 0) {
      throw new RangeError(`${what} holds ${value.length} values: not whole rows of the model's ${width}`);
    }
    return { values: value, count: value.length / width, width };
  }
  throw new TypeError(`${what} must be a tensor, a Float32Array or an Int32Array, got ${quote(value)}`);
}

/** Inputs and targets, their rows counted alike. */
export function dataOf(x: FitRows, y: FitRows, widths: { x: number; y: number }, what: string): Data {
  const [xs, ys] = [rowsOf(x, widths.x, `${what} x`), rowsOf(y, widths.y, `${what} y`)];
  if (xs.count !== ys.count) throw new RangeError(`${what}: x has ${xs.count} rows, y has ${ys.count}`);
  return { x: xs, y: ys, weights: null };
}

/** Rows `from` to `to` (views, no copy). */
export function sliceData({ x, y, weights }: Data, from: number, to: number): Data {
  const part = (r: Rows): Rows => ({ ...r, values: r.values.subarray(from * r.width, to * r.width), count: to - from });
  return { x: part(x), y: part(y), weights: weights?.subarray(from, to) ?? null };
}

/**
 * Each row's weight: `sampleWeight`'s, times its class's in `classWeight` (the class is the
 * target's value for one value a row, else the index of its largest), as tfjs's
 * `standardizeWeights`; null when neither is given.
 */
export function rowWeights(
  y: Rows,
  sampleWeight: TF.Tensor | Float32Array | undefined,
  classWeight: ClassWeight | undefined,
  caller: string,
): Float32Array | null {
  if (sampleWeight === undefined && classWeight === undefined) return null;
  const weights = new Float32Array(y.count).fill(1);
  if (sampleWeight !== undefined) {
    const given = rowsOf(sampleWeight, 1, `${caller}: \`args.sampleWeight\``);
    if (given.count !== y.count) {
      throw new RangeError(`${caller}: \`args.sampleWeight\` has ${given.count} weights for ${y.count} rows`);
    }
    weights.set(given.values);
  }
  if (classWeight !== undefined) {
    for (let r = 0; r < y.count; r++) {
      const row = y.values.subarray(r * y.width, (r + 1) * y.width);
      let label = 0;
      if (y.width === 1) label = row[0]!;
      else for (let k = 1; k < y.width; k++) if (row[k]! > row[label]!) label = k;
      const weight = classWeight[label];
      if (weight === undefined) {
        throw new RangeError(
          `${caller}: \`args.classWeight\` must contain all classes in the training data: class ${label} is in the data but not in classWeight`,
        );
      }
      weights[r] = Math.fround(weights[r]! * weight);
    }
  }
  return weights;
}

/** The seed of epoch `epoch`'s shuffle under the fit's `seed`: apart from the micro-batches' streams. */
function shuffleSeed(seed: number, epoch: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(epoch + 1, 0xc2b2ae35)) >>> 0;
}

/** The rows' order in epoch `epoch`: in order, or a Fisher-Yates shuffle seeded by (seed, epoch). */
export function epochOrder(order: Int32Array, shuffle: boolean, seed: number, epoch: number): Int32Array {
  for (let i = 0; i < order.length; i++) order[i] = i;
  if (!shuffle) return order;
  const random = seededRandom(shuffleSeed(seed, epoch));
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** A batch's rows gathered from the data in a given order, into buffers sized once for `batchSize` rows. */
export class BatchGather {
  readonly #data: Data;
  readonly #inputs: BatchArray;
  readonly #targets: BatchArray;
  readonly #weights: Float32Array | null;

  constructor(data: Data, batchSize: number) {
    this.#data = data;
    const like = (r: Rows) =>
      r.values instanceof Int32Array ? new Int32Array(batchSize * r.width) : new Float32Array(batchSize * r.width);
    this.#inputs = like(data.x);
    this.#targets = like(data.y);
    this.#weights = data.weights && new Float32Array(batchSize);
  }

  /** The batch of rows `order[from]` to `order[to - 1]`. */
  batch(order: Int32Array, from: number, to: number): Batch<BatchArray, BatchArray> {
    const { x, y, weights } = this.#data;
    const rows = to - from;
    for (let r = 0; r < rows; r++) {
      const row = order[from + r]!;
      this.#inputs.set(x.values.subarray(row * x.width, (row + 1) * x.width), r * x.width);
      this.#targets.set(y.values.subarray(row * y.width, (row + 1) * y.width), r * y.width);
      if (weights) this.#weights![r] = weights[row]!;
    }
    const full = rows * x.width === this.#inputs.length;
    return {
      rows,
      inputs: full ? this.#inputs : this.#inputs.subarray(0, rows * x.width),
      targets: full ? this.#targets : this.#targets.subarray(0, rows * y.width),
      ...(this.#weights && { sampleWeights: full ? this.#weights : this.#weights.subarray(0, rows) }),
    };
  }
}

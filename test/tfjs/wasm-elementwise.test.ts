/**
 * The comparisons, logical ops, Unpack and GatherV2 useWasmTrainingKernels runs over the heap
 * give exactly tfjs's cpu backend's values: every broadcast tfjs allows (scalars, rank 0, both
 * operands broadcast, empty), ties, NaN, int32 and bool operands; Unpack along every axis;
 * gathers along every axis, of long and short slices, with tfjs's refusal of a bad index.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { random, valuesOn, type Make, wasmTrainingKernelsForFile } from '../helpers/backends.js';

wasmTrainingKernelsForFile();

/** Values in {-1, 0, 1} (ties everywhere), NaN where `nan`. */
const ties = (shape: number[], seed: number, nan = false) =>
  tf.tidy(() => {
    const t = tf.round(random(shape, seed));
    return nan ? tf.where(tf.greater(random(shape, seed + 1), 0.5), tf.scalar(NaN), t) : t;
  });

async function expectSameOnBoth(make: Make, label: string) {
  const [cpu, wasm] = [await valuesOn('cpu', make), await valuesOn('wasm', make)];
  expect(wasm, label).toEqual(cpu);
}

const COMPARE = ['equal', 'notEqual', 'greater', 'greaterEqual', 'less', 'lessEqual'] as const;
const SHAPES: [number[], number[]][] = [
  [
    [5, 7],
    [5, 7],
  ],
  [
    [4, 6, 5],
    [4, 1, 5],
  ],
  [
    [64, 9, 25],
    [64, 1, 25],
  ],
  [
    [3, 1],
    [1, 4],
  ],
  [[2, 3, 4], [4]],
  [
    [2, 1, 4, 1],
    [3, 1, 5],
  ],
  [[6, 5], []],
  [[], [6, 5]],
  [[], []],
  [[1], [3, 2]],
  [
    [0, 3],
    [1, 3],
  ],
];

describe('comparisons', () => {
  it.each(COMPARE)('%s over every broadcast, with ties and NaN', async (op) => {
    for (const [i, [a, b]] of SHAPES.entries()) {
      for (const nan of [false, true]) {
        const make = () => {
          const out = tf[op](ties(a, 10 + i, nan), ties(b, 30 + i, nan));
          return tf.cast(out, 'float32');
        };
        await expectSameOnBoth(make, `${op} ${JSON.stringify([a, b])} nan=${nan}`);
      }
    }
  });

  it('int32 operands, and a bool result of shape []', async () => {
    const int = (shape: number[], seed: number) => tf.cast(tf.mul(ties(shape, seed), 3), 'int32');
    for (const op of COMPARE) {
      await expectSameOnBoth(() => tf.cast(tf[op](int([4, 6], 1), int([6], 2)), 'float32'), op);
      await expectSameOnBoth(() => tf.cast(tf[op](tf.scalar(2, 'int32'), tf.scalar(2, 'int32')), 'float32'), op);
    }
  });

  it('logicalAnd and logicalOr on bool operands, broadcast', async () => {
    const bool = (shape: number[], seed: number) => tf.greater(random(shape, seed), 0.5);
    for (const op of ['logicalAnd', 'logicalOr'] as const) {
      for (const [i, [a, b]] of SHAPES.entries()) {
        await expectSameOnBoth(() => tf.cast(tf[op](bool(a, 50 + i), bool(b, 70 + i)), 'float32'), op);
      }
    }
  });

  it("the max-pool-over-time gradient's mask: Equal of the input against its kept-dims maximum", async () => {
    const make = () => {
      const x = random([8, 96, 25], 90);
      return tf.cast(tf.equal(x, tf.max(x, 1, true)), 'float32');
    };
    await expectSameOnBoth(make, 'max mask');
  });
});

describe('Unpack', () => {
  it.each([0, 1, 2, -1])('float32 and int32 along axis %i', async (axis) => {
    await expectSameOnBoth(() => tf.unstack(random([3, 4, 5], 5), axis), `float32 axis ${axis}`);
    await expectSameOnBoth(
      () => tf.unstack(tf.cast(tf.mul(random([3, 4, 5], 6), 100), 'int32'), axis).map((t) => tf.cast(t, 'float32')),
      `int32 axis ${axis}`,
    );
  });

  it('bool by tfjs-wasm’s own kernel; a time axis of length 1 and a rank-1 tensor', async () => {
    await expectSameOnBoth(
      () => tf.unstack(tf.greater(random([2, 3], 7), 0.5), 1).map((t) => tf.cast(t, 'float32')),
      'bool',
    );
    await expectSameOnBoth(() => tf.unstack(random([2, 1, 3], 8), 1), 'length 1');
    await expectSameOnBoth(() => tf.unstack(random([4], 9)), 'rank 1');
  });
});

describe('GatherV2', () => {
  /** Indices in [0, below), repeats included. */
  const ids = (shape: number[], below: number, seed: number) =>
    tf.tensor(
      Int32Array.from({ length: shape.reduce((n, d) => n * d, 1) }, (_, i) => (i * 7 + seed) % below),
      shape,
      'int32',
    );

  it("an Embedding's lookup: rows of a table at a batch of word ids, and every other axis", async () => {
    await expectSameOnBoth(() => tf.gather(random([50, 128], 1), ids([4, 10], 50, 2)), 'embedding');
    for (const axis of [0, 1, 2, -1]) {
      await expectSameOnBoth(() => tf.gather(random([5, 6, 7], 3), ids([3, 2], 5, 4 + axis), axis), `axis ${axis}`);
    }
    await expectSameOnBoth(
      () => tf.cast(tf.gather(tf.cast(tf.mul(random([9, 3], 5), 50), 'int32'), ids([6], 9, 6)), 'float32'),
      'int32',
    );
    await expectSameOnBoth(() => tf.gather(random([9], 7), ids([4, 4], 9, 8)), 'scalars (short slices)');
    await expectSameOnBoth(() => tf.gather(random([9, 4], 9), tf.tensor1d([], 'int32')), 'no index');
  });

  it("an index out of range is refused with tfjs-wasm's message", async () => {
    await tf.setBackend('wasm');
    expect(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([0, 3], 'int32'))).toThrow(
      'GatherV2: the index value 3 is not in [0, 2]',
    );
    expect(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([-1], 'int32'))).toThrow('GatherV2: the index value -1');
  });

  it("batch dimensions, where tfjs-wasm's own reads the wrong rows", async () => {
    await expectSameOnBoth(() => tf.gather(random([2, 5, 3], 11), ids([2, 4], 5, 12), 1, 1), 'batchDims 1');
    await expectSameOnBoth(() => tf.gather(random([2, 3, 5, 4], 13), ids([2, 3, 2], 5, 14), 2, 2), 'batchDims 2');
    await expectSameOnBoth(() => tf.gather(random([2, 3, 5, 4], 15), ids([2, 6], 3, 16), 1, 1), 'batchDims 1, slices');
  });
});

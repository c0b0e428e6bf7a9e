/**
 * The convolution and pooling gradients useWasmTrainingKernels puts on XNNPACK or over the heap
 * (Conv2DBackpropInput, hence conv2dTranspose; Conv2DBackpropFilter at the sizes real CNNs have;
 * MaxPoolGrad, AvgPoolGrad) agree with tfjs's cpu backend within 1e-5 of the result's scale, for
 * every stride, padding and data format tfjs takes, and on the layers of tfjs-examples'
 * mnist-node CNN.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients, for tf.grads
import { describe, expect, it } from 'vitest';
import { random, relativeError, wasmTrainingKernelsForFile } from '../helpers/backends.js';

wasmTrainingKernelsForFile();

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: object) =>
  tf.engine().runKernel<tf.Tensor>(name, inputs, attrs as tf.NamedAttrMap);

type Shape4 = [number, number, number, number];
type Format = 'NHWC' | 'NCHW';

/** The geometry tfjs computes for x, filter, strides and pad (dy's shape is its outShape). */
const geometry = (x: Shape4, filter: Shape4, strides: [number, number], pad: unknown, format: Format) =>
  tf.backend_util.computeConv2DInfo(
    x,
    filter,
    strides,
    1,
    pad as never,
    undefined,
    false,
    format === 'NHWC' ? 'channelsLast' : 'channelsFirst',
  );

const convGradient =
  (kind: 'input' | 'filter', x: Shape4, filter: Shape4, strides: [number, number], pad: unknown, format: Format) =>
  () => {
    const dy = random(geometry(x, filter, strides, pad, format).outShape, 71);
    const attrs = { strides, pad, dataFormat: format, inputShape: x, filterShape: filter };
    return kind === 'input'
      ? run('Conv2DBackpropInput', { dy, filter: random(filter, 72) }, attrs)
      : run('Conv2DBackpropFilter', { x: random(x, 73), dy }, attrs);
  };

const PADS: Array<[string, unknown]> = [
  ['valid', 'valid'],
  ['same', 'same'],
  [
    'explicit',
    [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  ],
  [
    'explicit, wider than the filter',
    [
      [0, 0],
      [4, 3],
      [3, 4],
      [0, 0],
    ],
  ],
  ['a number', 1],
];

describe('Conv2DBackpropInput', () => {
  for (const format of ['NHWC', 'NCHW'] as const) {
    for (const strides of [
      [1, 1],
      [2, 2],
      [2, 1],
      [3, 2],
    ] as Array<[number, number]>) {
      for (const [padName, pad] of PADS) {
        it(`${format}, strides ${strides.join()}, padding ${padName}`, async () => {
          const x: Shape4 = format === 'NHWC' ? [2, 9, 8, 3] : [2, 3, 9, 8];
          // explicit paddings are given in the data's own order
          const ordered = Array.isArray(pad) && format === 'NCHW' ? [pad[0], pad[3], pad[1], pad[2]] : pad;
          expect(await relativeError(convGradient('input', x, [3, 2, 3, 4], strides, ordered, format))).toBeLessThan(
            1e-5,
          );
        });
      }
    }
  }

  it('conv2dTranspose (its forward pass) with strides 2 and same padding', async () => {
    const error = await relativeError(() =>
      tf.conv2dTranspose(
        random([2, 5, 5, 6], 74) as tf.Tensor4D,
        random([3, 3, 4, 6], 75) as tf.Tensor4D,
        [2, 10, 10, 4],
        2,
        'same',
      ),
    );
    expect(error).toBeLessThan(1e-5);
  });

  it("a dy that does not match the convolution's geometry is refused", async () => {
    await tf.setBackend('wasm');
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: [1, 5, 5, 2] };
    expect(() =>
      run('Conv2DBackpropInput', { dy: tf.ones([1, 4, 4, 3]), filter: tf.ones([3, 3, 2, 3]) }, attrs),
    ).toThrow(/Conv2DBackpropInput: 'dy' has shape \[1,4,4,3\]; this convolution's geometry needs \[1,3,3,3\]/);
  });
});

describe('Conv2DBackpropFilter where the input has room past the last window', () => {
  for (const [padName, pad] of PADS) {
    it(`strides 3, padding ${padName}`, async () => {
      expect(
        await relativeError(convGradient('filter', [2, 10, 11, 3], [3, 2, 3, 4], [3, 3], pad, 'NHWC')),
      ).toBeLessThan(1e-5);
    });
  }
});

describe("the mnist-node CNN's convolutions, batch 2", () => {
  const layers: Array<[string, Shape4, Shape4]> = [
    ['conv 1 (28x28x1, 32 filters)', [2, 28, 28, 1], [3, 3, 1, 32]],
    ['conv 2 (26x26x32, 32 filters)', [2, 26, 26, 32], [3, 3, 32, 32]],
    ['conv 3 (12x12x32, 64 filters)', [2, 12, 12, 32], [3, 3, 32, 64]],
    ['conv 4 (10x10x64, 64 filters)', [2, 10, 10, 64], [3, 3, 64, 64]],
  ];
  for (const [name, x, filter] of layers) {
    for (const kind of ['input', 'filter'] as const) {
      it(`${name}: the ${kind} gradient`, async () => {
        expect(await relativeError(convGradient(kind, x, filter, [1, 1], 'valid', 'NHWC'))).toBeLessThan(1e-5);
      });
    }
  }
});

describe('a Conv1D of many filters (its filter gradient by chunks of images), as tfjs runs it in 2-D', () => {
  it("the sentiment CNN's (5 x 128 -> 250 over 100 words), batch 1: both gradients", async () => {
    for (const kind of ['input', 'filter'] as const) {
      expect(
        await relativeError(convGradient(kind, [1, 1, 100, 128], [1, 5, 128, 250], [1, 1], 'valid', 'NHWC')),
      ).toBeLessThan(1e-5);
    }
  });
  it('64 filters over 100 words of 128, batch 5: chunks of 4 and 1 images, summed in order', async () => {
    expect(
      await relativeError(convGradient('filter', [5, 1, 100, 128], [1, 5, 128, 64], [1, 1], 'valid', 'NHWC')),
    ).toBeLessThan(1e-5);
  });
  for (const [padName, pad] of [
    ...PADS.filter(([name]) => !name.startsWith('explicit')),
    [
      'explicit',
      [
        [0, 0],
        [0, 0],
        [2, 1],
        [0, 0],
      ],
    ],
  ] as Array<[string, unknown]>) {
    for (const strides of [
      [1, 1],
      [1, 2],
      [1, 3],
    ] as Array<[number, number]>) {
      it(`64 filters, strides ${strides[1]}, padding ${padName}`, async () => {
        expect(
          await relativeError(convGradient('filter', [5, 1, 23, 6], [1, 4, 6, 64], strides, pad, 'NHWC')),
        ).toBeLessThan(1e-5);
      });
    }
  }
  it('tf.conv2dTranspose end to end: the gradients of its input and filter through tf.grads', async () => {
    const make = () =>
      tf.grads((x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, 9, 9, 3], 2, 'same'))),
      )([random([2, 5, 5, 4], 76), random([3, 3, 3, 4], 77)]);
    expect(await relativeError(make)).toBeLessThan(1e-5);
  });
  it('tf.conv1d end to end: its gradients through tf.grads', async () => {
    const make = () =>
      tf.grads((x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.square(tf.conv1d(x as tf.Tensor3D, w as tf.Tensor3D, 2, 'same'))),
      )([random([4, 17, 8], 74), random([3, 8, 96], 75)]);
    expect(await relativeError(make)).toBeLessThan(1e-5);
  });
});

describe('MaxPoolGrad and AvgPoolGrad', () => {
  const poolGradient =
    (
      kind: 'max' | 'avg',
      x: Shape4,
      filterSize: [number, number],
      strides: [number, number],
      pad: unknown,
      values: () => tf.Tensor,
    ) =>
    () => {
      const input = values();
      const info = tf.backend_util.computePool2DInfo(x, filterSize, strides, 1, pad as never);
      const dy = random(info.outShape, 81);
      const attrs = { filterSize, strides, pad };
      return kind === 'max'
        ? run(
            'MaxPoolGrad',
            // the pooled values are an input tfjs passes, which neither backend reads: tfjs-wasm's MaxPool would write
            // past its output for a numeric padding and a non-square window
            { dy, input, output: random(info.outShape, 82) },
            attrs,
          )
        : run('AvgPoolGrad', { dy, input }, attrs);
    };
  const x: Shape4 = [2, 9, 8, 3];
  const geometries: Array<[string, [number, number], [number, number], unknown]> = [
    ['2x2, strides 2, valid', [2, 2], [2, 2], 'valid'],
    ['3x3, strides 2, same (overlapping windows)', [3, 3], [2, 2], 'same'],
    ['3x2, strides 1, a number', [3, 2], [1, 1], 1],
    [
      '2x3, strides 3x1, explicit',
      [2, 3],
      [3, 1],
      [
        [0, 0],
        [1, 0],
        [0, 2],
        [0, 0],
      ],
    ],
  ];
  for (const kind of ['max', 'avg'] as const) {
    for (const [name, filterSize, strides, pad] of geometries) {
      it(`${kind} pool ${name}`, async () => {
        expect(await relativeError(poolGradient(kind, x, filterSize, strides, pad, () => random(x, 80)))).toBeLessThan(
          1e-5,
        );
      });
    }
  }

  it('max pool: a tie passes the gradient to the first largest pixel; a window of -Infinity passes none', async () => {
    const values = () => tf.tensor4d([5, 5, -Infinity, -Infinity, 1, 2, -Infinity, -Infinity], [1, 2, 4, 1]);
    const make = poolGradient('max', [1, 2, 4, 1], [2, 2], [2, 2], 'valid', values);
    expect(await relativeError(make)).toBe(0);
    await tf.setBackend('wasm');
    const dx = Array.from(tf.tidy(make).dataSync());
    expect(dx.filter((v) => v !== 0)).toHaveLength(1);
    expect(dx[0]).not.toBe(0);
  });
});

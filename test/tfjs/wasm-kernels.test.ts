/**
 * useWasmTrainingKernels: every kernel it registers agrees with tfjs's cpu backend (within 1e-5
 * of the result's scale) across the shapes, transposes, activations, strides, paddings and
 * formats tfjs allows; models train on wasm with the cpu backend's gradients; restore brings
 * tfjs's own kernels (and their wrong results) back; thousands of calls leak nothing.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { useWasmTrainingKernels } from '../../dist/src/tfjs.js';
import { random, relativeError, wasmTrainingKernelsForFile } from '../helpers/backends.js';

const installed = wasmTrainingKernelsForFile();

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'prelu', 'sigmoid'] as const;
const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

/**
 * [a's shape, b's shape] as products without transposes; a case with tA/tB swaps the last two
 * dims. With a fourth entry, the cpu reference tiles a and b to the output's batch first: tfjs's
 * cpu backend gets a product whose operands both broadcast wrong (90 values where there are 180).
 */
const PRODUCTS: Array<[string, number[], number[], ([number[], number[]] | undefined)?]> = [
  ['2-D', [7, 5], [5, 6]],
  ['2-D, wide', [33, 70], [70, 17]],
  ['batched', [3, 5, 4], [3, 4, 6]],
  ['batched, b broadcast', [3, 5, 4], [1, 4, 6]],
  ['batched, a broadcast', [1, 5, 4], [3, 4, 6]],
  ['batched, a 2-D', [5, 4], [3, 4, 6]],
  ['batched, b 2-D', [3, 5, 4], [4, 6]],
  [
    'rank 4, both broadcast',
    [2, 1, 5, 4],
    [1, 3, 4, 6],
    [
      [1, 3, 1, 1],
      [2, 1, 1, 1],
    ],
  ],
];

const transposedShape = (shape: number[], t: boolean) =>
  t ? [...shape.slice(0, -2), shape.at(-1)!, shape.at(-2)!] : shape;

describe('BatchMatMul', () => {
  for (const [name, aShape, bShape, tiles] of PRODUCTS) {
    for (const [tA, tB] of TRANSPOSES) {
      it(`${name} ${aShape.join()}x${bShape.join()}, transposeA ${tA}, transposeB ${tB}`, async () => {
        const [a, b] = [() => random(transposedShape(aShape, tA), 1), () => random(transposedShape(bShape, tB), 2)];
        const error = await relativeError(
          () => tf.matMul(a(), b(), tA, tB),
          tiles && (() => tf.matMul(tf.tile(a(), tiles[0]), tf.tile(b(), tiles[1]), tA, tB)),
        );
        expect(error).toBeLessThan(1e-5);
      });
    }
  }

  it("the same data as a right operand under another shape (a reshape shares it): XNNPACK's packing is not reused", async () => {
    const error = await relativeError(() => {
      const w = random([4, 6], 5);
      const fused = tf.fused.matMul({ a: random([1, 3, 4], 6), b: tf.reshape(w, [1, 4, 6]), bias: random([6], 7) });
      return [
        tf.matMul(random([2, 4], 8), w),
        fused,
        tf.matMul(random([2, 6], 9), tf.reshape(w, [6, 4])),
        tf.matMul(random([2, 3], 10), tf.reshape(w, [3, 8])),
      ];
    });
    expect(error).toBeLessThan(1e-5);
  });

  it('refuses inner dimensions that do not match, as tfjs does', async () => {
    await tf.setBackend('wasm');
    expect(() => tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 2])))).toThrow(/inner shapes \(3\) and \(4\)/);
  });
});

describe('_FusedMatMul', () => {
  const fusedCases: Array<[string, number[], number[], boolean, boolean]> = [
    ['2-D (XNNPACK)', [1, 6, 5], [1, 5, 4], false, false],
    ['transposeA', [1, 5, 6], [1, 5, 4], true, false],
    ['transposeB', [1, 6, 5], [1, 4, 5], false, true],
    ['both transposed', [1, 5, 6], [1, 4, 5], true, true],
    ['batch of 3', [3, 5, 4], [3, 4, 6], false, false],
  ];
  for (const [name, aShape, bShape, tA, tB] of fusedCases) {
    for (const activation of ACTIVATIONS) {
      for (const withBias of [false, true]) {
        it(`${name}, ${activation}, ${withBias ? 'bias' : 'no bias'}`, async () => {
          const n = tB ? bShape.at(-2)! : bShape.at(-1)!;
          const error = await relativeError(() =>
            tf.fused.matMul({
              a: random(aShape, 3),
              b: random(bShape, 4),
              transposeA: tA,
              transposeB: tB,
              bias: withBias ? random([n], 5) : undefined,
              activation,
              preluActivationWeights: activation === 'prelu' ? random([n], 6) : undefined,
              leakyreluAlpha: 0.3,
            }),
          );
          expect(error).toBeLessThan(1e-5);
        });
      }
    }
  }

  it('bias of shape [1] and PReLU weights per row: composed, since XNNPACK would read them per column', async () => {
    const error = await relativeError(() =>
      tf.fused.matMul({
        a: random([6, 5], 7),
        b: random([5, 4], 8),
        bias: random([1], 9),
        activation: 'prelu',
        preluActivationWeights: random([6, 1], 10),
      }),
    );
    expect(error).toBeLessThan(1e-5);
  });

  it("gradients through a fused product (tfjs's own gradient: transposed products)", async () => {
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const) {
      const error = await relativeError(() => {
        const f = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
          tf.sum(tf.mul(tf.fused.matMul({ a, b, bias, activation }), random([6, 4], 14)));
        return tf.grads(f)([random([6, 5], 11), random([5, 4], 12), random([4], 13)]);
      });
      expect(error, activation).toBeLessThan(1e-5);
    }
  });
});

describe('the backprop kernels tfjs-wasm lacks', () => {
  const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: object) =>
    tf.engine().runKernel<tf.Tensor>(name, inputs, attrs as tf.NamedAttrMap);

  const filterGradient =
    (
      x: number[],
      filter: [number, number, number, number],
      strides: [number, number],
      pad: never,
      dataFormat: 'NHWC' | 'NCHW',
    ) =>
    () => {
      const input = random(x, 20);
      const format = dataFormat === 'NHWC' ? 'channelsLast' : 'channelsFirst';
      const info = tf.backend_util.computeConv2DInfo(x as never, filter, strides, 1, pad, undefined, false, format);
      const dyShape = info.outShape;
      return run(
        'Conv2DBackpropFilter',
        { x: input, dy: random(dyShape, 21) },
        { strides, pad, dataFormat, filterShape: filter },
      );
    };

  const pads: Array<[string, unknown]> = [
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
    ['a number', 1],
  ];
  for (const dataFormat of ['NHWC', 'NCHW'] as const) {
    for (const strides of [
      [1, 1],
      [2, 2],
      [2, 1],
    ] as Array<[number, number]>) {
      for (const [padName, pad] of pads) {
        it(`Conv2DBackpropFilter ${dataFormat}, strides ${strides.join()}, padding ${padName}`, async () => {
          const x = dataFormat === 'NHWC' ? [2, 9, 8, 3] : [2, 3, 9, 8];
          // explicit paddings are given in the data's own order
          const ordered = Array.isArray(pad) && dataFormat === 'NCHW' ? [pad[0], pad[3], pad[1], pad[2]] : pad;
          const filter: [number, number, number, number] = [3, 2, 3, 4];
          const error = await relativeError(filterGradient(x, filter, strides, ordered as never, dataFormat));
          expect(error).toBeLessThan(1e-5);
        });
      }
    }
  }

  it('Conv2DBackpropFilter over a batch taken in chunks (the patches past their bound)', async () => {
    const error = await relativeError(
      filterGradient([24, 30, 30, 32], [3, 3, 32, 4], [1, 1], 'valid' as never, 'NHWC'),
    );
    expect(error).toBeLessThan(1e-5);
  });

  const depthwise =
    (
      kind: 'filter' | 'input',
      dilations: [number, number],
      strides: [number, number],
      pad: unknown,
      multiplier: number,
    ) =>
    () => {
      const x = [2, 9, 8, 3];
      const filterShape = [3, 2, 3, multiplier];
      const info = tf.backend_util.computeConv2DInfo(
        x as never,
        filterShape as never,
        strides,
        dilations,
        pad as never,
        undefined,
        true,
      );
      const dy = random(info.outShape, 31);
      const attrs = { strides, dilations, pad, filterShape, inputShape: x };
      return kind === 'filter'
        ? run('DepthwiseConv2dNativeBackpropFilter', { x: random(x, 30), dy }, attrs)
        : run('DepthwiseConv2dNativeBackpropInput', { dy, filter: random(filterShape, 32) }, attrs);
    };
  for (const kind of ['filter', 'input'] as const) {
    for (const strides of [
      [1, 1],
      [2, 2],
      [1, 2],
    ] as Array<[number, number]>) {
      for (const [padName, pad] of pads) {
        for (const multiplier of [1, 2]) {
          it(`DepthwiseConv2dNativeBackprop${kind === 'filter' ? 'Filter' : 'Input'}: strides ${strides.join()}, padding ${padName}, multiplier ${multiplier}`, async () => {
            expect(await relativeError(depthwise(kind, [1, 1], strides, pad, multiplier))).toBeLessThan(1e-5);
          });
        }
      }
    }
  }

  it('depthwise gradients with dilations: against the forward convolution (cpu ignores dilation in its gradients)', async () => {
    // the convolution is linear in the filter and in the input: <dy, conv(x, e_i)> is d(loss)/d(filter_i)
    await tf.setBackend('wasm');
    const [x, filterShape, dilations] = [[1, 7, 7, 2], [2, 2, 2, 2], [2, 2] as [number, number]];
    const xs = random(x, 40);
    const w = random(filterShape, 41);
    const conv = (input: tf.Tensor, filter: tf.Tensor) =>
      tf.depthwiseConv2d(input as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same', 'NHWC', dilations);
    const dy = random(conv(xs, w).shape, 42);
    const loss = (input: tf.Tensor, filter: tf.Tensor) => tf.sum(tf.mul(conv(input, filter), dy));
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const basis = (shape: number[], i: number) =>
      tf.reshape(tf.cast(tf.oneHot(tf.tensor1d([i], 'int32'), size(shape)), 'float32'), shape);
    const wantFilter = Array.from(
      { length: size(filterShape) },
      (_, i) => loss(xs, basis(filterShape, i)).dataSync()[0]!,
    );
    const wantInput = Array.from({ length: size(x) }, (_, i) => loss(basis(x, i), w).dataSync()[0]!);
    const attrs = { strides: 1, dilations, pad: 'same', filterShape, inputShape: x };
    const gotFilter = run('DepthwiseConv2dNativeBackpropFilter', { x: xs, dy }, attrs).dataSync();
    const gotInput = run('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, attrs).dataSync();
    wantFilter.forEach((v, i) => expect(gotFilter[i]).toBeCloseTo(v, 4));
    wantInput.forEach((v, i) => expect(gotInput[i]).toBeCloseTo(v, 4));
  });

  it('UnsortedSegmentSum: float rows by segment, ids out of range dropped', async () => {
    const error = await relativeError(() =>
      tf.unsortedSegmentSum(random([7, 3, 2], 50), tf.tensor1d([0, 2, 2, -1, 4, 0, 9], 'int32'), 5),
    );
    expect(error).toBeLessThan(1e-5);
  });

  it('UnsortedSegmentSum: int32 rows', async () => {
    await tf.setBackend('wasm');
    const sums = tf.unsortedSegmentSum(
      tf.tensor2d(
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        [3, 2],
        'int32',
      ),
      tf.tensor1d([1, 1, 0], 'int32'),
      3,
    );
    expect(sums.dtype).toBe('int32');
    expect(Array.from(sums.dataSync())).toEqual([5, 6, 4, 6, 0, 0]);
  });

  it('UnsortedSegmentSum: ids that are not one per row are refused', async () => {
    await tf.setBackend('wasm');
    expect(() =>
      run('UnsortedSegmentSum', { x: tf.ones([2, 2]), segmentIds: tf.zeros([2, 2], 'int32') }, { numSegments: 2 }),
    ).toThrow(/segmentIds must be 1-D with one id per row of x \(2\); got shape \[2,2\]/);
  });
});

describe("models train on wasm with the cpu backend's gradients", () => {
  /** The gradients of `loss(model(x), y)` for every trainable weight of `model` (built once: the same weights on both backends). */
  const gradientsOf = (model: tfl.LayersModel, x: () => tf.Tensor, y: () => tf.Tensor, loss: string) => () => {
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const lossOf = tfl.metrics[loss as 'meanSquaredError'];
    const { value, grads } = tf.variableGrads(
      () => tf.mean(lossOf(y(), model.apply(x(), { training: true }) as tf.Tensor)),
      weights,
    );
    return [value, ...weights.map((w) => grads[w.name]!)];
  };
  const oneHot = (rows: number, classes: number) =>
    tf.oneHot(
      tf.tensor1d(
        Array.from({ length: rows }, (_, i) => (i * 7) % classes),
        'int32',
      ),
      classes,
    );

  function cnn(): tfl.Sequential {
    const model = tfl.sequential();
    model.add(tfl.layers.conv2d({ inputShape: [12, 12, 2], filters: 4, kernelSize: 3, activation: 'relu' }));
    model.add(
      tfl.layers.depthwiseConv2d({
        kernelSize: 3,
        depthMultiplier: 2,
        padding: 'same',
        strides: 2,
        activation: 'relu',
      }),
    );
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 5, activation: 'softmax' }));
    return model;
  }

  function embedding(): tfl.Sequential {
    const model = tfl.sequential();
    model.add(tfl.layers.embedding({ inputDim: 20, outputDim: 6, inputLength: 5 }));
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 3, activation: 'softmax' }));
    return model;
  }

  function denseStack(): tfl.Sequential {
    const model = tfl.sequential();
    model.add(tfl.layers.dense({ inputShape: [10], units: 16, activation: 'relu' }));
    model.add(tfl.layers.dense({ units: 12, activation: 'elu' }));
    model.add(tfl.layers.dense({ units: 4 }));
    return model;
  }

  const ids = () =>
    tf.tensor2d(
      Array.from({ length: 8 * 5 }, (_, i) => (i * 7) % 20),
      [8, 5],
    );
  const cases: Array<[string, () => tfl.Sequential, () => tf.Tensor, () => tf.Tensor, string]> = [
    [
      'a CNN (Conv2D, DepthwiseConv2D, MaxPool, Dense)',
      cnn,
      () => random([8, 12, 12, 2], 60),
      () => oneHot(8, 5),
      'categoricalCrossentropy',
    ],
    ['an Embedding model', embedding, ids, () => oneHot(8, 3), 'categoricalCrossentropy'],
    ['a Dense stack', denseStack, () => random([8, 10], 61), () => random([8, 4], 62), 'meanSquaredError'],
  ];
  for (const [name, make, x, y, loss] of cases) {
    it(`${name}: gradients within 1e-5 of scale, and trainOnBatch runs on wasm`, async () => {
      await tf.setBackend('cpu');
      const model = make();
      expect(await relativeError(gradientsOf(model, x, y, loss))).toBeLessThan(1e-5);
      await tf.setBackend('wasm');
      model.compile({ optimizer: tf.train.sgd(0.1), loss });
      const [xs, ys] = [x(), y()];
      const before = model.getWeights().map((w) => w.dataSync().slice());
      const first = (await model.trainOnBatch(xs, ys)) as number;
      const second = (await model.trainOnBatch(xs, ys)) as number;
      expect(Number.isFinite(first) && Number.isFinite(second)).toBe(true);
      expect(model.getWeights().some((w, k) => w.dataSync().some((v, i) => v !== before[k]![i]))).toBe(true);
      tf.dispose([xs, ys]);
      model.dispose();
    });
  }

  it('a model with batched products (attention: rank-3 matMul, transposed and not)', async () => {
    const error = await relativeError(() => {
      const [wq, wk, wv] = [random([6, 4], 70), random([6, 4], 71), random([6, 4], 72)];
      const x = random([3, 5, 6], 73);
      const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
        const project = (w: tf.Tensor) => tf.reshape(tf.matMul(tf.reshape(x, [15, 6]), w), [3, 5, 4]);
        const scores = tf.softmax(tf.matMul(project(q), project(k), false, true));
        return tf.sum(tf.mul(tf.matMul(scores, project(v)), random([3, 5, 4], 74)));
      };
      return tf.grads(f)([wq, wk, wv]);
    });
    expect(error).toBeLessThan(1e-5);
  });
});

describe("tfjs-wasm's forward convolutions, guarded", () => {
  it('refuse a geometry tfjs sizes smaller than XNNPACK writes (numeric padding, non-square filter)', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones<tf.Rank.R4>([1, 9, 8, 1]);
    expect(() => tf.conv2d(x, tf.ones<tf.Rank.R4>([3, 2, 1, 1]), 1, 1)).toThrow(
      /^Conv2D: tfjs sizes this convolution's output 9x8, but tfjs-wasm's XNNPACK would write 9x9, past the end of the output \(padding 1, filter 3x2, strides 1x1\)/,
    );
    expect(() => tf.depthwiseConv2d(x, tf.ones<tf.Rank.R4>([3, 2, 1, 1]), 1, 1)).toThrow(
      /^DepthwiseConv2dNative: tfjs sizes this convolution's output 9x8, but tfjs-wasm's XNNPACK would write 9x9/,
    );
    expect(() =>
      tf.fused.conv2d({ x, filter: tf.ones<tf.Rank.R4>([3, 3, 1, 1]), strides: 2, pad: 0, dimRoundingMode: 'ceil' }),
    ).toThrow(
      /^FusedConv2D: tfjs sizes this convolution's output 4x4, but tfjs-wasm's XNNPACK would write 4x3, leaving part of the output unwritten \(padding 0, filter 3x3, strides 2x2, dimRoundingMode 'ceil'\)/,
    );
    tf.dispose(x);
  });

  it('pass every geometry tfjs and XNNPACK agree on to tfjs-wasm', async () => {
    for (const pad of [
      'same',
      'valid',
      1,
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ] as const) {
      const error = await relativeError(() =>
        tf.conv2d(random([2, 9, 9, 2], 100) as tf.Tensor4D, random([3, 3, 2, 3], 101) as tf.Tensor4D, 2, pad as never),
      );
      expect(error, JSON.stringify(pad)).toBeLessThan(1e-5);
    }
  });
});

describe('installing and restoring', () => {
  it("a second call wraps nothing twice; restore puts tfjs's own kernels back, wrong results and all", async () => {
    const ours = tf.getKernel('BatchMatMul', 'wasm');
    const again = useWasmTrainingKernels(tf);
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBe(ours);
    expect([...again.replaced]).toEqual([
      'BatchMatMul',
      '_FusedMatMul',
      'Conv2D',
      'FusedConv2D',
      'DepthwiseConv2dNative',
      'FusedDepthwiseConv2D',
      'Conv2DBackpropInput',
      'MaxPoolGrad',
      'AvgPoolGrad',
      'Unpack',
      'GatherV2',
      'Equal',
      'NotEqual',
      'Greater',
      'GreaterEqual',
      'Less',
      'LessEqual',
      'LogicalAnd',
      'LogicalOr',
    ]);
    expect([...again.added]).toEqual(installed.kernels.added);
    expect([...installed.kernels.added]).toEqual([
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
    ]);
    const wrongCase = () =>
      tf.fused.matMul({ a: random([1, 2, 3], 80), b: random([1, 2, 3], 81), transposeA: true, bias: random([3], 82) });
    expect(await relativeError(wrongCase)).toBeLessThan(1e-5);
    again();
    try {
      expect(tf.getKernel('BatchMatMul', 'wasm')).not.toBe(ours);
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
      expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeUndefined();
      // tfjs-wasm's own fused product with a transpose and a bias
      expect(await relativeError(wrongCase)).toBeGreaterThan(0.01);
    } finally {
      installed.kernels = useWasmTrainingKernels(tf);
    }
    expect(await relativeError(wrongCase)).toBeLessThan(1e-5);
  });

  it('says what is wrong with what it was given', () => {
    expect(() => useWasmTrainingKernels({} as typeof tf)).toThrow(/'tf' must be the tfjs module/);
    const withoutWasm = { ...tf, getKernel: () => undefined } as unknown as typeof tf;
    expect(() => useWasmTrainingKernels(withoutWasm)).toThrow(
      /no wasm backend registered: import '@tensorflow\/tfjs-backend-wasm'/,
    );
    expect(() => useWasmTrainingKernels({ ...tf, version_core: '3.21.0' } as unknown as typeof tf)).toThrow(
      /needs tfjs 4.x; this tfjs-core is '3.21.0'/,
    );
  });

  it('says so in a warning when tfjs runs on another backend', async () => {
    await tf.setBackend('cpu');
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    useWasmTrainingKernels(tf);
    const warning = (await warned) as Error & { code?: string };
    expect(warning.code).toBe('RMSPROP_POOL_TFJS_NOT_WASM');
    expect(warning.message).toMatch(/tfjs runs on its 'cpu' backend; the kernels take effect on 'wasm'/);
    await tf.setBackend('wasm');
  });

  it('thousands of calls leak no tensor and no heap memory', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number; wasm: { HEAPU8: Uint8Array } };
    const inputs = {
      a: random([3, 5, 4], 90),
      b: random([4, 6], 91),
      x: random([2, 6, 6, 2], 92),
      ids: tf.tensor1d([0, 1, 1, 0], 'int32'),
      rows: random([4, 3], 93),
    };
    const once = () =>
      tf.tidy(() => {
        const f = (a: tf.Tensor, b: tf.Tensor, x: tf.Tensor, rows: tf.Tensor) =>
          tf.add(
            tf.add(
              tf.sum(
                tf.fused.matMul({
                  a: tf.reshape(a, [15, 4]),
                  b,
                  transposeB: false,
                  bias: tf.ones([6]),
                  activation: 'relu',
                }),
              ),
              tf.sum(tf.matMul(a, a, true, false)),
            ),
            tf.add(
              tf.sum(
                tf.depthwiseConv2d(
                  tf.conv2d(x as tf.Tensor4D, tf.ones<tf.Rank.R4>([2, 2, 2, 2]), 1, 'same'),
                  tf.ones<tf.Rank.R4>([2, 2, 2, 1]),
                  1,
                  'valid',
                ),
              ),
              tf.sum(tf.gather(rows, inputs.ids)),
            ),
          );
        const grads = tf.grads(f)([inputs.a, inputs.b, inputs.x, inputs.rows]);
        grads.forEach((g) => g.dataSync());
      });
    for (let i = 0; i < 20; i++) once();
    const [tensors, dataIds, heap] = [tf.memory().numTensors, backend.numDataIds(), backend.wasm.HEAPU8.length];
    for (let i = 0; i < 2000; i++) once();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(dataIds);
    expect(backend.wasm.HEAPU8.length).toBe(heap);
    tf.dispose(Object.values(inputs));
  });
});

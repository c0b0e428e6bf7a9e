/**
 * tfjs's chained ops (`x.flatten()`, `x.transpose()`, `x.sign()`, ...) are methods that
 * `@tensorflow/tfjs` adds to tfjs-core's Tensor class; tfjs-core's own Node bundle does not add
 * them. tfjs-layers calls some of them: its orthogonal initializer, the default recurrent
 * initializer of LSTM and GRU, fails with `rMat.flatten is not a function` when the program
 * imports `@tensorflow/tfjs-core`, a backend and `@tensorflow/tfjs-layers`, as this library's
 * docs do. `useChainedOps(tf)` adds every chained op tfjs 4.x defines, each calling the op as
 * tfjs's own does, and leaves a method already there as it is.
 */
import type * as TF from '@tensorflow/tfjs-core';

type Tf = typeof TF;
type Op = (...args: unknown[]) => unknown;
type Method = (this: TF.Tensor, ...args: never[]) => unknown;

/** Methods that call the op of their own name with the tensor first: `x.abs()` is `tf.abs(x)`. */
const SAME_NAME = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2',
  'atanh', 'batchToSpaceND', 'batchNorm', 'broadcastTo', 'cast', 'ceil', 'clipByValue', 'conv1d',
  'conv2d', 'conv2dTranspose', 'cos', 'cosh', 'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d',
  'dilation2d', 'div', 'divNoNan', 'dot', 'elu', 'equal', 'erf', 'euclideanNorm', 'exp', 'expandDims',
  'expm1', 'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'isFinite', 'isInf', 'isNaN',
  'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p', 'logSigmoid',
  'logSoftmax', 'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max',
  'maxPool', 'avgPool', 'maximum', 'mean', 'min', 'minimum', 'mirrorPad', 'mod', 'mul', 'neg', 'norm',
  'notEqual', 'oneHot', 'onesLike', 'pad', 'pool', 'pow', 'prelu', 'prod', 'reciprocal', 'relu',
  'relu6', 'reshape', 'reverse', 'round', 'rsqrt', 'selu', 'separableConv2d', 'sigmoid', 'sign',
  'sin', 'sinh', 'slice', 'softmax', 'softplus', 'spaceToBatchND', 'split', 'sqrt', 'square',
  'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub', 'sum', 'tan', 'tanh', 'tile',
  'topk', 'transpose', 'unique', 'unsortedSegmentSum', 'unstack', 'zerosLike',
] as const; // prettier-ignore

/** The same, for ops tfjs keeps in a namespace. */
const NAMESPACED = {
  image: ['resizeBilinear', 'resizeNearestNeighbor'],
  spectral: ['fft', 'ifft', 'rfft', 'irfft'],
} as const;

/** The methods that are not a plain call, as tfjs-core's chained ops define them. */
function specialMethods(tf: Tf): Record<string, Method> {
  const reshapeTo = (shape: (x: TF.Tensor, dims: number[]) => number[]) =>
    function (this: TF.Tensor, ...dims: number[]) {
      return tf.reshape(this, shape(this, dims));
    };
  const flat = reshapeTo((x) => [x.size]);
  const asShape = reshapeTo((_, dims) => dims);
  return {
    flatten: flat,
    as1D: flat,
    as2D: asShape,
    as3D: asShape,
    as4D: asShape,
    as5D: asShape,
    asScalar(this: TF.Tensor) {
      if (this.size !== 1) throw new Error('The array must have only 1 element.');
      return tf.reshape(this, []);
    },
    reshapeAs(this: TF.Tensor, x: TF.Tensor) {
      return tf.reshape(this, x.shape);
    },
    asType(this: TF.Tensor, dtype: TF.DataType) {
      return tf.cast(this, dtype);
    },
    toBool(this: TF.Tensor) {
      return tf.cast(this, 'bool');
    },
    toFloat(this: TF.Tensor) {
      return tf.cast(this, 'float32');
    },
    toInt(this: TF.Tensor) {
      return tf.cast(this, 'int32');
    },
    concat(this: TF.Tensor, x: TF.Tensor | TF.Tensor[], axis?: number) {
      return tf.concat([this, ...(x instanceof tf.Tensor ? [x] : x)], axis);
    },
    stack(this: TF.Tensor, x: TF.Tensor | TF.Tensor[], axis?: number) {
      return tf.stack([this, ...(x instanceof tf.Tensor ? [x] : x)], axis);
    },
    where(this: TF.Tensor, condition: TF.Tensor, x: TF.Tensor) {
      return tf.where(condition, this, x);
    },
  };
}

/** Calls `op` with the tensor first, after tfjs's disposed-tensor check. */
function calling(op: Op): Method {
  return function (this: TF.Tensor, ...args: never[]) {
    (this as unknown as { throwIfDisposed(): void }).throwIfDisposed();
    return op(this, ...args);
  };
}

/**
 * Adds tfjs's chained ops (`x.flatten()`, `x.sign()`, `x.stridedSlice(...)`, ...) to tfjs-core's
 * Tensor class where they are missing, as `@tensorflow/tfjs` adds them: LSTM and GRU layers (their
 * default orthogonal initializer) then build with `@tensorflow/tfjs-core` and
 * `@tensorflow/tfjs-layers` alone. Call it once, before building the model. The tfjs replica's
 * threads call it themselves. Returns the methods it added.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import * as tfl from '@tensorflow/tfjs-layers';
 * useChainedOps(tf);
 * const model = tfl.sequential({ layers: [tfl.layers.lstm({ units: 8, inputShape: [5, 3] })] });
 * ```
 */
export function useChainedOps(tf: Tf): string[] {
  const prototype = tf.Tensor.prototype as unknown as Record<string, Method | undefined>;
  const methods: Record<string, Method> = specialMethods(tf);
  const api = tf as unknown as Record<string, unknown>;
  for (const name of SAME_NAME) if (typeof api[name] === 'function') methods[name] = calling(api[name] as Op);
  for (const [space, names] of Object.entries(NAMESPACED)) {
    const ops = api[space] as Record<string, unknown> | undefined;
    for (const name of names) if (typeof ops?.[name] === 'function') methods[name] = calling(ops[name] as Op);
  }
  const added: string[] = [];
  for (const [name, method] of Object.entries(methods)) {
    if (typeof prototype[name] === 'function') continue;
    Object.defineProperty(prototype, name, { value: method, writable: true, configurable: true });
    added.push(name);
  }
  return added;
}

/**
 * The tfjs optimizer adapter: an RMSprop as a TensorFlow.js optimizer, for `model.compile({ optimizer })`
 * and `model.fit()` in @tensorflow/tfjs-layers (an optional peer dependency).
 *
 * tfjs owns its variables' memory, so the adapter keeps a staging copy of each in the pool's
 * shared memory: every step copies the model's values and the gradients in, and the updated
 * values back out (new tensors, so tfjs never aliases shared memory the next step rewrites).
 * The model's variables are the truth; the staging copies only live for the step. tfjs calls
 * `applyGradients` synchronously and reads the variables right after, so the step is
 * `applySync` (the pool still does the work once its threads are up).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types.js';
import { camelToSnake } from '../common/keras-names.js';
import { quote } from '../common/quote.js';
import { RMSprop } from '../optimizer/optimizer.js';
import type { KerasConfig } from '../optimizer/options.js';
import { Variable } from '../optimizer/variable.js';

interface Mirror {
  readonly ours: Variable;
  readonly theirs: tf.Variable;
}

/** Optimizer weights given to `setWeights` before the first step built the optimizer. */
interface HeldWeights {
  readonly names: readonly string[];
  readonly tensors: ReadonlyArray<{
    values: Float32Array | Int32Array;
    shape: readonly number[];
    dtype: 'float32' | 'int32';
  }>;
}

/** A tfjs-layers callback (`CustomCallbackArgs`): pass it in `model.fit(x, y, { callbacks })`. */
export interface TrainEndCallback {
  /** Called by tfjs when `fit` ends. */
  onTrainEnd(): void;
}

/**
 * RMSprop for `model.compile({ optimizer })`. Registered with tfjs as 'RMSpropPool', so
 * `model.save(..., { includeOptimizer: true })` and `tf.loadLayersModel` carry it and its state.
 *
 * @example
 * ```ts
 * const adapter = tfjsOptimizer(new RMSprop({ learningRate: 1e-3, useEma: true }));
 * model.compile({ optimizer: adapter, loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 5, callbacks: [adapter.finalizeOnTrainEnd()] });
 * ```
 */
export class TfjsRMSprop extends tf.Optimizer {
  /** The name tfjs registers and serializes this class under. */
  static className = 'RMSpropPool';
  /**
   * The wrapped optimizer (close it when done: its threads are its own). Its variables are the
   * adapter's staging copies: use the adapter's `finalizeVariableValues()` to reach the model.
   */
  readonly optimizer: RMSprop;
  /** Our variable for each tfjs variable, in the order of the first step; set once. */
  #mirrors: Mirror[] = [];
  #ours: Variable[] = [];
  #index = new Map<string, number>();
  /** This step's gradients, by mirror (sized once; tfjs owns the arrays). */
  #grads: Array<Float32Array | null> = [];
  #held: HeldWeights | null = null;
  /** Restoring held weights failed at the first step: every later step says so too. */
  #failure: Error | null = null;

  constructor(optimizer: RMSprop) {
    super();
    if (!(optimizer instanceof RMSprop))
      throw new TypeError(`tfjsOptimizer: expected an RMSprop, got ${quote(optimizer)}`);
    this.optimizer = optimizer;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    if (this.#failure !== null) throw this.#failure;
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name]! }));
    if (this.#mirrors.length === 0) this.#mirror(named.map((g) => g.name));
    this.#grads.fill(null);
    for (const { name, tensor } of named) {
      const i = this.#index.get(name);
      if (i === undefined) {
        const first = [...this.#index.keys()].join(', ');
        throw new Error(`tfjsOptimizer: variable '${name}' was not among those of the first step (${first})`);
      }
      if (tensor.dtype !== 'float32')
        throw new TypeError(`tfjsOptimizer: the gradient of '${name}' is ${tensor.dtype}, expected float32`);
      this.#grads[i] = tensor.dataSync() as Float32Array;
    }
    this.#pull();
    this.optimizer.applySync(this.#grads, this.#ours);
    this.#push();
    this.incrementIterations();
  }

  /**
   * Keras's `finalize_variable_values` for the model: with `useEma`, the model's variables take
   * their moving averages. Does nothing before the first step or without `useEma`; throws before
   * the first step of a loaded model, whose state is applied at that step.
   */
  finalizeVariableValues(): void {
    if (this.#held !== null) {
      // the loaded state is applied when the first step names the variables: nothing to finalize yet
      throw new Error(
        'tfjsOptimizer: finalizeVariableValues() before the first step of a loaded model: its optimizer ' +
          'state is applied at that step; finalize after training (finalizeOnTrainEnd does)',
      );
    }
    if (this.#mirrors.length === 0) return;
    this.#pull();
    this.optimizer.finalizeVariableValues(this.#ours);
    this.#push();
  }

  /**
   * A `model.fit` callback that finalizes at the end of training, as Keras's `fit` does: with
   * `useEma`, the trained model holds the moving averages.
   */
  finalizeOnTrainEnd(): TrainEndCallback {
    return { onTrainEnd: () => this.finalizeVariableValues() };
  }

  /** The model's values into the staging copies: tfjs may have changed them (setWeights, loads). */
  #pull(): void {
    for (const m of this.#mirrors) m.ours.value.set(m.theirs.dataSync());
  }

  /** The staging copies into the model, as new tensors. */
  #push(): void {
    for (const m of this.#mirrors)
      tf.tidy(() => m.theirs.assign(tf.tensor(m.ours.value.slice(), m.theirs.shape, 'float32')));
  }

  /** Builds the optimizer over copies of the tfjs variables named in the first step; applies held weights. */
  #mirror(names: readonly string[]): void {
    const registered = tf.engine().registeredVariables;
    const mirrors = names.map((name): Mirror => {
      const theirs = registered[name];
      if (theirs === undefined) throw new Error(`tfjsOptimizer: no tfjs variable is named '${name}'`);
      if (theirs.dtype !== 'float32')
        throw new TypeError(`tfjsOptimizer: variable '${name}' is ${theirs.dtype}, only float32 is supported`);
      return { theirs, ours: new Variable(theirs.dataSync(), { name, shape: theirs.shape }) };
    });
    this.optimizer.build(mirrors.map((m) => m.ours));
    if (this.#held !== null) {
      try {
        this.#restore(this.#held.tensors.map((t) => t.values));
      } catch (cause) {
        this.#failure = new Error(
          `tfjsOptimizer: the optimizer weights given to setWeights do not fit the model's variables: ${(cause as Error).message}`,
          { cause },
        );
        throw this.#failure;
      }
      this.#held = null;
    }
    this.#mirrors = mirrors;
    this.#ours = mirrors.map((m) => m.ours);
    this.#index = new Map(names.map((name, i) => [name, i]));
    this.#grads = mirrors.map(() => null);
  }

  /** tfjs's optimizer weights: the iteration counter, then Keras's state arrays by name. */
  // eslint-disable-next-line @typescript-eslint/require-await -- tfjs's API is async; async makes a throw a rejection
  override async getWeights(): Promise<NamedTensor[]> {
    if (this.#held !== null) {
      const { names, tensors } = this.#held;
      return tensors.map((t, i) => ({ name: names[i]!, tensor: tf.tensor(t.values.slice(), [...t.shape], t.dtype) }));
    }
    const [iteration, ...rest] = this.optimizer.variables;
    return [
      { name: 'iter', tensor: tf.scalar(iteration!.value[0]!, 'int32') },
      ...rest.map((v) => ({ name: v.name, tensor: tf.tensor(v.value.slice(), [...v.shape], 'float32') })),
    ];
  }

  /**
   * Restores `getWeights()`'s output. Before the first step (as `tf.loadLayersModel` calls it)
   * the optimizer is not built yet: the weights are held, then applied once the first step
   * has built it over the model's variables.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- as getWeights
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    if (!Array.isArray(weightValues) || weightValues.length === 0) {
      throw new TypeError(
        `setWeights: \`weightValues\` must be a non-empty array of named tensors, got ${quote(weightValues)}`,
      );
    }
    const tensors = weightValues.map(({ name, tensor }) => {
      if (!(tensor instanceof tf.Tensor) || (tensor.dtype !== 'float32' && tensor.dtype !== 'int32')) {
        throw new TypeError(`setWeights: weight '${name}' must be a float32 or int32 tensor`);
      }
      // copies: tfjs disposes the tensors it passed once this returns
      const values = (tensor.dataSync() as Float32Array | Int32Array).slice();
      return { values, shape: tensor.shape, dtype: tensor.dtype };
    });
    if (this.#mirrors.length > 0) return this.#restore(tensors.map((t) => t.values));
    const iteration = tensors[0]!.values;
    if (iteration.length !== 1 || !Number.isInteger(iteration[0]) || iteration[0]! < 0) {
      throw new RangeError(
        `setWeights: the first weight must be the iteration count, got ${quote(Array.from(iteration))}`,
      );
    }
    this.#held = { names: weightValues.map((w) => w.name), tensors };
    this.iterations_ = iteration[0]!;
  }

  #restore(arrays: ReadonlyArray<ArrayLike<number>>): void {
    const store: Record<string, ArrayLike<number>> = {};
    arrays.forEach((values, i) => (store[String(i)] = values));
    this.optimizer.loadOwnVariables(store);
    // tfjs counts applyGradients calls: Keras's raw counter, not `iterations` (updates, with accumulation)
    this.iterations_ = this.optimizer.variables[0]!.value[0]!;
  }

  /** Keras's config of the wrapped optimizer (snake_case), so `fromConfig` restores it. */
  override getConfig(): tf.serialization.ConfigDict {
    return this.optimizer.getConfig() as tf.serialization.ConfigDict;
  }

  /**
   * Restores an adapter from `getConfig()`, as tfjs does when loading a model. tfjs adds the
   * `customObjects` it deserializes with to every config; it is not an RMSprop argument.
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const { customObjects: _tfjsOwn, ...keras } = config;
    return new cls(RMSprop.fromConfig(kerasKeys(keras) as KerasConfig));
  }
}

/**
 * tfjs-layers hands a loaded model's configs over with camelCase keys (`learningRate`, a
 * schedule's `className` and `initialLearningRate`); Keras's keys are snake_case. Our configs
 * hold no string that tfjs changes on the way (it keeps `name`; class and module names have no '_').
 */
function kerasKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(kerasKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [camelToSnake(key), kerasKeys(inner)]));
}

tf.serialization.registerClass(TfjsRMSprop);

/** Wraps `optimizer` for tfjs: `model.compile({ optimizer: tfjsOptimizer(new RMSprop(...)), loss })`. */
export function tfjsOptimizer(optimizer: RMSprop): TfjsRMSprop {
  return new TfjsRMSprop(optimizer);
}

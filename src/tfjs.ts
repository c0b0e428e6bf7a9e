/**
 * `rmsprop-pool/tfjs`: an RMSprop as a TensorFlow.js optimizer, for `model.compile({ optimizer })`
 * and `model.fit()` in @tensorflow/tfjs-layers (an optional peer dependency).
 *
 * tfjs owns its variables' memory, so each step copies both ways: the tfjs values and gradients
 * into the pool's shared memory, the updated values back (new tensors, so tfjs never aliases
 * shared memory the next step rewrites). tfjs calls `applyGradients` synchronously and reads the
 * variables right after, so the step is `applySync` (the pool still does the work once its
 * threads are up).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types.js';
import { RMSprop } from './optimizer.js';
import { Variable } from './variable.js';

interface Mirror {
  readonly ours: Variable;
  readonly theirs: tf.Variable;
}

export class TfjsRMSprop extends tf.Optimizer {
  static className = 'RMSpropPool';
  /** The wrapped optimizer (close it when done: its threads are its own). */
  readonly optimizer: RMSprop;
  /** Our variable for each tfjs variable, by tfjs name, in the order of the first step. */
  readonly #mirrors = new Map<string, Mirror>();
  #ours: Variable[] = [];

  constructor(optimizer: RMSprop) {
    super();
    if (!(optimizer instanceof RMSprop)) throw new TypeError('tfjsOptimizer: expected an RMSprop');
    this.optimizer = optimizer;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name]! }));
    if (this.#mirrors.size === 0) this.#mirror(named.map((g) => g.name));
    const grads: Array<Float32Array | null> = this.#ours.map(() => null);
    const index = new Map(this.#ours.map((v, i) => [v.name, i]));
    for (const { name, tensor } of named) {
      const i = index.get(name);
      if (i === undefined) throw new Error(`tfjsOptimizer: variable '${name}' was not among those of the first step (${[...index.keys()].join(', ')})`);
      if (tensor.dtype !== 'float32') throw new TypeError(`tfjsOptimizer: the gradient of '${name}' is ${tensor.dtype}, expected float32`);
      grads[i] = tensor.dataSync() as Float32Array;
    }
    // tfjs's values are the truth (model.setWeights and friends write there): bring them in first
    for (const { ours, theirs } of this.#mirrors.values()) ours.value.set(theirs.dataSync() as Float32Array);
    this.optimizer.applySync(grads, this.#ours);
    for (const { ours, theirs } of this.#mirrors.values()) {
      tf.tidy(() => theirs.assign(tf.tensor(ours.value.slice(), theirs.shape, 'float32')));
    }
    this.incrementIterations();
  }

  /** Builds the optimizer over copies of the tfjs variables named in the first step. */
  #mirror(names: readonly string[]): void {
    const registered = tf.engine().registeredVariables;
    const mirrors = names.map((name): Mirror => {
      const theirs = registered[name];
      if (theirs === undefined) throw new Error(`tfjsOptimizer: no tfjs variable is named '${name}'`);
      if (theirs.dtype !== 'float32') throw new TypeError(`tfjsOptimizer: variable '${name}' is ${theirs.dtype}, only float32 is supported`);
      return { theirs, ours: new Variable(theirs.dataSync() as Float32Array, { name, shape: theirs.shape }) };
    });
    this.optimizer.build(mirrors.map((m) => m.ours));
    for (const m of mirrors) this.#mirrors.set(m.theirs.name, m);
    this.#ours = mirrors.map((m) => m.ours);
  }

  /** tfjs's optimizer weights: the iteration counter, then Keras's state arrays by name. */
  override async getWeights(): Promise<NamedTensor[]> {
    const [iteration, ...rest] = this.optimizer.variables;
    return [
      { name: 'iter', tensor: tf.scalar(iteration!.value[0]!, 'int32') },
      ...rest.map((v) => ({ name: v.name, tensor: tf.tensor(v.value.slice(), [...v.shape], 'float32') })),
    ];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const store: Record<string, ArrayLike<number>> = {};
    weightValues.forEach((w, i) => (store[String(i)] = w.tensor.dataSync() as ArrayLike<number>));
    this.optimizer.loadOwnVariables(store);
  }

  /** Keras's config of the wrapped optimizer (snake_case), so `fromConfig` restores it. */
  override getConfig(): tf.serialization.ConfigDict {
    return this.optimizer.getConfig() as tf.serialization.ConfigDict;
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(RMSprop.fromConfig(config as Record<string, unknown>)) as T;
  }
}

tf.serialization.registerClass(TfjsRMSprop);

/** Wraps `optimizer` for tfjs: `model.compile({ optimizer: tfjsOptimizer(new RMSprop(...)), loss })`. */
export function tfjsOptimizer(optimizer: RMSprop): TfjsRMSprop {
  return new TfjsRMSprop(optimizer);
}

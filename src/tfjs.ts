/**
 * `rmsprop-pool/tfjs`: an RMSprop as a TensorFlow.js optimizer, for `model.compile({ optimizer })`
 * and `model.fit()` in @tensorflow/tfjs-layers (an optional peer dependency).
 *
 * tfjs owns its variables' memory, so each step copies the gradients into the pool's shared
 * memory and the updated values back (new tensors, so tfjs never aliases shared memory the next
 * step rewrites); values tfjs changed itself since the last step are copied in first. tfjs
 * calls `applyGradients` synchronously and reads the variables right after, so the step is
 * `applySync` (the pool still does the work once its threads are up).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types.js';
import { RMSprop } from './optimizer.js';
import { Variable } from './variable.js';

interface Mirror {
  readonly ours: Variable;
  readonly theirs: tf.Variable;
  /** The tfjs buffer our last write-back created: while it is still the variable's, the values agree. */
  written: object | null;
}

export class TfjsRMSprop extends tf.Optimizer {
  static className = 'RMSpropPool';
  /** The wrapped optimizer (close it when done: its threads are its own). */
  readonly optimizer: RMSprop;
  /** Our variable for each tfjs variable, in the order of the first step; set once. */
  #mirrors: Mirror[] = [];
  #ours: Variable[] = [];
  #index = new Map<string, number>();
  /** This step's gradients, by mirror (sized once; tfjs owns the arrays). */
  #grads: Array<Float32Array | null> = [];

  constructor(optimizer: RMSprop) {
    super();
    if (!(optimizer instanceof RMSprop)) throw new TypeError('tfjsOptimizer: expected an RMSprop');
    this.optimizer = optimizer;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
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
    // tfjs's values are the truth: bring in any that changed since our last write-back (model.setWeights, ...)
    for (const m of this.#mirrors) if (m.theirs.dataId !== m.written) m.ours.value.set(m.theirs.dataSync());
    this.optimizer.applySync(this.#grads, this.#ours);
    for (const m of this.#mirrors) {
      tf.tidy(() => m.theirs.assign(tf.tensor(m.ours.value.slice(), m.theirs.shape, 'float32')));
      m.written = m.theirs.dataId;
    }
    this.incrementIterations();
  }

  /** Builds the optimizer over copies of the tfjs variables named in the first step. */
  #mirror(names: readonly string[]): void {
    const registered = tf.engine().registeredVariables;
    const mirrors = names.map((name): Mirror => {
      const theirs = registered[name];
      if (theirs === undefined) throw new Error(`tfjsOptimizer: no tfjs variable is named '${name}'`);
      if (theirs.dtype !== 'float32')
        throw new TypeError(`tfjsOptimizer: variable '${name}' is ${theirs.dtype}, only float32 is supported`);
      return {
        theirs,
        ours: new Variable(theirs.dataSync(), { name, shape: theirs.shape }),
        written: theirs.dataId,
      };
    });
    this.optimizer.build(mirrors.map((m) => m.ours));
    this.#mirrors = mirrors;
    this.#ours = mirrors.map((m) => m.ours);
    this.#index = new Map(names.map((name, i) => [name, i]));
    this.#grads = mirrors.map(() => null);
  }

  /** tfjs's optimizer weights: the iteration counter, then Keras's state arrays by name. */
  // eslint-disable-next-line @typescript-eslint/require-await -- tfjs's API is async; async makes a throw a rejection
  override async getWeights(): Promise<NamedTensor[]> {
    const [iteration, ...rest] = this.optimizer.variables;
    return [
      { name: 'iter', tensor: tf.scalar(iteration!.value[0]!, 'int32') },
      ...rest.map((v) => ({ name: v.name, tensor: tf.tensor(v.value.slice(), [...v.shape], 'float32') })),
    ];
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- as getWeights
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
    return new cls(RMSprop.fromConfig(config));
  }
}

tf.serialization.registerClass(TfjsRMSprop);

/** Wraps `optimizer` for tfjs: `model.compile({ optimizer: tfjsOptimizer(new RMSprop(...)), loss })`. */
export function tfjsOptimizer(optimizer: RMSprop): TfjsRMSprop {
  return new TfjsRMSprop(optimizer);
}

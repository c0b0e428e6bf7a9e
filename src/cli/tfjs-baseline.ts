/** tfjs-core's own rmsprop, for timing against this library (the benchmark and `train`). */
import type * as TF from '@tensorflow/tfjs-core';

export interface TfjsRmsprop {
  /** One update of every variable, finished when it returns. */
  step(): void;
  dispose(): void;
}

/** `tf.train.rmsprop` over variables of `shapes`, on the current backend. */
export function tfjsRmsprop(tf: typeof TF, shapes: ReadonlyArray<readonly number[]>): TfjsRmsprop {
  const weights = shapes.map((shape) => tf.tidy(() => tf.variable(tf.fill([...shape], 0.1))));
  const grads = Object.fromEntries(weights.map((w) => [w.name, tf.fill(w.shape, 0.01)]));
  const optimizer = tf.train.rmsprop(0.001, 0.9, 0, 1e-7, false);
  return {
    step: () => {
      optimizer.applyGradients(grads);
      // reads 4 bytes: the update has run
      tf.tidy(() => void tf.slice(tf.reshape(weights[0]!, [-1]), [0], [1]).dataSync());
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...weights, ...Object.values(grads)]);
    },
  };
}

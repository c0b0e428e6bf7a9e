// @ts-nocheck -- plain JS run as is on replica threads; indexed typed-array math that strict checks would bury in casts
/**
 * A plain-JS replica for the trainer's tests: a linear model y = x W + b (variables 'w' of shape
 * [inputs, outputs] and 'b' of [outputs]) under mean squared error, gradients in float32 with
 * every operation rounded, written straight into the shard views. `options.fail`, an Int32Array
 * over shared memory, makes micro-batch fail[0] - 1 throw (0: never) from the test's thread.
 * `options.slowMs` makes every micro-batch take that long (a replica that overruns);
 * `options.startMs` makes creating the replica take that long (a model slow to build).
 * `options.metrics` adds the mean absolute error as a metric ('mae') after the loss;
 * `options.noEvaluate` leaves `evaluate` out; `options.failEvaluateOn` makes `evaluate` throw on a
 * chunk whose first input is that value.
 */
const R = Math.fround;

/**
 * @param {{ variables: readonly import('../../dist/src/index.js').ReplicaVariable[],
 *   options: { fail?: Int32Array, slowMs?: number, startMs?: number } | undefined }} context
 * @returns {import('../../dist/src/index.js').Replica}
 */
export function createReplica({ variables, options }) {
  if (options?.startMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, options.startMs);
  const [w, b] =
    /** @type {[import('../../dist/src/index.js').ReplicaVariable, import('../../dist/src/index.js').ReplicaVariable]} */ (
      variables
    );
  const [inputs, outputs] = /** @type {[number, number]} */ (w.shape);
  const prediction = new Float32Array(outputs);
  /** The rows' mean squared and mean absolute errors at the current values. */
  const errors = ({ rows, inputs: x, targets }) => {
    let squared = 0;
    let absolute = 0;
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outputs; o++) {
        let y = b.value[o];
        for (let i = 0; i < inputs; i++) y = R(y + R(x[r * inputs + i] * w.value[i * outputs + o]));
        const error = R(y - targets[r * outputs + o]);
        squared += error * error;
        absolute += Math.abs(error);
      }
    }
    return [squared / (rows * outputs), absolute / (rows * outputs)];
  };
  return {
    ...(options?.metrics && { metricNames: ['mae'] }),
    ...(!options?.noEvaluate && {
      evaluate(batch) {
        if (options?.failEvaluateOn !== undefined && batch.inputs[0] === options.failEvaluateOn)
          throw new Error(`rows from ${options.failEvaluateOn} refused on purpose`);
        return errors(batch).slice(0, options?.metrics ? 2 : 1);
      },
    }),
    gradients(batch, [gw, gb]) {
      if (options?.fail && options.fail[0] === batch.index + 1) {
        throw new Error(`micro-batch ${batch.index} refused on purpose`);
      }
      if (options?.slowMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, options.slowMs);
      gw.fill(0);
      gb.fill(0);
      let loss = 0;
      const scale = R(2 / (batch.rows * outputs));
      for (let r = 0; r < batch.rows; r++) {
        for (let o = 0; o < outputs; o++) {
          let y = b.value[o];
          for (let i = 0; i < inputs; i++) y = R(y + R(batch.inputs[r * inputs + i] * w.value[i * outputs + o]));
          prediction[o] = y;
        }
        for (let o = 0; o < outputs; o++) {
          const error = R(prediction[o] - batch.targets[r * outputs + o]);
          loss += error * error;
          const d = R(scale * error);
          gb[o] = R(gb[o] + d);
          for (let i = 0; i < inputs; i++)
            gw[i * outputs + o] = R(gw[i * outputs + o] + R(d * batch.inputs[r * inputs + i]));
        }
      }
      return options?.metrics ? errors(batch) : loss / (batch.rows * outputs);
    },
  };
}

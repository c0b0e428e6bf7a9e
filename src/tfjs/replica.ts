/**
 * The ready replica for a TensorFlow.js layers model (`tfjsReplica` in `rmsprop-pool/tfjs`):
 * each replica thread builds the model from the user's factory module, and per micro-batch
 * computes the gradients of its loss, as `trainOnBatch` computes it, with respect to the
 * trainable weights, writing them into the shard views. The model's weights are set from the
 * optimizer's shared values once per step (tfjs owns its tensors' memory: one copy per step).
 */
import type * as TF from '@tensorflow/tfjs-core';
import { seededRandom } from '../training/randomness.js';
import type { CreateReplica, ReplicaVariable, RowShape } from '../training/replica.js';
import {
  chooseLoss,
  chooseMetrics,
  totalLoss,
  type LayersApi,
  type LossModel,
  type MetricsModel,
  type TfjsLoss,
} from './losses.js';
import { useChainedOps } from './chained-ops.js';
import { fixedSeedLayers, withRandom, type SeededLayer } from './random-ops.js';
import type { CheckedTfjsReplicaOptions } from './replica-options.js';
import { readInto } from './wasm/backend.js';
import { chooseKernels } from './wasm/index.js';

type Tf = typeof TF;

/**
 * What the replica needs of a tfjs-layers model (a `LayersModel`): its trainable weights, a
 * forward pass, its input and output, and what its loss may come from. Stated structurally
 * (tensors as `object`), so a model typed against another copy of tfjs's declarations fits.
 */
export interface TrainableModel extends LossModel {
  readonly trainableWeights: ReadonlyArray<{
    readonly name: string;
    readonly shape: ReadonlyArray<number | null>;
    read(): object;
    write(value: never): unknown;
  }>;
  apply(inputs: never, kwargs?: { training?: boolean }): unknown;
  /** Its inputs (symbolic tensors): their shapes, the batch's size first as null, and dtypes. */
  readonly inputs: ReadonlyArray<{ readonly shape: ReadonlyArray<number | null>; readonly dtype?: string }>;
  /** Its outputs (symbolic tensors). */
  readonly outputs?: ReadonlyArray<{ readonly shape: ReadonlyArray<number | null> }>;
  /** Its layers, where it has them (a tfjs-layers model): checked for seeds of their own. */
  readonly layers?: readonly SeededLayer[];
}

/** Throws unless the model's trainable weights are the variables, in order and shape. */
export function checkSameWeights(model: TrainableModel, variables: readonly ReplicaVariable[]): void {
  const shapes = model.trainableWeights.map((w) => JSON.stringify(w.shape));
  const expected = variables.map((v) => JSON.stringify(v.shape));
  if (shapes.join() !== expected.join()) {
    throw new Error(
      `the factory's model has trainable weights of shapes ${shapes.join(', ')}; ` +
        `the trainer's variables have ${expected.join(', ')}: make both from the same architecture`,
    );
  }
}

/** A model's one input and one output, each without the batch axis. */
export interface ModelRow {
  readonly inputs: readonly number[];
  readonly output: readonly number[];
}

/** The model's input and output shapes without the batch axis; throws unless it has one of each, of known sizes. */
export function modelRow(model: TrainableModel): ModelRow {
  const outputs = model.outputs ?? [];
  if (model.inputs.length !== 1 || outputs.length !== 1) {
    throw new TypeError(
      `tfjs replica: the model has ${model.inputs.length} inputs and ${outputs.length} outputs; ` +
        'a tfjs replica trains models of one input and one output',
    );
  }
  const known = (end: { readonly shape: ReadonlyArray<number | null> }, what: string): number[] => {
    const dims = end.shape.slice(1);
    if (dims.some((d) => d === null)) {
      throw new TypeError(
        `tfjs replica: the model's ${what} shape [${end.shape.map(String).join(', ')}] has an unknown size ` +
          "besides the batch's: give its Input layer the whole shape",
      );
    }
    return dims as number[];
  };
  return { inputs: known(model.inputs[0]!, 'input'), output: known(outputs[0]!, 'output') };
}

/**
 * A batch row's shape: the model's input; for a loss by name its output, with a class index in
 * place of the last axis for a sparse loss; no target shape for a loss function of the user's
 * (it takes the targets as the batch holds them).
 */
export function rowShapeOf({ inputs, output }: ModelRow, loss: TfjsLoss | null): RowShape {
  if (loss === null) return { inputs };
  return { inputs, targets: loss === 'sparseCategoricalCrossentropy' ? [...output.slice(0, -1), 1] : output };
}

/** tfjs on this thread: gradients registered, the backend started, (on wasm) the training kernels chosen; no banner. */
export async function startTfjs({ backend, kernels }: CheckedTfjsReplicaOptions): Promise<{ tf: Tf; tfl: LayersApi }> {
  const tf: Tf = await import('@tensorflow/tfjs-core');
  const tfl = (await import('@tensorflow/tfjs-layers')) as unknown as LayersApi; // also registers the gradients
  useChainedOps(tf); // before the factory builds the model: an LSTM or GRU's initializer calls them
  await import(`@tensorflow/tfjs-backend-${backend}`);
  chooseKernels(tf, backend, kernels);
  if (!(await tf.setBackend(backend))) throw new Error(`the tfjs ${backend} backend did not start`);
  quietCpuBackend(tf);
  return { tf, tfl };
}

/**
 * The cpu backend prints "Hi, looks like you are running TensorFlow.js in Node.js" at its first
 * tensor, once per thread. The calling thread's output is the user's; a replica thread's banner
 * is noise they cannot silence, so the backend is told it has been used.
 */
function quietCpuBackend(tf: Tf): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu !== null && cpu.firstUse === true) cpu.firstUse = false;
}

const size = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** The model the options name, built on this thread: from the factory module, or rebuilt from its topology. */
export async function buildModel(
  tf: Tf,
  tfl: LayersApi,
  { factory, topology }: CheckedTfjsReplicaOptions,
): Promise<{ model: TrainableModel; exportedLoss: unknown }> {
  if (topology !== null) {
    const { models } = tfl as unknown as { models: { modelFromJSON(json: object): Promise<unknown> } };
    return {
      model: (await models.modelFromJSON({ modelTopology: topology })) as TrainableModel,
      exportedLoss: undefined,
    };
  }
  const made = (await import(factory!)) as { createModel?: () => unknown; loss?: unknown };
  if (typeof made.createModel !== 'function') {
    throw new TypeError(`tfjs replica: the factory module ${factory} does not export createModel()`);
  }
  quietCpuBackend(tf); // the factory may have brought the cpu backend
  return { model: (await made.createModel()) as TrainableModel, exportedLoss: made.loss };
}

export const createReplica: CreateReplica = async ({ variables, options, replica }) => {
  const checked = options as CheckedTfjsReplicaOptions;
  const { tf, tfl } = await startTfjs(checked);
  const { model, exportedLoss } = await buildModel(tf, tfl, checked);
  checkSameWeights(model, variables);
  if (replica === 0)
    for (const line of fixedSeedLayers(model.layers ?? [])) process.emitWarning(line, 'RandomnessWarning');
  const loss = chooseLoss(tf, tfl, model, checked.loss, exportedLoss);
  const metrics = chooseMetrics(model as unknown as MetricsModel, loss.fn, checked.metrics);
  const row = modelRow(model);
  const rowShape = rowShapeOf(row, loss.name);
  const outputShape = row.output;
  const targetShape = (rows: number, values: number): number[] =>
    rowShape.targets
      ? [rows, ...rowShape.targets]
      : values === rows * size(outputShape)
        ? [rows, ...outputShape]
        : [rows, values / rows];
  const inputDtype = model.inputs[0]!.dtype === 'int32' ? 'int32' : 'float32';
  const weights = model.trainableWeights.map((w) => w.read() as TF.Variable);
  const write = (k: number, value: TF.Tensor) => model.trainableWeights[k]!.write(value as never);
  const forward = (x: TF.Tensor, training: boolean) => model.apply(x as never, { training }) as TF.Tensor;
  const tensors = (rows: number, inputs: Float32Array, targets: Float32Array) => ({
    x: tf.tensor(inputs, [rows, ...rowShape.inputs], inputDtype),
    y: tf.tensor(targets, targetShape(rows, targets.length), 'float32'),
  });
  let weightsStep = -1;
  /** The model's weights from the shared values, once per step the values changed. */
  const refresh = (step: number) => {
    if (weightsStep === step) return;
    variables.forEach((v, k) => tf.tidy(() => void write(k, tf.tensor(v.value, [...v.shape], 'float32'))));
    weightsStep = step;
  };
  /** The loss, then each metric's mean over the rows, as numbers (the scalars disposed). */
  const valuesOf = (scalars: readonly TF.Tensor[]) => {
    const values = scalars.map((t) => t.dataSync()[0]!);
    tf.dispose([...scalars]);
    return values;
  };
  return {
    rowShape,
    metricNames: metrics.names,
    gradients(batch, grads) {
      refresh(batch.step);
      // every random op of the micro-batch (Dropout's masks, noise) draws from its own stream
      return withRandom(seededRandom(batch.seed), () =>
        tf.tidy(() => {
          const { x, y } = tensors(batch.rows, batch.inputs, batch.targets);
          const rowWeights = batch.sampleWeights && tf.tensor1d(batch.sampleWeights, 'float32');
          let metricValues: TF.Tensor[] = [];
          const { value, grads: byName } = tf.variableGrads(() => {
            const output = forward(x, true);
            // the metrics of the same forward pass, as trainOnBatch computes them (kept past the tape's scope)
            metricValues = metrics.fns.map((metric) => tf.keep(tf.mean(metric(y, output))));
            return totalLoss(tf, model, loss.fn, y, output, rowWeights);
          }, weights);
          weights.forEach((w, k) => readInto(tf, byName[w.name]!, grads[k] as Float32Array)); // float32: half refused at build
          return valuesOf([tf.keep(value), ...metricValues]);
        }),
      );
    },
    evaluate({ step, rows, inputs, targets }) {
      refresh(step);
      // as tfjs's test function: inference mode, the mean loss without regularization, then the metrics
      const scalars = tf.tidy(() => {
        const { x, y } = tensors(rows, inputs, targets);
        const output = forward(x, false);
        return [tf.mean(loss.fn(y, output)), ...metrics.fns.map((metric) => tf.mean(metric(y, output)))];
      });
      return valuesOf(scalars);
    },
  };
};

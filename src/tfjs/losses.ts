/**
 * The losses a tfjs replica computes, each as tfjs-layers' `trainOnBatch` would: the loss
 * function's result averaged (`tf.mean`), plus the model's regularization losses. A name
 * tfjs-layers' `compile` takes is its own loss function; tfjs-core's `tf.losses` that
 * tfjs-layers does not name are reduced to their mean as tfjs-core reduces them.
 */
import type * as TF from '@tensorflow/tfjs-core';

type Tf = typeof TF;

/**
 * Every loss a tfjs replica takes by name: the names tfjs-layers' `compile({ loss })` takes
 * (Keras's, in camelCase), then tfjs-core's `tf.losses` that tfjs-layers does not name.
 */
export const TFJS_LOSSES = [
  'meanSquaredError',
  'meanAbsoluteError',
  'meanAbsolutePercentageError',
  'meanSquaredLogarithmicError',
  'squaredHinge',
  'hinge',
  'categoricalHinge',
  'logcosh',
  'categoricalCrossentropy',
  'sparseCategoricalCrossentropy',
  'binaryCrossentropy',
  'kullbackLeiblerDivergence',
  'poisson',
  'cosineProximity',
  'absoluteDifference',
  'huberLoss',
  'logLoss',
  'sigmoidCrossEntropy',
  'softmaxCrossEntropy',
] as const;

/** A loss a tfjs replica takes by name (`TFJS_LOSSES`). */
export type TfjsLoss = (typeof TFJS_LOSSES)[number];

/** The names that are tfjs-core's `tf.losses`, not tfjs-layers'. */
type CoreLoss = 'absoluteDifference' | 'huberLoss' | 'logLoss' | 'sigmoidCrossEntropy' | 'softmaxCrossEntropy';
const CORE_LOSSES: ReadonlySet<string> = new Set<CoreLoss>([
  'absoluteDifference',
  'huberLoss',
  'logLoss',
  'sigmoidCrossEntropy',
  'softmaxCrossEntropy',
]);

/** Whether `name` is a loss a tfjs replica takes by name. */
export function isTfjsLoss(name: unknown): name is TfjsLoss {
  return (TFJS_LOSSES as readonly unknown[]).includes(name);
}

/** A tfjs-layers loss: targets and predictions in, the loss per example (or already reduced) out. */
export type LossFunction = (yTrue: TF.Tensor, yPred: TF.Tensor) => TF.Tensor;

/** What the loss needs of a tfjs-layers model beyond its forward pass. */
export interface LossModel {
  /** What the model was compiled with (`compile({ loss })`): a name or a function; absent when it was not. */
  readonly loss?: unknown;
  /** The model's regularization losses (`Container.calculateLosses`). */
  calculateLosses?(): TF.Scalar[];
}

/** The part of tfjs-layers that turns a loss name into its function: a model compiled with it. */
export interface LayersApi {
  input(args: { shape: number[] }): object;
  model(args: { inputs: object; outputs: object }): {
    compile(args: { optimizer: string; loss: string }): void;
    readonly lossFunctions: readonly LossFunction[];
  };
}

/** tfjs-layers' own function for a name it takes: compiled into a one-layer probe, the user's model untouched. */
function layersLoss(tfl: LayersApi, name: string): LossFunction {
  const input = tfl.input({ shape: [1] });
  const probe = tfl.model({ inputs: input, outputs: input });
  probe.compile({ optimizer: 'sgd', loss: name });
  return probe.lossFunctions[0]!;
}

/** A micro-batch's loss, and its name when it has one (a function of the user's has none). */
export interface ChosenLoss {
  readonly name: TfjsLoss | null;
  readonly fn: LossFunction;
}

/**
 * The loss of a micro-batch: the name given in the options, else the factory module's `loss`
 * export, else the loss the factory's model was compiled with.
 */
export function chooseLoss(
  tf: Tf,
  tfl: LayersApi,
  model: LossModel,
  name: TfjsLoss | null,
  exported: unknown,
): ChosenLoss {
  if (name !== null && CORE_LOSSES.has(name)) {
    const core = tf.losses[name as CoreLoss] as (y: TF.Tensor, p: TF.Tensor) => TF.Tensor;
    return { name, fn: (yTrue, yPred) => core(yTrue, yPred) };
  }
  if (name !== null) return { name, fn: layersLoss(tfl, name) };
  if (exported !== undefined) {
    if (typeof exported !== 'function') {
      throw new TypeError(
        "tfjs replica: the factory module's `loss` export must be a function (yTrue, yPred) => Tensor",
      );
    }
    return { name: null, fn: exported as LossFunction };
  }
  const compiled = Array.isArray(model.loss) && model.loss.length === 1 ? (model.loss[0] as unknown) : model.loss;
  if (typeof compiled === 'function') return { name: null, fn: compiled as LossFunction };
  if (typeof compiled === 'string' && isTfjsLoss(compiled)) return chooseLoss(tf, tfl, model, compiled, undefined);
  throw new TypeError(
    compiled === undefined
      ? "tfjs replica: no loss: name one in `replicaOptions.loss`, compile the factory's model with one, " +
          'or export a function `loss(yTrue, yPred)` from the factory module'
      : `tfjs replica: the model was compiled with loss ${JSON.stringify(compiled)}, which a replica cannot compute: ` +
          'name one in `replicaOptions.loss` or export a function `loss(yTrue, yPred)` from the factory module',
  );
}

/**
 * The micro-batch's total loss as `trainOnBatch` computes it: the mean of the loss (each row's
 * times its weight, when the rows have weights), plus the regularization losses.
 */
export function totalLoss(
  tf: Tf,
  model: LossModel,
  loss: LossFunction,
  yTrue: TF.Tensor,
  yPred: TF.Tensor,
  rowWeights: TF.Tensor | null = null,
): TF.Scalar {
  const perRow = loss(yTrue, yPred);
  if (rowWeights !== null && (perRow.rank !== 1 || perRow.shape[0] !== rowWeights.shape[0])) {
    throw new TypeError(
      `tfjs replica: sample weights need a loss of one value per row; this loss gives shape [${perRow.shape.join(', ')}]`,
    );
  }
  let total = tf.mean(rowWeights === null ? perRow : tf.mul(perRow, rowWeights));
  for (const regularization of model.calculateLosses?.() ?? []) total = tf.add(total, regularization);
  return total as TF.Scalar;
}

/** A metric as tfjs-layers computes it: targets and predictions in, one value per row out. */
export type MetricFunction = (yTrue: TF.Tensor, yPred: TF.Tensor) => TF.Tensor;

/** What the metrics need of a tfjs-layers model: its compiled metrics, and `compile` for named ones. */
export interface MetricsModel {
  /** After `compile`: 'loss', then each metric's name. */
  readonly metricsNames?: readonly string[];
  /** After `compile`: each metric's function and the output it reads. */
  readonly metricsTensors?: ReadonlyArray<readonly [MetricFunction, number]>;
  /** What the model was compiled with (`compile({ metrics })`). */
  readonly metrics?: unknown;
  compile(args: { optimizer: string; loss: LossFunction; metrics: readonly string[] }): void;
}

/** The metrics a replica computes with the loss: their names (as `model.metricsNames` has them, 'loss' left out) and functions. */
export interface ChosenMetrics {
  readonly names: readonly string[];
  readonly fns: readonly MetricFunction[];
}

/**
 * The metrics `names` asks for, resolved by tfjs-layers' own `compile` (so 'accuracy' is the
 * binary, categorical or sparse one its loss and output call for); without names, the metrics
 * the model was compiled with. The model is compiled with the loss only when it was not already
 * compiled with these metrics.
 */
export function chooseMetrics(model: MetricsModel, loss: LossFunction, names: readonly string[] | null): ChosenMetrics {
  if (names !== null && JSON.stringify([model.metrics ?? []].flat()) !== JSON.stringify(names)) {
    model.compile({ optimizer: 'sgd', loss, metrics: names });
  }
  const compiled = model.metricsTensors ?? [];
  return { names: (model.metricsNames ?? ['loss']).slice(1), fns: compiled.map(([fn]) => fn) };
}
